import { ManualClock } from '../../src/core/clock.ts'
import { createEngine, type EngineConfig } from '../../src/engine/engine.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'
import type { AnyWorkflow } from '../../src/workflow/workflow.ts'

/** An engine on in-memory storage driven by a manual clock. */
export function manualEngine<const W extends readonly AnyWorkflow[]>(
  config: Omit<EngineConfig<W>, 'storage' | 'clock'> & { storage?: MemoryStorage },
) {
  const clock = new ManualClock(1_000_000)
  const storage = config.storage ?? new MemoryStorage({ clock })
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

/** Resolves once `predicate` holds, checking after each macrotask (no fixed sleeps). */
export async function until(predicate: () => boolean | Promise<boolean>, what: string, maxTurns = 10_000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (await predicate()) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error(`timed out waiting for: ${what}`)
}
