/**
 * `reflow cancel RUN_ID`: what `engine.cancel` does, from outside the worker. A pending run never
 * starts; a running run's lease is released, so its worker learns at its next heartbeat or write,
 * aborts the step's signal and records nothing more.
 *
 * --json prints: { id: string, workflow: string, status: "cancelled", previousStatus: "pending"|"running" }
 */

import { CliError } from './args.ts'
import type { Command } from './command.ts'
import { DB_FLAG, JSON_FLAG, databasePath, openWritable } from './database.ts'

export const cancelCommand: Command = {
  name: 'cancel',
  summary: 'Cancel a pending or running run.',
  usage: 'reflow cancel RUN_ID [--db PATH] [--json]',
  details: `A pending run never starts. A running run loses its lease at once: its worker notices at its
next heartbeat, aborts the step's signal and records nothing more. Finished runs cannot be
cancelled (exit 1).`,
  flags: { ...DB_FLAG, ...JSON_FLAG },
  positionals: { min: 1, max: 1, names: 'RUN_ID' },

  async run(args, out) {
    const runId = args.positionals[0]!
    const storage = await openWritable(databasePath(args), { create: false })
    try {
      const before = await storage.getRun(runId)
      if (!before) throw new CliError(`no run ${runId} in ${storage.path}`)
      if (!(await storage.updateRunStatus(runId, 'cancelled'))) {
        const now = await storage.getRun(runId)
        throw new CliError(`run ${runId} is ${now?.status ?? before.status}; only pending or running runs can be cancelled`)
      }
      if (args.boolean('json')) {
        out.json({ id: runId, workflow: before.workflow, status: 'cancelled', previousStatus: before.status })
      } else {
        out.line(`Cancelled run ${runId} (${before.workflow}, was ${before.status}).`)
      }
      return 0
    } finally {
      storage.close()
    }
  },
}
