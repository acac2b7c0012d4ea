/**
 * Store contract cases: durable time and events: park (sleeps and waits for an event), findEvent,
 * emit, and what cancel, retry and recordStep do to a waiting run; the race of an emit on one
 * connection with a park on another.
 */

import assert from 'node:assert/strict'
import type { RunWait } from '../../src/core/types.ts'
import type { NewEvent, Store } from '../../src/storage/store.ts'
import { advance, claimOne, COMPLETE, held, ids, LEASE, newRun, request, step, T, THIEF, WF, type Held, type StoreSuite } from './store-fixtures.ts'

const EVENT = 'order.paid'
const DAY = 86_400_000

function sleep(until: number, name = 'a'): RunWait {
  return { kind: 'sleep', step: name, until }
}

function waitFor(key: string, over: Partial<Extract<RunWait, { kind: 'event' }>> = {}): RunWait {
  return { kind: 'event', step: 'a', event: EVENT, key, timeoutAt: null, ...over }
}

function event(key: string, now: number, over: Partial<NewEvent> = {}): NewEvent {
  return { name: EVENT, key, payloadJson: JSON.stringify({ key, now }), idempotencyKey: null, now, ...over }
}

/** Creates run `id` at T and claims it at T. */
async function running(s: Store, id = 'r1'): Promise<Held> {
  await s.createRun(newRun(id))
  const [claim] = await s.claim(request({ now: T }))
  assert.equal(claim?.id, id)
  return held(claim)
}

export function waitCases({ group, it, race }: StoreSuite): void {
  group('park', () => {
    it('a sleep: running → waiting, the lease released, due at until, claimable then with its wait kept', async (s) => {
      const r = await running(s)
      const wait = sleep(T + DAY)
      assert.deepEqual(await s.park(r, wait, T + 1), { parked: true })
      const run = (await s.getRun('r1'))!
      assert.equal(run.status, 'waiting')
      assert.equal(run.leaseId, null)
      assert.equal(run.availableAt, T + DAY)
      assert.deepEqual(run.wait, wait)
      assert.deepEqual(await s.leaseStates([r]), ['lost'])
      assert.equal(await s.recordStep(r, step('a'), T + 2, advance('b')), false, 'the old lease records nothing')
      assert.equal(await s.nextDueAt([WF], T + 1), T + DAY)
      assert.deepEqual(await s.claim(request({ now: T + DAY - 1, includeExpired: true })), [])
      const c = await claimOne(s, T + DAY)
      assert.equal(c.status, 'running')
      assert.notEqual(c.leaseId, r.leaseId)
      assert.deepEqual(c.wait, wait)
      assert.equal(c.attempt, 0)
      assert.equal(c.interruptions, 0, 'a wake-up is no interruption')
    })

    it('recording the waiting step clears the wait', async (s) => {
      const r = await running(s)
      await s.park(r, sleep(T + 10), T)
      const c = await claimOne(s, T + 10)
      assert.equal(await s.recordStep(c, step('a'), T + 11, advance('b')), true)
      const run = (await s.getRun('r1'))!
      assert.equal(run.wait, null)
      assert.equal(run.currentStep, 'b')
    })

    it('a wait for an event without a timeout is never due by time; only an emit of its name and key wakes it', async (s) => {
      const r = await running(s)
      const wait = waitFor('k1')
      assert.deepEqual(await s.park(r, wait, T + 1), { parked: true })
      const run = (await s.getRun('r1'))!
      assert.equal(run.status, 'waiting')
      assert.equal(run.availableAt, null)
      assert.deepEqual(run.wait, wait)
      assert.equal(await s.nextDueAt([WF], T + 1), null)
      const later = T + 365 * DAY
      assert.deepEqual(await s.claim(request({ now: later, includeExpired: true })), [])
      await s.emit(event('k2', T + 2))
      await s.emit(event('k1', T + 3, { name: 'order.shipped' }))
      assert.deepEqual(await s.claim(request({ now: later, includeExpired: true })), [], 'other keys and names wake nothing')
      assert.equal(await s.findEvent('r1', EVENT, 'k1'), null)
      const emitted = await s.emit(event('k1', T + 4))
      assert.equal(emitted.created, true)
      assert.equal((await s.getRun('r1'))?.availableAt, T + 4, 'due at once')
      const c = await claimOne(s, T + 4)
      assert.deepEqual(c.wait, wait)
      assert.deepEqual(await s.findEvent('r1', EVENT, 'k1'), { id: emitted.id, payloadJson: JSON.stringify({ key: 'k1', now: T + 4 }) })
    })

    it('a wait for an event with a timeout is due at the timeout, or earlier at an emit', async (s) => {
      const r1 = await running(s, 'r1')
      const r2 = await running(s, 'r2')
      await s.park(r1, waitFor('k1', { timeoutAt: T + DAY }), T)
      await s.park(r2, waitFor('k2', { timeoutAt: T + DAY }), T)
      assert.equal((await s.getRun('r1'))?.availableAt, T + DAY)
      assert.equal(await s.nextDueAt([WF], T), T + DAY)
      await s.emit(event('k2', T + 5))
      assert.deepEqual(ids(await s.claim(request({ now: T + 5 }))), ['r2'])
      assert.deepEqual(await s.claim(request({ now: T + DAY - 1 })), [])
      assert.deepEqual(ids(await s.claim(request({ now: T + DAY }))), ['r1'])
      assert.equal(await s.findEvent('r1', EVENT, 'k1'), null, 'timed out: no event')
    })

    it('with a matching event already stored since the run was created: returns it and parks nothing', async (s) => {
      const r = await running(s)
      const emitted = await s.emit(event('k1', T + 1))
      const parked = await s.park(r, waitFor('k1'), T + 2)
      assert.deepEqual(parked, { parked: false, event: { id: emitted.id, payloadJson: JSON.stringify({ key: 'k1', now: T + 1 }) } })
      const run = (await s.getRun('r1'))!
      assert.equal(run.status, 'running')
      assert.equal(run.leaseId, r.leaseId)
      assert.deepEqual(await s.leaseStates([r]), ['held'])
      assert.equal(await s.recordStep(r, step('a', { eventId: emitted.id }), T + 3, COMPLETE), true)
    })

    it('events emitted before the run was created are not received', async (s) => {
      await s.emit(event('k1', T - 1))
      const r = await running(s)
      assert.equal(await s.findEvent('r1', EVENT, 'k1'), null)
      assert.deepEqual(await s.park(r, waitFor('k1'), T + 1), { parked: true })
      assert.deepEqual(await s.claim(request({ now: T + DAY })), [])
    })

    it('the earliest unreceived event first; one a step received is not found again for the run, but is for another run', async (s) => {
      const r = await running(s)
      await s.createRun(newRun('other'))
      const first = await s.emit(event('k1', T + 1))
      const second = await s.emit(event('k1', T + 2))
      assert.equal((await s.findEvent('r1', EVENT, 'k1'))?.id, first.id)
      await s.recordStep(r, step('a', { eventId: first.id }), T + 3, advance('b'))
      assert.equal((await s.findEvent('r1', EVENT, 'k1'))?.id, second.id)
      assert.equal((await s.findEvent('other', EVENT, 'k1'))?.id, first.id)
      const parked = await s.park(r, { ...waitFor('k1'), step: 'b' }, T + 4)
      assert.deepEqual(parked, { parked: false, event: { id: second.id, payloadJson: JSON.stringify({ key: 'k1', now: T + 2 }) } })
      await s.recordStep(r, step('b', { eventId: second.id }), T + 5, advance('c'))
      assert.equal(await s.findEvent('r1', EVENT, 'k1'), null)
      assert.deepEqual(await s.park(r, { ...waitFor('k1'), step: 'c' }, T + 6), { parked: true })
      assert.equal(await s.findEvent('unknown', EVENT, 'k1'), null)
    })

    it('is fenced: under a stale lease it returns null and changes nothing', async (s) => {
      const old = await running(s)
      const thief = await claimOne(s, T + LEASE, { includeExpired: true, owner: THIEF })
      await s.emit(event('k1', T + LEASE))
      assert.equal(await s.park(old, sleep(T + DAY), T + LEASE + 1), null)
      assert.equal(await s.park(old, waitFor('k1'), T + LEASE + 1), null, 'not even when the event is there')
      assert.equal(await s.park(old, waitFor('k2'), T + LEASE + 1), null)
      const run = (await s.getRun('r1'))!
      assert.equal(run.status, 'running')
      assert.equal(run.leaseId, thief.leaseId)
      assert.equal(run.wait, null)
      assert.equal(await s.park({ runId: 'nope', leaseId: 'x' }, sleep(T), T), null)
    })
  })

  group('emit', () => {
    it('wakes every run waiting for its name and key, and only those', async (s) => {
      const runs = ['w1', 'w2', 'w3', 'other-key', 'sleeping'].map((id) => newRun(id))
      for (const run of runs) await s.createRun(run)
      const claims = new Map((await s.claim(request())).map((c) => [c.id, held(c)]))
      for (const id of ['w1', 'w2', 'w3']) await s.park(claims.get(id)!, waitFor('k1'), T)
      await s.park(claims.get('other-key')!, waitFor('k2'), T)
      await s.park(claims.get('sleeping')!, sleep(T + DAY), T)
      await s.emit(event('k1', T + 7))
      assert.deepEqual(ids(await s.claim(request({ now: T + 7 }))).sort(), ['w1', 'w2', 'w3'])
      assert.equal((await s.getRun('other-key'))?.availableAt, null)
      assert.equal((await s.getRun('sleeping'))?.availableAt, T + DAY)
    })

    it('with an idempotency key used for the name: stores nothing and returns the first event', async (s) => {
      const r = await running(s)
      const first = await s.emit(event('k1', T + 1, { idempotencyKey: 'once', payloadJson: '"first"' }))
      assert.equal(first.created, true)
      assert.equal(first.payloadJson, '"first"')
      const again = await s.emit(event('k1', T + 2, { idempotencyKey: 'once', payloadJson: '"second"' }))
      assert.deepEqual(again, { id: first.id, created: false, payloadJson: '"first"' })
      const otherName = await s.emit(event('k1', T + 3, { idempotencyKey: 'once', name: 'order.shipped' }))
      assert.equal(otherName.created, true)
      assert.notEqual(otherName.id, first.id)
      const plain = [await s.emit(event('k1', T + 4)), await s.emit(event('k1', T + 4))]
      assert.ok(plain.every((e) => e.created))
      assert.notEqual(plain[0]!.id, plain[1]!.id)
      // The duplicate stored nothing: after the first, the next event the run finds is a plain one.
      await s.recordStep(r, step('a', { eventId: first.id }), T + 5, advance('b'))
      assert.equal((await s.findEvent('r1', EVENT, 'k1'))?.id, plain[0]!.id)
    })
  })

  group('cancel and retry of waiting runs', () => {
    it('cancel: waiting → cancelled at once; a later emit or due time does not revive it', async (s) => {
      const r1 = await running(s, 'r1')
      const r2 = await running(s, 'r2')
      await s.park(r1, waitFor('k1'), T)
      await s.park(r2, sleep(T + 10), T)
      assert.equal(await s.cancel('r1', T + 1), true)
      assert.equal(await s.cancel('r2', T + 1), true)
      for (const id of ['r1', 'r2']) {
        const run = (await s.getRun(id))!
        assert.equal(run.status, 'cancelled')
        assert.equal(run.availableAt, null)
        assert.equal(run.finishedAt, T + 1)
      }
      await s.emit(event('k1', T + 2))
      assert.equal((await s.getRun('r1'))?.status, 'cancelled')
      assert.deepEqual(await s.claim(request({ now: T + DAY, includeExpired: true })), [])
      assert.equal(await s.nextDueAt([WF], T + 2), null)
    })

    it('retry clears the wait: the run resumes at its step as if it never got there', async (s) => {
      const r = await running(s)
      await s.park(r, waitFor('k1', { timeoutAt: T + DAY }), T)
      await s.cancel('r1', T + 1)
      assert.equal(await s.retry('r1', T + 2), true)
      const run = (await s.getRun('r1'))!
      assert.equal(run.status, 'pending')
      assert.equal(run.wait, null)
      assert.equal(run.currentStep, 'a')
      const c = await claimOne(s, T + 2)
      assert.equal(c.wait, null)
      // An emit no longer wakes anything: the run is not waiting.
      await s.emit(event('k1', T + 3))
      assert.equal((await s.getRun('r1'))?.status, 'running')
    })
  })

  group('wait races', () => {
    race('an emit on one connection racing a park on another never loses the event', 2, async ([a, b]) => {
      let parked = 0
      let found = 0
      for (let i = 0; i < 300; i++) {
        const id = `r${String(i).padStart(3, '0')}`
        const key = `k${i}`
        await a!.createRun(newRun(id))
        const [claim] = await a!.claim(request({ now: T, limit: 1 }))
        assert.equal(claim?.id, id)
        // Each connection commits on its own queue; which one goes first alternates, so both orders occur.
        const parking = () => a!.park(held(claim), waitFor(key), T + 1)
        const emitting = () => b!.emit(event(key, T + 1))
        const [park, emitted] =
          i % 2 === 0 ? await Promise.all([parking(), emitting()]) : await Promise.all([emitting(), parking()]).then(([e, p]) => [p, e] as const)
        assert.ok(park, `${id}: the lease was held`)
        if (park.parked) {
          parked++
          const woken = await b!.claim(request({ now: T + 1, limit: 5 }))
          assert.deepEqual(ids(woken), [id], `${id}: parked before the emit, so the emit woke it`)
          assert.equal((await b!.findEvent(id, EVENT, key))?.id, emitted.id)
          await b!.recordStep(held(woken[0]!), step('a', { eventId: emitted.id }), T + 2, COMPLETE)
        } else {
          found++
          assert.equal(park.event.id, emitted.id, `${id}: the emit came first, so park returned it`)
          await a!.recordStep(held(claim), step('a', { eventId: emitted.id }), T + 2, COMPLETE)
        }
      }
      assert.equal(parked + found, 300)
      assert.ok(parked > 0 && found > 0, `both orders occurred (parked first ${parked}, emitted first ${found})`)
    })
  })
}
