/**
 * `reflow retry RUN_ID [--from STEP]`: puts a failed or cancelled run back to pending (as
 * `engine.retry`). Its completed steps are kept and not re-run; a worker resumes it at the step
 * that failed, or, with --from, re-runs STEP (one of its recorded steps) and every step after it.
 *
 * --json prints: { id: string, workflow: string, status: "pending", previousStatus: "failed"|"cancelled",
 *                  keptSteps: string[] }   (names of the completed steps that will not run again)
 */

import { STORE } from '../storage/store.ts'
import { CliError } from './args.ts'
import type { Command } from './command.ts'
import { DB_FLAG, JSON_FLAG, transitionRun, type CliStorage } from './database.ts'
import { printable } from './output.ts'

export const retryCommand: Command = {
  name: 'retry',
  summary: 'Put a failed or cancelled run back to pending.',
  usage: 'reflow retry RUN_ID [--from STEP] [--db PATH] [--json]',
  details: `The run resumes at the step that failed the next time a worker claims it; steps already
completed are kept and not run again. With --from STEP, STEP (a step the run recorded) and every
step after it run again; the steps before it are kept. Other runs cannot be retried (exit 1).`,
  flags: { from: { type: 'string', value: 'STEP', description: 're-run this recorded step and the ones after it' }, ...DB_FLAG, ...JSON_FLAG },
  positionals: { min: 1, max: 1, names: 'RUN_ID' },

  async run(args, out) {
    const fromStep = args.string('from')
    const retry = async (storage: CliStorage, id: string) => {
      if (fromStep === undefined) return storage.retryRun(id)
      const recorded = (await storage.getStepResults(id)).map((step) => step.name)
      if (!recorded.includes(fromStep)) {
        const list = recorded.length === 0 ? 'none' : recorded.map((name) => `"${printable(name)}"`).join(', ')
        throw new CliError(`run ${printable(id)} recorded no step "${printable(fromStep)}" (its recorded steps: ${list})`)
      }
      return storage[STORE]().retry(id, Date.now(), { fromStep })
    }
    await transitionRun(args, 'retried', 'failed or cancelled', retry, async (storage, before) => {
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
