/**
 * reflow-ts/test: run workflows in your own test suite, in memory, one call per run.
 *
 * @example
 * import { testEngine } from 'reflow-ts/test'
 * const te = testEngine({ workflows: [orderWorkflow] })
 * const result = await te.run('order-fulfillment', { orderId: 'ORD_1', amount: 100 })
 * expect(result.steps.charge.output.chargeId).toBeTruthy()
 */

import { monotonicNow, SystemClock, type Clock } from './core/clock.ts'
import { TERMINAL_STATUSES } from './core/types.ts'
import { UnknownRunError } from './core/errors.ts'
import { buildEngine, type Engine, type EngineConfig } from './engine/engine.ts'
import { MemoryStorage } from './storage/memory.ts'
import type { AnyWorkflow, WorkflowEnqueueInput, WorkflowSteps } from './workflow/workflow.ts'

export { MemoryStorage } from './storage/memory.ts'
export { ManualClock, SystemClock, type Clock } from './core/clock.ts'

/**
 * One step's outcome in a test run; steps the run never reached are `pending`. Narrow on `status`
 * to read the output: `if (r.steps.charge.status === 'completed') r.steps.charge.output.chargeId`.
 */
export type TestStepResult<T> =
  | { status: 'completed'; output: T; error: null }
  | { status: 'failed'; output: undefined; error: string }
  | { status: 'pending'; output: undefined; error: null }

export interface TestRunResult<W> {
  runId: string
  /** `waiting`: the run waits for an event with no timeout; emit it (`te.emit`), then `te.continue(runId)`. */
  status: 'completed' | 'failed' | 'cancelled' | 'waiting'
  steps: { [K in keyof WorkflowSteps<W>]: TestStepResult<WorkflowSteps<W>[K]> }
}

type Named<W extends readonly AnyWorkflow[], N> = Extract<W[number], { readonly name: N }>

export interface TestEngine<W extends readonly AnyWorkflow[]> extends Engine<W> {
  /** Enqueues a run and executes it to its end before resolving. */
  run<N extends W[number]['name']>(name: N, input: WorkflowEnqueueInput<Named<W, N>>): Promise<TestRunResult<Named<W, N>>>
  /** Executes a run `run()` returned as waiting (after an emit, say) until it finishes or waits again. */
  continue<N extends W[number]['name']>(run: { runId: string; workflow?: N } | string): Promise<TestRunResult<Named<W, N>>>
  /** The in-memory storage behind this engine. */
  readonly storage: MemoryStorage
}

/**
 * Creates an engine on fresh in-memory storage whose `run()` executes a workflow run to its end
 * and returns typed step results keyed by step name. Same config as createEngine, minus storage.
 *
 * Waits the engine makes itself are skipped: when the run is parked until later (a retry backoff, a
 * sleep, a delayed start, a wait's timeout), the test engine's clock jumps to that moment, so days
 * of waiting take no time. A run waiting for an event with no timeout is returned as `waiting`:
 * emit the event with `te.emit` and go on with `te.continue(runId)`. Handler time (what your steps
 * await, their timeouts) stays real, or on the `clock` you pass.
 */
export function testEngine<const W extends readonly AnyWorkflow[]>(config: Omit<EngineConfig<W>, 'storage'>): TestEngine<W> {
  const base = config.clock ?? SystemClock
  let skipped = 0
  const clock: Clock = {
    now: () => base.now() + skipped,
    monotonic: () => monotonicNow(base) + skipped,
    setTimer: (ms, fn) => base.setTimer(ms, fn),
  }
  const storage = new MemoryStorage({ clock })
  // Nothing in memory outlives its engine, so no lease is ever taken over: jumping the clock cannot
  // hand a live run to a second execution.
  const engine = buildEngine({ ...config, storage, clock }, { reclaimExpired: false })
  const byName = new Map<string, AnyWorkflow>(config.workflows.map((w) => [w.name, w]))

  async function run(name: string, input: unknown) {
    const enqueue = engine.enqueue as (name: string, input: unknown) => ReturnType<Engine['enqueue']>
    const { id } = await enqueue(name, input)
    return drive(id)
  }

  /** Executes the run until it finishes or waits for an event that no time brings. */
  async function drive(id: string) {
    for (;;) {
      const info = await engine.getRunStatus(id)
      if (!info) throw new UnknownRunError(id)
      const { status, availableAt } = info.run
      const due = availableAt !== null && availableAt > clock.now()
      if (TERMINAL_STATUSES.includes(status) || (status === 'waiting' && availableAt === null)) {
        const recorded = new Map(info.steps.map((s) => [s.name, s]))
        const steps: Record<string, unknown> = {}
        for (const step of byName.get(info.run.workflow)!.steps) {
          const r = recorded.get(step.name)
          steps[step.name] = r ? { output: r.output, status: r.status, error: r.error } : { output: undefined, status: 'pending', error: null }
        }
        return { runId: id, status, steps }
      }
      if ((status === 'pending' || status === 'waiting') && due) skipped += availableAt - clock.now()
      else if (status === 'pending' || status === 'waiting') await engine.tick()
      // Another concurrent run() executes it: yield a macrotask so its work and timers go on.
      else await new Promise((resolve) => setTimeout(resolve, 0))
    }
  }

  const continueRun = (run: { runId: string } | string) => drive(typeof run === 'string' ? run : run.runId)

  return Object.assign(engine, { run, continue: continueRun, storage }) as unknown as TestEngine<W>
}
