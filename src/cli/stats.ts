/**
 * `reflow stats`: counts by workflow and status, the head of the queue, recent throughput.
 *
 * --json prints:
 *   { total: number,
 *     byStatus: { pending, running, waiting, completed, failed, cancelled: number },
 *     workflows: [{ workflow: string, total: number, byStatus: { pending, running, waiting, completed, failed, cancelled: number } }],
 *     oldestPending: { id: string, workflow: string, createdAt: number, ageMs: number } | null,
 *     completedLastMinute: number, completedLastHour: number }
 * Every status key is always present; workflows are sorted by name; times are epoch milliseconds.
 */

import { RunStatuses, type RunStatus } from '../core/types.ts'
import type { Command } from './command.ts'
import { DB_FLAG, JSON_FLAG, databasePath, openReadonly } from './database.ts'
import { ago, printable, table } from './output.ts'

const STATUSES = Object.values(RunStatuses)

type Counts = Record<RunStatus, number>

export const statsCommand: Command = {
  name: 'stats',
  summary: 'Count runs by workflow and status; show the queue and recent throughput.',
  usage: 'reflow stats [--db PATH] [--json]',
  details: `Shows runs per workflow and status, the age of the oldest pending run (how far behind the
workers are), and how many runs completed in the last minute and hour. Opens the database read-only.`,
  flags: { ...DB_FLAG, ...JSON_FLAG },
  positionals: { min: 0, max: 0, names: '' },

  async run(args, out) {
    const { storage, inspector } = await openReadonly(databasePath(args))
    try {
      const now = Date.now()
      const stats = await inspector.stats({ now, windowsMs: [60_000, 3_600_000] })
      const byWorkflow = new Map<string, Counts>()
      const byStatus = zero()
      for (const { workflow, status, runs } of stats.counts) {
        if (!byWorkflow.has(workflow)) byWorkflow.set(workflow, zero())
        byWorkflow.get(workflow)![status] = runs
        byStatus[status] += runs
      }
      const workflows = [...byWorkflow].map(([workflow, counts]) => ({ workflow, total: sum(counts), byStatus: counts }))
      const oldest = stats.oldestPending
      const oldestPending = oldest ? { ...oldest, ageMs: now - oldest.createdAt } : null
      const completed = (i: number) => (stats.windows[i]?.byWorkflow ?? []).reduce((n, w) => n + w.completed, 0)
      const [completedLastMinute, completedLastHour] = [completed(0), completed(1)]
      if (args.boolean('json')) {
        out.json({ total: sum(byStatus), byStatus, workflows, oldestPending, completedLastMinute, completedLastHour })
        return 0
      }
      if (workflows.length === 0) {
        out.line('No runs.')
        return 0
      }
      const header = ['WORKFLOW', ...STATUSES.map((s) => s.toUpperCase()), 'TOTAL']
      const row = (name: string, counts: Counts) => [name, ...STATUSES.map((s) => String(counts[s])), String(sum(counts))]
      const rows = workflows.map((w) => row(printable(w.workflow), w.byStatus))
      if (workflows.length > 1) rows.push(row(out.dim('(all)'), byStatus))
      out.line(table(header, rows, out, header.map((_, i) => i).slice(1)))
      out.line()
      out.line(`Oldest pending: ${oldestPending ? `${ago(oldestPending.createdAt, now)} (run ${printable(oldestPending.id)}, ${printable(oldestPending.workflow)})` : 'none'}`)
      out.line(`Completed:      ${completedLastMinute} in the last minute, ${completedLastHour} in the last hour`)
      return 0
    } finally {
      await storage.close()
    }
  },
}

function zero(): Counts {
  return { pending: 0, running: 0, waiting: 0, completed: 0, failed: 0, cancelled: 0 }
}

function sum(counts: Counts): number {
  return STATUSES.reduce((total, s) => total + counts[s], 0)
}
