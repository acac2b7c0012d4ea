/**
 * Store contract cases: what other connections see and do: change notification and races.
 */

import assert from 'node:assert/strict'
import type { Claim } from '../../src/storage/store.ts'
import { settle, signal } from './harness.ts'
import {
  advance,
  attempt,
  claimOne,
  COMPLETE,
  held,
  ids,
  LEASE,
  newRun,
  request,
  step,
  T,
  WF,
  type StoreSuite,
} from './store-fixtures.ts'

export function connectionCases({ group, race, pair }: StoreSuite): void {
  group('changes', () => {
    pair('the version moves with each transition another connection commits', async (writer, observer) => {
      assert.ok(observer.changes, 'the store offers a change source')
      let before = observer.changes.version()
      const moved = (what: string) => {
        const now = observer.changes!.version()
        assert.notEqual(now, before, `the version moved after ${what}`)
        before = now
      }
      await writer.createRun(newRun('r1'))
      moved('createRun')
      const c1 = await claimOne(writer, T)
      moved('claim')
      await writer.heartbeat([c1], T + 1, LEASE)
      moved('heartbeat')
      await writer.recordStep(c1, step('a'), T + 2, advance('b'))
      moved('recordStep')
      await writer.recordFailure(c1, step('b', { status: 'failed', error: 'x' }), attempt('b'), T + 3, false)
      moved('recordFailure')
      await writer.release(c1, { availableAt: T + 4, attempt: 1, interruptions: 0 }, T + 3)
      moved('release')
      const c2 = await claimOne(writer, T + 4)
      moved('claim')
      await writer.finish(c2, 'failed', T + 5)
      moved('finish')
      await writer.retry('r1', T + 6)
      moved('retry')
      await writer.cancel('r1', T + 7)
      moved('cancel')
    })

    pair('reads and empty claims leave the version where it was', async (writer, observer) => {
      assert.ok(observer.changes, 'the store offers a change source')
      // Created by the observer itself: the version counts other connections' writes, and another's
      // notification may arrive late (Postgres delivers it after the commit, asynchronously).
      await observer.createRun(newRun('r1', { availableAt: T + 1_000 }))
      const before = observer.changes.version()
      await writer.getRun('r1')
      await writer.getSteps('r1')
      await writer.getAttempts('r1')
      await writer.leaseStates([{ runId: 'r1', leaseId: 'x' }])
      await writer.nextDueAt([WF], T)
      await writer.unknownWorkflows([], 10)
      assert.deepEqual(await writer.claim(request({ now: T, includeExpired: true })), [])
      assert.deepEqual(await writer.claim(request({ workflows: ['other'], now: T + 2_000 })), [])
      assert.equal(observer.changes.version(), before)
    })

    pair('watch calls back after another connection’s write, never inside a store call, until stopped', async (writer, observer) => {
      assert.ok(observer.changes, 'the store offers a change source')
      let calls = 0
      let inside = false
      let calledInside = false
      const first = signal()
      const stop = observer.changes.watch(() => {
        calls++
        if (inside) calledInside = true
        first.fire()
      })!
      inside = true
      const created = writer.createRun(newRun('r1'))
      inside = false
      await created
      await first.wait('a change notification')
      assert.equal(calledInside, false)
      stop()
      await settle()
      const seen = calls
      // A second watcher is the event that says the next write's notifications have been delivered.
      const second = signal()
      const stopSecond = observer.changes.watch(second.fire)!
      await writer.createRun(newRun('r2'))
      await second.wait('the second watcher’s notification')
      await settle()
      stopSecond()
      assert.equal(calls, seen, 'no notification after stopping')
    })
  })

  group('races', () => {
    race('N connections claiming M runs concurrently take each run exactly once', 4, async (conns) => {
      const all = Array.from({ length: 60 }, (_, i) => `r${String(i).padStart(2, '0')}`)
      for (const id of all) await conns[0]!.createRun(newRun(id))
      // A third of them first run under leases that then expire, for the claims of expired runs.
      await conns[0]!.claim(request({ limit: 20 }))
      const now = T + LEASE
      const perConnection = await Promise.all(
        conns.map(async (c, i) => {
          const mine: Claim[] = []
          for (let round = 0; ; round++) {
            const includeExpired = i % 2 === 0 || round % 2 === 0
            const batch = await c.claim(request({ now, includeExpired, limit: 1 + ((round + i) % 3), owner: `conn ${i}` }))
            if (batch.length === 0 && includeExpired) return mine
            mine.push(...batch)
          }
        }),
      )
      const claimed = perConnection.flat()
      assert.equal(claimed.length, all.length, 'no run taken twice')
      assert.deepEqual(ids(claimed).sort(), all)
      for (const c of claimed) assert.equal((await conns[3]!.getRun(c.id))?.leaseId, c.leaseId)
    })

    race('of several connections reclaiming one expired run, one wins and one interruption counts', 4, async (conns) => {
      await conns[0]!.createRun(newRun('r1'))
      const old = await claimOne(conns[0]!, T)
      const claims = conns.flatMap((c, i) =>
        [0, 1].map((j) => c.claim(request({ now: T + LEASE, includeExpired: true, owner: `conn ${i}.${j}` }))),
      )
      const results = await Promise.all(claims)
      const winners = results.flat()
      assert.equal(winners.length, 1)
      const winner = winners[0]!
      assert.notEqual(winner.leaseId, old.leaseId)
      for (const c of conns) assert.deepEqual(await c.leaseStates([held(winner), old]), ['held', 'lost'])
      assert.equal((await conns[1]!.getRun('r1'))?.interruptions, 1)
      assert.equal((await conns[2]!.getAttempts('r1')).length, 1)
    })

    race('of several writers holding the same stale lease none writes; the new holder does', 4, async (conns) => {
      await conns[0]!.createRun(newRun('r1'))
      const old = await claimOne(conns[1]!, T)
      const fresh = await claimOne(conns[2]!, T + LEASE, { includeExpired: true })
      const now = T + LEASE + 1
      const stale = await Promise.all(
        conns.flatMap((c, i) => [
          c.recordStep(old, step(`stale-${i}`), now, COMPLETE),
          c.recordStep(old, step(`stale-next-${i}`), now, advance('x')),
          c.recordFailure(old, step(`stale-failed-${i}`, { status: 'failed', error: 'x' }), attempt(`stale-${i}`), now, true),
          c.finish(old, 'failed', now),
          c.release(old, { availableAt: now, attempt: 1, interruptions: 0, attemptRecord: attempt(`stale-release-${i}`) }, now),
        ]),
      )
      assert.deepEqual(stale, stale.map(() => false))
      const heartbeats = await Promise.all(conns.map((c) => c.heartbeat([old], now, LEASE)))
      assert.deepEqual(heartbeats, conns.map(() => ['lost']))
      assert.deepEqual(await conns[3]!.getSteps('r1'), [])
      assert.deepEqual((await conns[3]!.getAttempts('r1')).map((a) => a.status), ['interrupted'])
      const run = await conns[0]!.getRun('r1')
      assert.deepEqual([run?.status, run?.leaseId, run?.availableAt], ['running', fresh.leaseId, fresh.availableAt])
      const current = await Promise.all(conns.map((c, i) => c.recordStep(fresh, step(`fresh-${i}`), now, advance('b'))))
      assert.deepEqual(current, [true, true, true, true])
      assert.equal(await conns[3]!.finish(fresh, 'completed', now), true)
      assert.equal((await conns[0]!.getRun('r1'))?.status, 'completed')
      assert.deepEqual((await conns[1]!.getSteps('r1')).map((x) => x.name).sort(), ['fresh-0', 'fresh-1', 'fresh-2', 'fresh-3'])
    })

    race('of connections racing to create one idempotency key, exactly one creates', 4, async (conns) => {
      const creates = conns.flatMap((c, i) => [0, 1].map((j) => c.createRun(newRun(`r${i}-${j}`, { idempotencyKey: 'once' }))))
      const results = await Promise.all(creates)
      assert.equal(results.filter((x) => x.created).length, 1)
      const id = results.find((x) => x.created)!.run.id
      for (const x of results) assert.equal(x.run.id, id)
      assert.deepEqual(ids(await conns[3]!.claim(request())), [id])
    })

    race('a cancel racing a completion on another connection: exactly one applies', 2, async ([a, b]) => {
      const runs = Array.from({ length: 10 }, (_, i) => `r${i}`)
      for (const id of runs) await a!.createRun(newRun(id))
      const claims = (await a!.claim(request({ limit: runs.length }))).map(held)
      assert.equal(claims.length, runs.length)
      for (const [i, c] of claims.entries()) {
        // Alternate which connection's write is issued first.
        const [cancelled, completed] =
          i % 2 === 0
            ? await Promise.all([b!.cancel(c.id, T + 1), a!.recordStep(c, step('a'), T + 1, COMPLETE)])
            : await Promise.all([a!.cancel(c.id, T + 1), b!.recordStep(c, step('a'), T + 1, COMPLETE)])
        assert.notEqual(cancelled, completed, c.id)
        const status = (await a!.getRun(c.id))?.status
        assert.equal(status, cancelled ? 'cancelled' : 'completed')
        assert.deepEqual((await b!.getSteps(c.id)).length, completed ? 1 : 0)
      }
    })
  })
}
