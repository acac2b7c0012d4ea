/**
 * `reflow retry RUN_ID`: puts a failed or cancelled run back to pending (storage.retryRun, as
 * `engine.retry`). Its completed steps are kept and not re-run; a worker resumes it at the step
 * that failed.
 *
 * --json prints: { id: string, workflow: string, status: "pending", previousStatus: "failed"|"cancelled",
 *                  keptSteps: string[] }   (names of the completed steps that will not run again)
 */

import type { Command } from './command.ts'
import { DB_FLAG, JSON_FLAG, transitionRun } from './database.ts'
import { printable } from './output.ts'

export const retryCommand: Command = {
  name: 'retry',
  summary: 'Put a failed or cancelled run back to pending.',
  usage: 'reflow retry RUN_ID [--db PATH] [--json]',
  details: `The run resumes at the step that failed the next time a worker claims it; steps already
completed are kept and not run again. Other runs cannot be retried (exit 1).`,
  flags: { ...DB_FLAG, ...JSON_FLAG },
  positionals: { min: 1, max: 1, names: 'RUN_ID' },

  async run(args, out) {
    await transitionRun(args, 'retried', 'failed or cancelled', (storage, id) => storage.retryRun(id), async (storage, before) => {
      const keptSteps = (await storage.getStepResults(before.id)).map((step) => step.name)
      if (args.boolean('json')) {
        out.json({ id: before.id, workflow: before.workflow, status: 'pending', previousStatus: before.status, keptSteps })
      } else {
        const kept = keptSteps.length === 0 ? 'no steps recorded' : `keeps ${keptSteps.map(printable).join(', ')}`
        out.line(`Run ${printable(before.id)} (${printable(before.workflow)}) is pending again (${kept}); a worker will resume it.`)
      }
    })
    return 0
  },
}
