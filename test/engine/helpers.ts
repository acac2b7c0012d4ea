import { ManualClock } from '../../src/core/clock.ts'
import { TERMINAL_STATUSES, type RunInfo } from '../../src/core/types.ts'
import { createEngine, type Engine, type EngineConfig } from '../../src/engine/engine.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'
import { PostgresStorage } from '../../src/postgres.ts'
import { dropSchemas, freshSchema, POSTGRES_URL } from '../postgres/server.ts'
import { afterAll, afterEach, test } from 'bun:test'
import type { AnyWorkflow } from '../../src/workflow/workflow.ts'

/**
 * The storage engine suites run on: in memory, or with REFLOW_TEST_BACKEND=postgres a fresh schema
 * on the test server judged on the engine's clock (so a ManualClock drives it as it drives memory).
 */
export function testStorage(clock: ManualClock): MemoryStorage {
  if (!ON_POSTGRES) return new MemoryStorage({ clock })
  const storage = new PostgresStorage(POSTGRES_URL, { schema: freshSchema(), clock, timeSource: 'engine', maxConnections: 3 })
  opened.push(storage)
  return storage as unknown as MemoryStorage
}

const ON_POSTGRES = process.env.REFLOW_TEST_BACKEND === 'postgres'

/**
 * A test that moves a ManualClock right after a store write it does not wait for (an enqueue's
 * timer, a backoff's release, a heartbeat), relying on memory completing that write within the
 * same turn. On Postgres a write is a round trip, so the clock would outrun it: skipped there, with
 * this reason, and run on memory.
 */
export const lockstepTest = test.skipIf(ON_POSTGRES)
const opened: PostgresStorage[] = []
if (ON_POSTGRES) {
  // Each test's connections are closed after it, and its schemas dropped after its file.
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((storage) => storage.close()))
  })
  afterAll(dropSchemas)
}

/** An engine on in-memory storage (or Postgres, see testStorage) driven by a manual clock. */
export function manualEngine<const W extends readonly AnyWorkflow[]>(
  config: Omit<EngineConfig<W>, 'storage' | 'clock'> & { storage?: MemoryStorage },
) {
  const clock = new ManualClock(1_000_000)
  const storage = config.storage ?? testStorage(clock)
  const engine = createEngine({ ...config, storage, clock })
  return { engine, storage, clock }
}

/** A promise with its resolver exposed, for steps that wait for the test. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/**
 * Resolves once `predicate` holds, checking after each macrotask (no fixed sleeps). The deadline
 * only turns a hang into a failure: a store on a server needs more turns than one in memory.
 */
export async function until(predicate: () => boolean | Promise<boolean>, what: string, deadlineMs = 10_000): Promise<void> {
  const deadline = performance.now() + deadlineMs
  while (performance.now() < deadline) {
    if (await predicate()) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error(`timed out waiting for: ${what}`)
}

/**
 * Drives a manual-clock engine that is not started to the end of one run: ticks while the run is
 * due, and when it is parked (pending, due later: a retry backoff) moves the clock to its due time,
 * until the run is completed, failed or cancelled. Each tick runs until the run finishes or parks,
 * so a handler that waits on the clock (a timeout) needs the test to advance it instead.
 */
export async function driveToEnd(
  e: { engine: Pick<Engine, 'tick' | 'getRunStatus'>; clock: ManualClock },
  runId: string,
  maxTicks = 1_000,
): Promise<RunInfo> {
  for (let ticks = 0; ticks <= maxTicks; ) {
    const info = await e.engine.getRunStatus(runId)
    if (!info) throw new Error(`run ${runId} does not exist`)
    const { status, availableAt } = info.run
    if (TERMINAL_STATUSES.includes(status)) return info
    if (status === 'pending' && availableAt !== null && availableAt > e.clock.now()) {
      await e.clock.advance(availableAt - e.clock.now())
    } else {
      await e.engine.tick()
      ticks++
    }
  }
  throw new Error(`run ${runId} did not finish within ${maxTicks} ticks`)
}
