/**
 * The dispatcher over a store whose claims take a real round trip (as on Postgres): a memory store
 * whose claim answers a few milliseconds late. Claims then overlap (a slot frees while another
 * claim is still out), and the engine must still go idle when there is nothing to claim.
 */

import { expect, test } from 'bun:test'
import { z } from 'zod'
import { createEngine, createWorkflow, defineEvent } from '../../src/index.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'
import { STORE, type Store } from '../../src/storage/store.ts'

/** MemoryStorage whose store's claims answer `delayMs` late; counts them. */
function slowClaims(delayMs: number) {
  const storage = new MemoryStorage()
  const store = storage[STORE]()
  let claims = 0
  const slow: Store = Object.create(store)
  slow.claim = async (request) => {
    claims++
    await new Promise((resolve) => setTimeout(resolve, delayMs))
    return store.claim(request)
  }
  const wrapped = Object.assign(Object.create(storage), { [STORE]: () => slow }) as MemoryStorage
  return { storage: wrapped, claims: () => claims }
}

test('overlapping claims that come back empty leave the engine idle, not claiming in a loop', async () => {
  const { storage, claims } = slowClaims(5)
  const wf = createWorkflow({ name: 'quick', input: z.object({ n: z.number() }) }).step('s', ({ input }) => input.n)
  const engine = createEngine({ storage, workflows: [wf], concurrency: 4 })
  await engine.start(60_000)
  const runs = await Promise.all(Array.from({ length: 8 }, (_, n) => engine.enqueue('quick', { n })))
  for (const run of runs) expect((await engine.result(run.id)).status).toBe('completed')
  // Everything is done and the poll is a minute away: an idle engine makes no claim in the next
  // 300 ms (a loop of empty claims, 5 ms each, would make dozens).
  const before = claims()
  await new Promise((resolve) => setTimeout(resolve, 300))
  expect(claims() - before).toBeLessThanOrEqual(1)
  await engine.stop()
})

test('an engine whose runs all wait for an event goes idle once they have parked', async () => {
  const { storage, claims } = slowClaims(5)
  const go = defineEvent('go', z.object({}))
  const wf = createWorkflow({ name: 'waiter', input: z.object({ n: z.number() }) })
    .waitForEvent('go', go, { key: ({ input }) => String(input.n) })
    .step('s', ({ input }) => input.n)
  const engine = createEngine({ storage, workflows: [wf], concurrency: 16 })
  await engine.start(60_000)
  const runs = await Promise.all(Array.from({ length: 20 }, (_, n) => engine.enqueue('waiter', { n })))
  for (const run of runs) {
    while ((await engine.getRunStatus(run.id))?.run.status !== 'waiting') await new Promise((resolve) => setImmediate(resolve))
  }
  const before = claims()
  await new Promise((resolve) => setTimeout(resolve, 300))
  expect(claims() - before).toBeLessThanOrEqual(1)
  await engine.emit(go, { key: '3', payload: {} })
  expect(await engine.result(runs[3]!.id)).toMatchObject({ status: 'completed', output: 3 })
  await engine.stop()
})
