/**
 * `reflow runs`: lists runs newest first.
 *
 * --json prints an array, newest first, of:
 *   { id: string, workflow: string, status: "pending"|"running"|"waiting"|"completed"|"failed"|"cancelled",
 *     step: { name: string, status: "completed"|"failed", attempts: number } | null,
 *     error: string|null (the failed step's error),
 *     stepsRecorded: number,
 *     createdAt: number, updatedAt: number, startedAt: number|null, finishedAt: number|null,
 *     durationMs: number|null }
 * `step` is the failed step if there is one, else the last recorded step. Times are epoch
 * milliseconds; durationMs is finishedAt − startedAt, null until the run has finished.
 */

import { RunStatuses } from '../core/types.ts'
import type { RunSummary } from '../inspect/inspector.ts'
import { parseStatusList } from './args.ts'
import type { Command } from './command.ts'
import { DB_FLAG, JSON_FLAG, databasePath, openReadonly } from './database.ts'
import { ago, duration, printable, table, type Output } from './output.ts'

const ERROR_CHARS = 60

export const runsCommand: Command = {
  name: 'runs',
  summary: 'List runs, newest first.',
  usage: 'reflow runs [--status S[,S…]] [--workflow W] [--limit N] [--db PATH] [--json]',
  details: `Columns: id, workflow, status, step (the failed step, else the last recorded one), its attempts,
age (since the run was created), duration (from its first claim to its end, or until now
while it runs) and the failed step's error, cut to ${ERROR_CHARS} characters.
Opens the database read-only.`,
  flags: {
    status: { type: 'string', value: 'S', description: 'only runs in these statuses (comma-separated)' },
    workflow: { type: 'string', value: 'W', description: 'only runs of this workflow' },
    limit: { type: 'string', value: 'N', description: 'at most N runs (default 50)' },
    ...DB_FLAG,
    ...JSON_FLAG,
  },
  positionals: { min: 0, max: 0, names: '' },

  async run(args, out) {
    const statuses = parseStatusList(args, 'status', Object.values(RunStatuses))
    const limit = args.integer('limit', 50)
    const { storage, inspector } = await openReadonly(databasePath(args))
    try {
      const workflow = args.string('workflow')
      const { runs } = await inspector.listRuns({ limit, ...(statuses && { statuses }), ...(workflow !== undefined && { workflow }) })
      const now = Date.now()
      if (args.boolean('json')) out.json(runs.map(toJson))
      else print(runs, now, out)
      return 0
    } finally {
      await storage.close()
    }
  },
}

function toJson(run: RunSummary) {
  const durationMs = run.startedAt !== null && run.finishedAt !== null ? run.finishedAt - run.startedAt : null
  return { ...run, durationMs }
}

function print(runs: RunSummary[], now: number, out: Output): void {
  if (runs.length === 0) {
    out.line('No runs.')
    return
  }
  const rows = runs.map((run) => [
    printable(run.id),
    printable(run.workflow),
    out.status(run.status),
    run.step ? printable(run.step.name) : '-',
    run.step ? String(run.step.attempts) : '-',
    ago(run.createdAt, now),
    run.startedAt === null || run.status === 'pending' ? '-' : duration((run.finishedAt ?? now) - run.startedAt),
    run.error === null ? '' : printable(firstLine(run.error, ERROR_CHARS)),
  ])
  out.line(table(['ID', 'WORKFLOW', 'STATUS', 'STEP', 'ATTEMPTS', 'AGE', 'DURATION', 'ERROR'], rows, out, [4]))
}

function firstLine(text: string, max: number): string {
  const line = text.split('\n', 1)[0]!
  return line.length > max ? `${line.slice(0, max - 1)}…` : line
}
