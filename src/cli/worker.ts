/**
 * `reflow worker FILE.ts`: loads the user's module, registers every workflow it exports, and runs an
 * engine on the database until SIGINT or SIGTERM. Then it stops gracefully: no new step starts, the
 * steps in flight finish and are recorded, their runs go back to pending for the next worker, and
 * the process exits 0. A second signal exits at once (130); the runs it held are reclaimed by the
 * next worker once their lease expires.
 *
 * Output: one line per event on stdout (worker started, run completed, run failed, stopping,
 * stopped), each prefixed with an ISO timestamp; background errors go to stderr.
 */

import { createEngine } from '../engine/engine.ts'
import type { EngineHooks } from '../engine/hooks.ts'
import { oneLine, printable, type Output } from './output.ts'
import type { Command } from './command.ts'
import { DB_FLAG, databasePath, openWritable, refuseNonRegularFile, databaseName } from './database.ts'
import { IMPORT_TIMEOUT_FLAG, loadWorkflows } from './workflow-module.ts'

export const workerCommand: Command = {
  name: 'worker',
  summary: 'Run the workflows a module exports until SIGINT/SIGTERM.',
  usage: 'reflow worker FILE.ts [--concurrency N] [--poll MS] [--lease MS] [--import-timeout MS] [--db PATH]',
  details: `Every exported createWorkflow() value (or array of them) in FILE.ts is registered. Inside FILE.ts,
'reflow-ts' and its subpaths resolve to the library built into reflow; other imports resolve from
FILE.ts's directory as usual. Creates the database if it does not exist.
On SIGINT or SIGTERM the steps in flight finish and are recorded, then the worker exits 0; a second
signal exits at once. Start several workers on one database to share the work.`,
  flags: {
    concurrency: { type: 'string', value: 'N', description: 'runs executed in parallel (default 1)' },
    poll: { type: 'string', value: 'MS', description: 'how often to look for new runs when idle (default 1000)' },
    lease: { type: 'string', value: 'MS', description: 'how long a crashed worker holds its runs (default 30000)' },
    ...IMPORT_TIMEOUT_FLAG,
    ...DB_FLAG,
  },
  positionals: { min: 1, max: 1, names: 'FILE.ts' },

  async run(args, out) {
    const file = args.positionals[0]!
    const concurrency = args.integer('concurrency', 1)
    const pollMs = args.integer('poll', 1000)
    const leaseMs = args.integer('lease', 30_000, 3)
    const dbPath = databasePath(args)
    refuseNonRegularFile(dbPath)
    const workflows = await loadWorkflows(file, args)
    const storage = await openWritable(dbPath, { create: true })
    const log = (text: string) => out.line(`${new Date().toISOString()} ${text}`)
    const engine = createEngine({ storage, workflows, concurrency, runLeaseDurationMs: leaseMs, hooks: hooks(log, out) })
    const stopRequested = signalled(out)
    try {
      await engine.start(pollMs)
      const names = workflows.map((w) => printable(w.name)).join(', ')
      log(`worker started (pid ${process.pid}): ${workflows.length} workflow${workflows.length === 1 ? '' : 's'} (${names}) on ${printable(databaseName(storage))}, concurrency ${concurrency}, poll ${pollMs}ms, lease ${leaseMs}ms`)
      const signal = await stopRequested
      log(`${signal}: stopping, waiting for steps in flight to finish (signal again to exit now)`)
      await engine.stop()
      log('worker stopped')
      return 0
    } finally {
      await storage.close()
    }
  },
}

function hooks(log: (text: string) => void, out: Output): EngineHooks {
  return {
    onRunComplete: ({ runId, workflow }) => log(`run ${printable(runId)} completed (${printable(workflow)})`),
    onRunFailed: ({ runId, workflow, stepName, error }) =>
      log(`run ${printable(runId)} failed (${printable(workflow)}) at step "${printable(stepName)}": ${oneLine(error.message)}`),
    onError: (error) => out.note(`${new Date().toISOString()} error: ${oneLine(error.message)}`),
  }
}

/** Resolves with the first SIGINT or SIGTERM; a second one exits the process at once. */
function signalled(out: Output): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) {
        out.note(`${signal} again: exiting without waiting`)
        process.exit(130)
      }
      received = true
      resolve(signal)
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}
