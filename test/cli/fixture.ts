/** A database with one run in each situation the CLI commands care about, made with the library. */

import { z } from 'zod'
import { SystemClock, type Clock } from '../../src/core/clock.ts'
import { createEngine, createWorkflow } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'

const MINUTE = 60_000
const DAY = 86_400_000

/** A clock the fixture moves by hand; timers are real (the engine is never started, so none matter). */
function settableClock(start: number) {
  let now = start
  const clock: Clock = { now: () => now, setTimer: SystemClock.setTimer }
  return { clock, set: (time: number) => void (now = time), advance: (ms: number) => void (now += ms) }
}

/**
 * A database with one run in each situation the commands care about:
 *   oldCompleted (greet, 10 days ago), oldFailed (charge: reserve ok, charge failed after 2 attempts,
 *   10 days ago), recentCompleted (greet, 30 minutes ago), cancelled (greet, 30 minutes ago),
 *   pending (greet, created 10 days ago, idempotency key "dee-1"), running (charge, claimed 10 days ago).
 */
export async function populate(file: string) {
  const time = settableClock(Date.now() - 10 * DAY)
  const greet = createWorkflow({ name: 'greet', input: z.object({ name: z.string() }) })
    .step('hello', ({ input }) => {
      time.advance(1_500)
      return { greeting: `hello ${input.name}` }
    })
    .step('essay', () => {
      time.advance(250)
      return { text: 'x'.repeat(300) }
    })
  const charge = createWorkflow({ name: 'charge', input: z.object({ amount: z.number() }) })
    .step('reserve', ({ input }) => ({ reservation: `r-${input.amount}` }))
    .step('charge', {
      retry: { maxAttempts: 2, initialDelayMs: 1 },
      handler: () => {
        throw new Error('card declined')
      },
    })
  const storage = new SQLiteStorage(file, { clock: time.clock })
  const engine = createEngine({ storage, workflows: [greet, charge], clock: time.clock, concurrency: 10 })
  const oldCompleted = (await engine.enqueue('greet', { name: 'ada' })).id
  await engine.tick()
  const oldFailed = (await engine.enqueue('charge', { amount: 5 })).id
  // The first attempt fails and parks the run for its 1 ms backoff: move the clock there and tick
  // again, so the run fails at its own time, not with the next run 10 days later.
  await engine.tick()
  for (let info = await engine.getRunStatus(oldFailed); info?.run.status === 'pending'; info = await engine.getRunStatus(oldFailed)) {
    time.set(Math.max(time.clock.now(), info.run.availableAt ?? 0))
    await engine.tick()
  }
  time.set(Date.now() - 30 * MINUTE)
  const recentCompleted = (await engine.enqueue('greet', { name: 'bob' })).id
  await engine.tick()
  const cancelled = (await engine.enqueue('greet', { name: 'cy' })).id
  await engine.cancel(cancelled)
  time.set(Date.now() - 10 * DAY)
  const pending = (await engine.enqueue('greet', { name: 'dee' }, { idempotencyKey: 'dee-1' })).id
  const running = (await engine.enqueue('charge', { amount: 7 })).id
  const claimed = await storage.claimNextRun(['charge'])
  if (claimed?.id !== running) throw new Error('fixture: expected to claim the charge run')
  storage.close()
  return { oldCompleted, oldFailed, recentCompleted, cancelled, pending, running }
}

export type Fixture = Awaited<ReturnType<typeof populate>>
