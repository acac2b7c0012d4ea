/**
 * The engine on a real file: enqueue rates, runs per second through `engine.start()`, and the
 * per-step cost. Every run is pre-enqueued, then the clock runs from `start()` until `onRunComplete`
 * has fired for the last one; transactions are SQLiteStorage's own commit count over that span.
 */

import { createEngine, createWorkflow, type Engine as TypedEngine, type WorkflowRun } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'
import type { StorageAdapter } from '../../src/storage/adapter.ts'
import type { AnyWorkflow } from '../../src/workflow/workflow.ts'
import { anyInput, freshDb, type Synchronous } from './harness.ts'

export const WORKFLOW = 'noop'

/** The engine with its name/input typing loosened: the bench builds workflows in loops. */
export type Engine = Omit<TypedEngine, 'enqueue'> & { enqueue(name: string, input: unknown): Promise<WorkflowRun> }

/** A workflow of `steps` no-op async steps. */
export function noopWorkflow(steps: number, name = WORKFLOW): AnyWorkflow {
  let wf: AnyWorkflow = createWorkflow({ name, input: anyInput })
  for (let s = 0; s < steps; s++) wf = (wf as { step(name: string, handler: () => Promise<undefined>): AnyWorkflow }).step(`s${s}`, async () => undefined)
  return wf
}

export interface RunsResult {
  runsPerSec: number
  /** Write transactions committed per run while the runs were processed (claims included). */
  txPerRun: number
  elapsedMs: number
}

/** Enqueues `count` runs in batches of `batch` concurrent calls (which group commit together). */
export async function enqueueMany(engine: Engine, count: number, batch = 2000): Promise<void> {
  for (let done = 0; done < count; ) {
    const n = Math.min(batch, count - done)
    const calls: Promise<unknown>[] = new Array(n)
    for (let i = 0; i < n; i++) calls[i] = engine.enqueue(WORKFLOW, { i: done + i })
    await Promise.all(calls)
    done += n
  }
}

/**
 * Runs `runs` pre-enqueued runs of a `steps`-step no-op workflow through a started engine and
 * times them from `start()` to the last `onRunComplete`.
 */
export async function measureRuns(options: {
  steps: number
  concurrency: number
  runs: number
  synchronous?: Synchronous
  memory?: boolean
  path?: string
}): Promise<RunsResult> {
  const { steps, concurrency, runs } = options
  const storage: StorageAdapter & { close(): void; transactionCount?: number } = options.memory
    ? new MemoryStorage()
    : new SQLiteStorage(options.path ?? freshDb(), { synchronous: options.synchronous ?? 'normal' })
  let completed = 0
  let finish!: () => void
  const allDone = new Promise<void>((resolve) => (finish = resolve))
  const errors: Error[] = []
  const engine = createEngine({
    storage,
    workflows: [noopWorkflow(steps)],
    concurrency,
    hooks: {
      onRunComplete: () => {
        if (++completed === runs) finish()
      },
      onError: (error) => void errors.push(error),
    },
  }) as unknown as Engine
  await storage.initialize()
  await enqueueMany(engine, runs)
  Bun.gc(true)
  const tx0 = storage.transactionCount ?? 0
  const start = performance.now()
  await engine.start()
  await allDone
  const elapsedMs = performance.now() - start
  const tx = (storage.transactionCount ?? 0) - tx0
  await engine.stop()
  storage.close()
  if (errors.length > 0) throw errors[0]
  return { runsPerSec: runs / (elapsedMs / 1000), txPerRun: tx / runs, elapsedMs }
}

/** Enqueues per second: one awaited call at a time, and `batch` concurrent calls at a time. */
export async function measureEnqueue(options: { count: number; batch: number; synchronous?: Synchronous }): Promise<{ single: number; batched: number; txPerBatchedEnqueue: number }> {
  const storage = new SQLiteStorage(freshDb(), { synchronous: options.synchronous ?? 'normal' })
  const engine = createEngine({ storage, workflows: [noopWorkflow(1)] }) as unknown as Engine
  await storage.initialize()
  const singleCount = Math.max(1, Math.floor(options.count / 4))
  let start = performance.now()
  for (let i = 0; i < singleCount; i++) await engine.enqueue(WORKFLOW, { i })
  const single = singleCount / ((performance.now() - start) / 1000)
  const tx0 = storage.transactionCount
  start = performance.now()
  await enqueueMany(engine, options.count, options.batch)
  const batched = options.count / ((performance.now() - start) / 1000)
  const txPerBatchedEnqueue = (storage.transactionCount - tx0) / options.count
  storage.close()
  return { single, batched, txPerBatchedEnqueue }
}

/** Microseconds per call of a no-op async handler awaited directly, as the executor would call it. */
export async function directHandlerUs(calls: number): Promise<number> {
  const handler = async (_: { input: unknown; prev: unknown; signal: AbortSignal }) => undefined
  const signal = new AbortController().signal
  const start = performance.now()
  for (let i = 0; i < calls; i++) await handler({ input: { i }, prev: undefined, signal })
  return ((performance.now() - start) * 1000) / calls
}
