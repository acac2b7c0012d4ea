/**
 * reflow-ts/test: run workflows in your own test suite, in memory, one call per run.
 *
 * @example
 * import { testEngine } from 'reflow-ts/test'
 * const te = testEngine({ workflows: [orderWorkflow] })
 * const result = await te.run('order-fulfillment', { orderId: 'ORD_1', amount: 100 })
 * expect(result.steps.charge.output.chargeId).toBeTruthy()
 */

import { TERMINAL_STATUSES } from './core/types.ts'
import { createEngine, type Engine, type EngineConfig } from './engine/engine.ts'
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
  status: 'completed' | 'failed' | 'cancelled'
  steps: { [K in keyof WorkflowSteps<W>]: TestStepResult<WorkflowSteps<W>[K]> }
}

type Named<W extends readonly AnyWorkflow[], N> = Extract<W[number], { readonly name: N }>

export interface TestEngine<W extends readonly AnyWorkflow[]> extends Engine<W> {
  /** Enqueues a run and executes it to its end before resolving. */
  run<N extends W[number]['name']>(name: N, input: WorkflowEnqueueInput<Named<W, N>>): Promise<TestRunResult<Named<W, N>>>
  /** The in-memory storage behind this engine. */
  readonly storage: MemoryStorage
}

/**
 * Creates an engine on fresh in-memory storage whose `run()` executes a workflow run to its end
 * and returns typed step results keyed by step name. Same config as createEngine, minus storage.
 */
export function testEngine<const W extends readonly AnyWorkflow[]>(config: Omit<EngineConfig<W>, 'storage'>): TestEngine<W> {
  const storage = new MemoryStorage(config.clock ? { clock: config.clock } : {})
  const engine = createEngine({ ...config, storage })
  const byName = new Map<string, AnyWorkflow>(config.workflows.map((w) => [w.name, w]))

  async function run(name: string, input: unknown) {
    const enqueue = engine.enqueue as (name: string, input: unknown) => ReturnType<Engine['enqueue']>
    const { id } = await enqueue(name, input)
    for (;;) {
      const info = await engine.getRunStatus(id)
      if (info && TERMINAL_STATUSES.includes(info.run.status)) {
        const recorded = new Map(info.steps.map((s) => [s.name, s]))
        const steps: Record<string, TestStepResult<unknown>> = {}
        for (const step of byName.get(name)!.steps) {
          const r = recorded.get(step.name)
          // The store records an output only for a completed step and an error only for a failed one.
          steps[step.name] = r
            ? ({ output: r.output, status: r.status, error: r.error } as TestStepResult<unknown>)
            : { output: undefined, status: 'pending', error: null }
        }
        return { runId: id, status: info.run.status, steps }
      }
      // Another concurrent run() may hold this run: yield a macrotask so its timers can fire.
      await Promise.all([engine.tick(), new Promise((resolve) => setTimeout(resolve, 0))])
    }
  }

  return Object.assign(engine, { run, storage }) as unknown as TestEngine<W>
}
