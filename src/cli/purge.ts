/**
 * `reflow purge --older-than DURATION`: deletes finished runs and their steps in transactions of
 * 1,000 runs, the batches engine retention runs (engine/retention.ts), so writers on the file get
 * the lock between them. Pending, running and waiting runs are never touched (the guard is in the
 * SQL as well as here). Freed pages are reused by later writes; `reflow vacuum` shrinks the file.
 *
 * --json prints:
 *   { dryRun: boolean, finishedBefore: number, statuses: ("completed"|"failed"|"cancelled")[],
 *     runs: number, steps: number,
 *     removed: [{ workflow: string, status: string, runs: number, steps: number }] }
 * With --dry-run, `runs`, `steps` and `removed` describe what would be removed. finishedBefore is
 * epoch milliseconds: runs that finished strictly before it are selected.
 */

import type { RunStatus } from '../core/types.ts'
import { createInspector, type PurgeResult } from '../inspect/inspector.ts'
import { STORE } from '../storage/store.ts'
import { parseStatusList, type ParsedArgs } from './args.ts'
import type { Command } from './command.ts'
import { DB_FLAG, JSON_FLAG, databasePath, openReadonly, openWritable } from './database.ts'
import { printable, table, type Output } from './output.ts'

const FINISHED: readonly RunStatus[] = ['completed', 'failed', 'cancelled']
const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

export const purgeCommand: Command = {
  name: 'purge',
  summary: 'Delete finished runs (and their steps) older than a given age.',
  usage: 'reflow purge --older-than DURATION [--status LIST] [--dry-run] [--db PATH] [--json]',
  details: `DURATION is a number and a unit: 45s, 30m, 12h, 7d or 2w; a run is removed when it finished longer
ago than that. LIST is any of completed,failed,cancelled (default: all three). Pending and running
runs are never removed. --dry-run reports what would go and opens the database read-only.`,
  flags: {
    'older-than': { type: 'string', value: 'DURATION', description: 'only runs that finished longer ago than this' },
    status: { type: 'string', value: 'LIST', description: 'only these statuses (default completed,failed,cancelled)' },
    'dry-run': { type: 'boolean', description: 'report what would be removed, remove nothing' },
    ...DB_FLAG,
    ...JSON_FLAG,
  },
  positionals: { min: 0, max: 0, names: '' },

  async run(args, out) {
    const olderThan = args.string('older-than')
    if (olderThan === undefined) throw args.usageError('--older-than is required')
    const age = parseDuration(args, olderThan)
    const raw = args.string('status')
    if (raw !== undefined && /\b(pending|running|waiting)\b/.test(raw)) throw args.usageError('purge never removes pending, running or waiting runs')
    const statuses = parseStatusList(args, 'status', FINISHED) ?? [...FINISHED]
    const dryRun = args.boolean('dry-run')
    const finishedBefore = Date.now() - age
    const path = databasePath(args)
    const storage = dryRun ? (await openReadonly(path)).storage : await openWritable(path, { create: false })
    try {
      const result = await createInspector(storage[STORE]()).purge({ finishedBefore, statuses, dryRun })
      if (args.boolean('json')) {
        out.json({ dryRun, finishedBefore, statuses, runs: result.runs, steps: result.steps, removed: result.groups })
      } else {
        print(result, { dryRun, finishedBefore, statuses, olderThan }, out)
      }
      return 0
    } finally {
      await storage.close()
    }
  },
}

function parseDuration(args: ParsedArgs, text: string): number {
  const match = /^(\d+)([smhdw])$/.exec(text.trim())
  const unit = match ? UNITS[match[2]!] : undefined
  if (!match || unit === undefined) throw args.usageError(`--older-than: "${text}" is not a duration like 45s, 30m, 12h, 7d or 2w`)
  return Number(match[1]) * unit
}

interface Request {
  dryRun: boolean
  finishedBefore: number
  statuses: readonly RunStatus[]
  olderThan: string
}

function print(result: PurgeResult, request: Request, out: Output): void {
  const which = request.statuses.join(', ')
  const cutoff = `${new Date(request.finishedBefore).toISOString()} (${request.olderThan} ago)`
  if (result.runs === 0) {
    out.line(`Nothing to purge: no ${which} runs finished before ${cutoff}.`)
    return
  }
  const verb = request.dryRun ? 'Would remove' : 'Removed'
  out.line(`${verb} ${plural(result.runs, 'run')} and ${plural(result.steps, 'step')} (${which}, finished before ${cutoff}):`)
  const rows = result.groups.map((g) => [printable(g.workflow), out.status(g.status), String(g.runs), String(g.steps)])
  out.line(indent(table(['WORKFLOW', 'STATUS', 'RUNS', 'STEPS'], rows, out, [2, 3])))
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

function indent(text: string): string {
  return text.replace(/^/gm, '  ')
}
