/**
 * `reflow cancel RUN_ID`: what `engine.cancel` does, from outside the worker. A pending or waiting
 * run never starts (again); a running run's lease is released, so its worker (on the same machine:
 * through the file's change notifications, within milliseconds; else at its next heartbeat or
 * write) aborts the step's signal with a RunCancelledError and records nothing more.
 *
 * --json prints: { id: string, workflow: string, status: "cancelled", previousStatus: "pending"|"running"|"waiting" }
 */

import { STORE } from '../storage/store.ts'
import type { Command } from './command.ts'
import { DB_FLAG, JSON_FLAG, transitionRun } from './database.ts'
import { printable } from './output.ts'

export const cancelCommand: Command = {
  name: 'cancel',
  summary: 'Cancel a pending, waiting or running run.',
  usage: 'reflow cancel RUN_ID [--db PATH] [--json]',
  details: `A pending or waiting run never resumes. A running run loses its lease at once: its worker notices within
milliseconds (at its next heartbeat at the latest), aborts the step's signal and records nothing more. Finished runs cannot be
cancelled (exit 1).`,
  flags: { ...DB_FLAG, ...JSON_FLAG },
  positionals: { min: 1, max: 1, names: 'RUN_ID' },

  async run(args, out) {
    await transitionRun(args, 'cancelled', 'pending, waiting or running', (storage, id) => storage[STORE]().cancel(id, Date.now()), (_, before) => {
      if (args.boolean('json')) {
        out.json({ id: before.id, workflow: before.workflow, status: 'cancelled', previousStatus: before.status })
      } else {
        out.line(`Cancelled run ${printable(before.id)} (${printable(before.workflow)}, was ${printable(before.status)}).`)
      }
    })
    return 0
  },
}
