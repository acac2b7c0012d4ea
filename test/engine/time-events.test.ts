/**
 * Durable time and events in the engine: sleeps, waits for an event (with and without a timeout),
 * emit, and how waiting runs meet stop, restart, cancel and retry. Memory storage on a manual clock
 * where one process suffices; SQLite files for what crosses connections.
 */

import { afterAll, describe, expect, test } from 'bun:test'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { ManualClock } from '../../src/core/clock.ts'
import { createEngine, createWorkflow, defineEvent, IdempotencyConflictError, ValidationError } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'
import { STORE } from '../../src/storage/store.ts'
import { testEngine } from '../../src/test.ts'
import { deferred, manualEngine, until } from './helpers.ts'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflow-waits-'))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const DAY = 86_400_000
const paid = defineEvent('order.paid', z.object({ amount: z.number(), at: z.date() }))
const input = z.object({ id: z.string() })

/** Side effects of steps, in order. */
function log() {
  const entries: string[] = []
  return { entries, add: (entry: string) => void entries.push(entry), count: (entry: string) => entries.filter((e) => e === entry).length }
}

async function statusOf(engine: { getRunStatus(id: string): Promise<{ run: { status: string } } | null> }, id: string) {
  return (await engine.getRunStatus(id))?.run.status
}

describe('sleep', () => {
  test('a sleeping run holds no slot and no lease; the started engine wakes it on time; steps before run once', async () => {
    const effects = log()
    const nap = createWorkflow({ name: 'nap', input })
      .step('before', ({ input }) => (effects.add(`before ${input.id}`), { n: 1 }))
      .sleep('rest', '3d')
      .step('after', ({ prev }) => (effects.add('after'), prev.n + 1))
    const quick = createWorkflow({ name: 'quick', input }).step('only', ({ input }) => effects.add(`quick ${input.id}`))
    const { engine, clock } = manualEngine({ workflows: [nap, quick], concurrency: 1 })
    await engine.start(3_600_000)
    const run = await engine.enqueue('nap', { id: 'a' })
    await until(async () => (await statusOf(engine, run.id)) === 'waiting', 'the run to sleep')
    const waiting = (await engine.getRunStatus(run.id))!.run
    expect(waiting).toMatchObject({ leaseId: null, availableAt: clock.now() + 3 * DAY, wait: { kind: 'sleep', step: 'rest' } })
    // The only slot is free: another run goes through while the first sleeps.
    const other = await engine.enqueue('quick', { id: 'b' })
    await until(async () => (await statusOf(engine, other.id)) === 'completed', 'the other run, through the free slot')
    await clock.advance(3 * DAY - 1)
    expect(await statusOf(engine, run.id)).toBe('waiting')
    await clock.advance(1)
    await until(async () => (await statusOf(engine, run.id)) === 'completed', 'the run to wake at its time')
    expect(effects.entries).toEqual(['before a', 'quick b', 'after'])
    const result = await engine.result(run)
    expect(result).toEqual({ status: 'completed', output: 2 })
    await engine.stop()
  })

  test('sleepUntil: a time in the future parks until then; a time past goes on at once', async () => {
    const effects = log()
    const wf = createWorkflow({ name: 'until', input: z.object({ at: z.number() }) })
      .sleepUntil('wait', ({ input }) => new Date(input.at))
      .step('go', () => effects.add('go'))
    const { engine, clock } = manualEngine({ workflows: [wf] })
    await engine.start(3_600_000)
    const past = await engine.enqueue('until', { at: clock.now() - 1_000 })
    await until(async () => (await statusOf(engine, past.id)) === 'completed', 'the run with a past time')
    const future = await engine.enqueue('until', { at: clock.now() + 5_000 })
    await until(async () => (await statusOf(engine, future.id)) === 'waiting', 'the run with a future time')
    expect((await engine.getRunStatus(future.id))!.run.availableAt).toBe(clock.now() + 5_000)
    await clock.advance(5_000)
    await until(async () => (await statusOf(engine, future.id)) === 'completed', 'the run at its time')
    expect(effects.entries).toEqual(['go', 'go'])
    await engine.stop()
  })

  test('survives stop(): a second engine on the storage neither re-runs the steps before nor restarts the sleep', async () => {
    const effects = log()
    const nap = createWorkflow({ name: 'nap', input })
      .step('before', () => effects.add('before'))
      .sleep('rest', '3d')
      .step('after', () => effects.add('after'))
    const clock = new ManualClock(1_000_000)
    const storage = new MemoryStorage({ clock })
    const first = createEngine({ storage, clock, workflows: [nap] })
    await first.start(3_600_000)
    const run = await first.enqueue('nap', { id: 'a' })
    await until(async () => (await statusOf(first, run.id)) === 'waiting', 'the run to sleep')
    const wakeAt = clock.now() + 3 * DAY
    await first.stop()
    await clock.advance(2 * DAY)
    const second = createEngine({ storage, clock, workflows: [nap] })
    await second.start(3_600_000)
    await clock.advance(DAY - 1)
    expect(await statusOf(second, run.id)).toBe('waiting')
    expect(clock.now()).toBe(wakeAt - 1)
    // The second engine armed its timer from the stored due time, not from when it started.
    await clock.advance(1)
    await until(async () => (await statusOf(second, run.id)) === 'completed', 'the second engine to wake the run')
    expect(effects.entries).toEqual(['before', 'after'])
    await second.stop()
  })

  test('any engine on a SQLite file wakes a due run another engine parked and then stopped', async () => {
    const effects = log()
    const nap = createWorkflow({ name: 'nap', input })
      .step('before', () => effects.add('before'))
      .sleep('rest', 300)
      .step('after', () => effects.add('after'))
    const file = path.join(dir, 'sleep-handover.db')
    const first = createEngine({ storage: new SQLiteStorage(file), workflows: [nap] })
    const second = createEngine({ storage: new SQLiteStorage(file), workflows: [nap] })
    await first.start(60_000)
    const run = await first.enqueue('nap', { id: 'a' })
    await until(async () => (await statusOf(first, run.id)) === 'waiting', 'the run to sleep')
    await first.stop()
    await second.start(60_000)
    expect(await second.result(run, { timeout: '10s' })).toEqual({ status: 'completed', output: undefined })
    expect(effects.entries).toEqual(['before', 'after'])
    await second.stop()
  })
})

describe('waitForEvent', () => {
  test('prev is the payload as stored (a Date stays a Date); emit wakes the waiting run', async () => {
    const seen: unknown[] = []
    const wf = createWorkflow({ name: 'pay', input })
      .waitForEvent('paid', paid, { key: ({ input }) => input.id })
      .step('ship', ({ prev }) => (seen.push(prev), prev.at.getTime() + prev.amount))
    const { engine } = manualEngine({ workflows: [wf] })
    await engine.start(3_600_000)
    const run = await engine.enqueue('pay', { id: 'o-1' })
    await until(async () => (await statusOf(engine, run.id)) === 'waiting', 'the run to wait')
    expect((await engine.getRunStatus(run.id))!.run).toMatchObject({ leaseId: null, availableAt: null, wait: { kind: 'event', event: 'order.paid', key: 'o-1', timeoutAt: null } })
    await engine.emit(paid, { key: 'o-2', payload: { amount: 1, at: new Date(0) } })
    const { eventId, created } = await engine.emit(paid, { key: 'o-1', payload: { amount: 5, at: new Date(1_000) } })
    expect(created).toBe(true)
    expect(typeof eventId).toBe('number')
    expect(await engine.result(run, { timeout: '5s' })).toEqual({ status: 'completed', output: 1_005 })
    expect(seen).toEqual([{ amount: 5, at: new Date(1_000) }])
    expect(seen[0]).toMatchObject({ at: expect.any(Date) })
    await engine.stop()
  })

  test('an event emitted while the run is in an earlier step is delivered when it gets there', async () => {
    const gate = deferred()
    const wf = createWorkflow({ name: 'pay', input })
      .step('prepare', () => gate.promise)
      .waitForEvent('paid', paid, { key: ({ input }) => input.id })
      .step('ship', ({ prev }) => prev.amount)
    const { engine } = manualEngine({ workflows: [wf] })
    await engine.start(3_600_000)
    const run = await engine.enqueue('pay', { id: 'o-1' })
    await until(async () => (await statusOf(engine, run.id)) === 'running', 'the run in its first step')
    await engine.emit(paid, { key: 'o-1', payload: { amount: 7, at: new Date(0) } })
    gate.resolve()
    expect(await engine.result(run, { timeout: '5s' })).toEqual({ status: 'completed', output: 7 })
    await engine.stop()
  })

  test('an event emitted before the run was created is not received', async () => {
    const wf = createWorkflow({ name: 'pay', input }).waitForEvent('paid', paid, { key: ({ input }) => input.id, timeout: '1h' })
    const { engine, clock } = manualEngine({ workflows: [wf] })
    await engine.emit(paid, { key: 'o-1', payload: { amount: 1, at: new Date(0) } })
    await clock.advance(1)
    await engine.start(3_600_000)
    const run = await engine.enqueue('pay', { id: 'o-1' })
    await until(async () => (await statusOf(engine, run.id)) === 'waiting', 'the run to wait')
    await clock.advance(3_600_000)
    expect(await engine.result(run, { timeout: '5s' })).toEqual({ status: 'completed', output: { received: false } })
    await engine.stop()
  })

  test('with a timeout: { received: true, payload } on time; { received: false } at the deadline, and a later event is not that step’s', async () => {
    const outcomes: unknown[] = []
    const wf = createWorkflow({ name: 'pay', input })
      .waitForEvent('paid', paid, { key: ({ input }) => input.id, timeout: '1d' })
      .step('note', ({ prev }) => void outcomes.push(prev))
      .waitForEvent('paid-later', paid, { key: ({ input }) => input.id })
      .step('done', ({ prev }) => prev.amount)
    const { engine, clock } = manualEngine({ workflows: [wf] })
    await engine.start(3_600_000)
    const onTime = await engine.enqueue('pay', { id: 'on-time' })
    const late = await engine.enqueue('pay', { id: 'late' })
    await until(async () => (await statusOf(engine, late.id)) === 'waiting' && (await statusOf(engine, onTime.id)) === 'waiting', 'both runs to wait')
    expect((await engine.getRunStatus(late.id))!.run.availableAt).toBe(clock.now() + DAY)
    await clock.advance(DAY - 1)
    await engine.emit(paid, { key: 'on-time', payload: { amount: 1, at: new Date(5) } })
    await until(() => outcomes.length === 1, 'the on-time run to receive its event')
    expect(outcomes).toEqual([{ received: true, payload: { amount: 1, at: new Date(5) } }])
    await clock.advance(1)
    await until(() => outcomes.length === 2, 'the late run to time out')
    expect(outcomes[1]).toEqual({ received: false })
    // The late event goes to the next wait of the run, not to the step that timed out.
    await until(async () => (await statusOf(engine, late.id)) === 'waiting', 'the late run at its second wait')
    await engine.emit(paid, { key: 'late', payload: { amount: 9, at: new Date(0) } })
    expect(await engine.result(late, { timeout: '5s' })).toEqual({ status: 'completed', output: 9 })
    const steps = (await engine.getRunStatus(late.id))!.steps
    expect(steps.find((s) => s.name === 'paid')?.output).toEqual({ received: false })
    // The on-time run's first event was received by its first wait: its second wait needs another.
    await until(async () => (await statusOf(engine, onTime.id)) === 'waiting', 'the on-time run at its second wait')
    await engine.emit(paid, { key: 'on-time', payload: { amount: 2, at: new Date(0) } })
    expect(await engine.result(onTime, { timeout: '5s' })).toEqual({ status: 'completed', output: 2 })
    expect(outcomes).toHaveLength(2)
    await engine.stop()
  })

  test('10 runs waiting on the same name and key all receive one emit', async () => {
    const wf = createWorkflow({ name: 'pay', input })
      .waitForEvent('paid', paid, { key: () => 'shared' })
      .step('echo', ({ prev, input }) => `${input.id}:${prev.amount}`)
    const { engine } = manualEngine({ workflows: [wf], concurrency: 3 })
    await engine.start(3_600_000)
    const runs = await Promise.all(Array.from({ length: 10 }, (_, i) => engine.enqueue('pay', { id: `r${i}` })))
    await until(async () => (await Promise.all(runs.map((r) => statusOf(engine, r.id)))).every((s) => s === 'waiting'), 'all ten to wait')
    await engine.emit(paid, { key: 'shared', payload: { amount: 3, at: new Date(0) } })
    const results = await Promise.all(runs.map((r) => engine.result(r, { timeout: '5s' })))
    expect(results).toEqual(runs.map((_, i) => ({ status: 'completed', output: `r${i}:3` })))
    await engine.stop()
  })

  test('emit validates the payload first and writes nothing when it fails', async () => {
    const wf = createWorkflow({ name: 'pay', input }).waitForEvent('paid', paid, { key: ({ input }) => input.id })
    const { engine, storage } = manualEngine({ workflows: [wf] })
    await engine.start(3_600_000)
    const run = await engine.enqueue('pay', { id: 'o-1' })
    await until(async () => (await statusOf(engine, run.id)) === 'waiting', 'the run to wait')
    const bad = engine.emit(paid, { key: 'o-1', payload: { amount: 'ten', at: new Date(0) } as never })
    await expect(bad).rejects.toBeInstanceOf(ValidationError)
    await expect(engine.emit(paid, { key: 'o-1', payload: { amount: 'ten', at: new Date(0) } as never })).rejects.toThrow(/payload for event "order.paid"/)
    expect(await storage[STORE]().findEvent(run.id, 'order.paid', 'o-1')).toBeNull()
    expect((await engine.getRunStatus(run.id))!.run).toMatchObject({ status: 'waiting', availableAt: null })
    await engine.emit(paid, { key: 'o-1', payload: { amount: 10, at: new Date(0) } })
    expect(await engine.result(run, { timeout: '5s' })).toEqual({ status: 'completed', output: { amount: 10, at: new Date(0) } })
    await engine.stop()
  })

  test('an idempotency key: the same payload is the same event; another payload is a conflict', async () => {
    const wf = createWorkflow({ name: 'pay', input })
      .waitForEvent('first', paid, { key: ({ input }) => input.id })
      .waitForEvent('second', paid, { key: ({ input }) => input.id, timeout: '1h' })
    const { engine, clock } = manualEngine({ workflows: [wf] })
    await engine.start(3_600_000)
    const run = await engine.enqueue('pay', { id: 'o-1' })
    const payload = { amount: 4, at: new Date(0) }
    const one = await engine.emit(paid, { key: 'o-1', payload, idempotencyKey: 'pay-1' })
    const again = await engine.emit(paid, { key: 'o-1', payload: { amount: 4, at: new Date(0) }, idempotencyKey: 'pay-1' })
    expect(again).toEqual({ eventId: one.eventId, created: false })
    const conflict = engine.emit(paid, { key: 'o-1', payload: { amount: 5, at: new Date(0) }, idempotencyKey: 'pay-1' })
    await expect(conflict).rejects.toBeInstanceOf(IdempotencyConflictError)
    // One event stored: the second wait finds none and times out.
    await until(async () => (await statusOf(engine, run.id)) === 'waiting', 'the run at its second wait')
    await clock.advance(3_600_000)
    expect(await engine.result(run, { timeout: '5s' })).toEqual({ status: 'completed', output: { received: false } })
    expect((await engine.getRunStatus(run.id))!.steps.find((s) => s.name === 'first')?.output).toEqual(payload)
    await engine.stop()
  })

  test('an emit from a second SQLiteStorage on the file that never called start() wakes the waiting run', async () => {
    const wf = createWorkflow({ name: 'pay', input })
      .waitForEvent('paid', paid, { key: ({ input }) => input.id })
      .step('ship', ({ prev }) => ({ amount: prev.amount, at: prev.at }))
    const file = path.join(dir, 'emit-elsewhere.db')
    const worker = createEngine({ storage: new SQLiteStorage(file), workflows: [wf] })
    // A poll interval longer than the test: only the emit's change notification can wake the run in time.
    await worker.start(600_000)
    const run = await worker.enqueue('pay', { id: 'o-1' })
    await until(async () => (await statusOf(worker, run.id)) === 'waiting', 'the run to wait')
    const elsewhere = new SQLiteStorage(file)
    const emitter = createEngine({ storage: elsewhere, workflows: [] })
    await emitter.emit(paid, { key: 'o-1', payload: { amount: 12, at: new Date(3) } })
    expect(await worker.result(run, { timeout: '10s' })).toEqual({ status: 'completed', output: { amount: 12, at: new Date(3) } })
    expect(await emitter.result(run.id, { timeout: '1s' })).toEqual({ status: 'completed', output: { amount: 12, at: new Date(3) } })
    await worker.stop()
    elsewhere.close()
  })
})

describe('cancel and retry', () => {
  test('cancel works at once on a waiting run and on a delayed run; a later emit or due time does nothing', async () => {
    const effects = log()
    const wf = createWorkflow({ name: 'pay', input })
      .waitForEvent('paid', paid, { key: ({ input }) => input.id })
      .step('ship', () => effects.add('ship'))
    const { engine, clock } = manualEngine({ workflows: [wf] })
    await engine.start(3_600_000)
    const waiting = await engine.enqueue('pay', { id: 'o-1' })
    const delayed = await engine.enqueue('pay', { id: 'o-2' }, { delay: '1h' })
    await until(async () => (await statusOf(engine, waiting.id)) === 'waiting', 'the run to wait')
    expect(await engine.cancel(waiting.id)).toBe(true)
    expect(await engine.cancel(delayed.id)).toBe(true)
    expect(await engine.result(waiting, { timeout: '1s' })).toEqual({ status: 'cancelled' })
    expect(await engine.result(delayed, { timeout: '1s' })).toEqual({ status: 'cancelled' })
    await engine.emit(paid, { key: 'o-1', payload: { amount: 1, at: new Date(0) } })
    await clock.advance(3_600_000)
    await engine.stop()
    expect(await statusOf(engine, waiting.id)).toBe('cancelled')
    expect(await statusOf(engine, delayed.id)).toBe('cancelled')
    expect(effects.entries).toEqual([])
  })

  test('retry of a run that failed after a sleep and a received event neither sleeps again nor needs the event again', async () => {
    const effects = log()
    let fail = true
    const wf = createWorkflow({ name: 'pay', input })
      .step('before', () => effects.add('before'))
      .sleep('cool-off', '1d')
      .waitForEvent('paid', paid, { key: ({ input }) => input.id })
      .step('charge', ({ prev }) => {
        effects.add('charge')
        if (fail) throw new Error('card declined')
        return prev.amount
      })
    const { engine, clock } = manualEngine({ workflows: [wf] })
    await engine.start(3_600_000)
    const run = await engine.enqueue('pay', { id: 'o-1' })
    await until(async () => (await statusOf(engine, run.id)) === 'waiting', 'the sleep')
    await clock.advance(DAY)
    await until(async () => (await engine.getRunStatus(run.id))!.run.wait?.kind === 'event', 'the wait for the event')
    await engine.emit(paid, { key: 'o-1', payload: { amount: 8, at: new Date(0) } })
    const failed = await engine.result(run, { timeout: '5s' })
    expect(failed).toMatchObject({ status: 'failed', stepName: 'charge' })
    fail = false
    const sleptUntil = clock.now()
    expect(await engine.retry(run.id)).toBe(true)
    expect(await engine.result(run, { timeout: '5s' })).toEqual({ status: 'completed', output: 8 })
    expect(clock.now()).toBe(sleptUntil)
    expect(effects.entries).toEqual(['before', 'charge', 'charge'])
    await engine.stop()
  })
})

describe('testEngine', () => {
  test('skips virtual time: a three-day sleep and a one-day event timeout complete at once', async () => {
    const wf = createWorkflow({ name: 'slow', input })
      .step('before', () => 1)
      .sleep('nap', '3d')
      .waitForEvent('paid', paid, { key: ({ input }) => input.id, timeout: '1d' })
      .step('after', ({ prev }) => (prev.received ? 'paid' : 'timed out'))
    const te = testEngine({ workflows: [wf] })
    const started = performance.now()
    const result = await te.run('slow', { id: 'o-1' })
    expect(performance.now() - started).toBeLessThan(5_000)
    expect(result.status).toBe('completed')
    expect(result.steps.nap).toEqual({ output: undefined, status: 'completed', error: null })
    expect(result.steps.paid).toEqual({ output: { received: false }, status: 'completed', error: null })
    expect(result.steps.after.output).toBe('timed out')
  })

  test('a run blocked on an event without a timeout returns waiting; te.emit and te.continue finish it', async () => {
    const wf = createWorkflow({ name: 'pay', input })
      .waitForEvent('paid', paid, { key: ({ input }) => input.id })
      .step('ship', ({ prev }) => prev.amount * 2)
    const te = testEngine({ workflows: [wf] })
    const waiting = await te.run('pay', { id: 'o-1' })
    expect(waiting.status).toBe('waiting')
    expect(waiting.steps.paid.status).toBe('pending')
    await te.emit(paid, { key: 'o-1', payload: { amount: 21, at: new Date(0) } })
    const done = await te.continue(waiting)
    expect(done.status).toBe('completed')
    expect(done.steps.ship.output).toBe(42)
    expect(done.steps.paid.output).toEqual({ amount: 21, at: new Date(0) })
  })
})

test('a wait whose event turns up only as it parks goes on holding its slot: concurrency is never exceeded', async () => {
  let inFlight = 0
  let maxInFlight = 0
  const gate = deferred()
  const wf = createWorkflow({ name: 'order', input })
    .waitForEvent('paid', paid, { key: () => 'k' })
    .step('ship', async () => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      await gate.promise
      inFlight--
    })
  const { engine, storage } = manualEngine({ workflows: [wf] })
  // Both runs wait for the one event. The look before parking misses it (it arrives between the look and the park): the park finds it.
  storage[STORE]().findEvent = async () => null
  await engine.emit(paid, { key: 'k', payload: { amount: 1, at: new Date(0) } })
  await engine.start(3_600_000)
  const a = await engine.enqueue('order', { id: 'a' })
  await until(() => inFlight === 1, 'run a ships')
  await engine.enqueue('order', { id: 'b' })
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve))
  expect(maxInFlight).toBe(1)
  gate.resolve()
  await until(async () => (await engine.getRunStatus(a.id))?.run.status === 'completed', 'a completes')
  await engine.stop()
})
