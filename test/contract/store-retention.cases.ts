/**
 * Store contract cases: retention and purge. purgeFinished deletes exactly the finished runs of the
 * given statuses that finished before the cutoff, in batches, never a pending, running or waiting
 * run; purgeEvents deletes old events only; the named lease is held by one holder at a time.
 */

import assert from 'node:assert/strict'
import type { Store } from '../../src/storage/store.ts'
import { advance, attempt, claimById, COMPLETE, newRun, step, T, type StoreSuite } from './store-fixtures.ts'

const MINUTE = 60_000

/**
 * One run of each kind: completed at T+1m (c1) and T+3m (c2), failed at T+1m (f1), cancelled at
 * T+1m (x1), and still pending (p1), running (r1) and waiting (w1).
 */
async function population(s: Store): Promise<void> {
  for (const id of ['c1', 'c2', 'f1', 'x1', 'r1', 'w1']) await s.createRun(newRun(id))
  const held = await claimById(s)
  await s.recordStep(held.get('c1')!, step('a'), T + MINUTE, advance('b'))
  await s.recordStep(held.get('c1')!, step('b'), T + MINUTE, COMPLETE)
  await s.recordStep(held.get('c2')!, step('a'), T + 3 * MINUTE, COMPLETE)
  await s.recordFailure(held.get('f1')!, step('a', { status: 'failed', error: 'boom' }), attempt('a'), T + MINUTE, true)
  await s.cancel('x1', T + MINUTE)
  await s.park(held.get('w1')!, { kind: 'sleep', step: 'a', until: T + 1000 * MINUTE }, T)
  await s.createRun(newRun('p1', { createdAt: T + 5 * MINUTE, availableAt: T + 1000 * MINUTE }))
}

async function statuses(s: Store): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const id of ['c1', 'c2', 'f1', 'x1', 'p1', 'r1', 'w1']) out[id] = (await s.getRun(id))?.status ?? 'deleted'
  return out
}

export function retentionCases({ group, it, pair, race }: StoreSuite): void {
  group('purgeFinished', () => {
    it('deletes exactly the runs of the statuses that finished before the cutoff, with their steps and attempts', async (s) => {
      await population(s)
      const batch = await s.purgeFinished!({ statuses: ['completed'], finishedBefore: T + 2 * MINUTE, limit: 100 })
      assert.deepEqual(batch, { runs: 1, steps: 2, groups: [{ workflow: 'orders', status: 'completed', runs: 1, steps: 2 }] })
      assert.deepEqual(await s.getSteps('c1'), [])
      const failed = await s.purgeFinished!({ statuses: ['failed'], finishedBefore: T + MINUTE + 1, limit: 100 })
      assert.equal(failed.runs, 1)
      assert.deepEqual(await s.getAttempts('f1'), [])
      assert.deepEqual(await statuses(s), { c1: 'deleted', c2: 'completed', f1: 'deleted', x1: 'cancelled', p1: 'pending', r1: 'running', w1: 'waiting' })
      assert.equal((await s.purgeFinished!({ statuses: ['cancelled'], finishedBefore: T + MINUTE, limit: 100 })).runs, 0, 'strictly before')
    })

    it('goes in batches of at most limit runs, oldest first, and never deletes a pending, running or waiting run', async (s) => {
      await population(s)
      const all = ['completed', 'failed', 'cancelled'] as const
      const first = await s.purgeFinished!({ statuses: all, finishedBefore: T + 10_000 * MINUTE, limit: 3 })
      assert.equal(first.runs, 3)
      assert.equal((await s.getRun('c2'))?.status, 'completed', 'the newest finished run is left for the next batch')
      const second = await s.purgeFinished!({ statuses: all, finishedBefore: T + 10_000 * MINUTE, limit: 3 })
      assert.equal(second.runs, 1)
      const statusesAsked = ['pending', 'running', 'waiting'] as never[]
      const guarded = await s.purgeFinished!({ statuses: statusesAsked, finishedBefore: T + 10_000 * MINUTE, limit: 100 })
      assert.equal(guarded.runs, 0, 'the guard is in the store itself')
      assert.deepEqual(await statuses(s), { c1: 'deleted', c2: 'deleted', f1: 'deleted', x1: 'deleted', p1: 'pending', r1: 'running', w1: 'waiting' })
      const after = await claimById(s)
      assert.deepEqual([...after.keys()], [], 'nothing due: the waiting and pending runs are not due yet')
    })
  })

  group('purgeEvents', () => {
    it('deletes events created before the cutoff, at most limit per call; younger events are still received', async (s) => {
      for (let i = 0; i < 5; i++) await s.emit({ name: 'paid', key: 'k', payloadJson: String(i), idempotencyKey: null, now: T + i * MINUTE })
      assert.equal(await s.purgeEvents!(T + 3 * MINUTE, 2), 2)
      assert.equal(await s.purgeEvents!(T + 3 * MINUTE, 2), 1)
      assert.equal(await s.purgeEvents!(T + 3 * MINUTE, 2), 0)
      await s.createRun(newRun('r1', { createdAt: T }))
      assert.equal((await s.findEvent('r1', 'paid', 'k'))?.payloadJson, '3')
      const again = await s.emit({ name: 'paid', key: 'k', payloadJson: '5', idempotencyKey: null, now: T + 6 * MINUTE })
      assert.ok(again.id > 5, 'event ids are never reused')
    })
  })

  group('named lease', () => {
    pair('one holder at a time: taken when free, expired or ours; released only by its holder', async (a, b) => {
      assert.equal(await a.acquireLease!('retention', 'A', T, MINUTE), true)
      assert.equal(await b.acquireLease!('retention', 'B', T + MINUTE - 1, MINUTE), false)
      assert.equal(await a.acquireLease!('retention', 'A', T + MINUTE - 1, MINUTE), true, 'renewed by its holder')
      assert.equal(await b.acquireLease!('retention', 'B', T + 2 * MINUTE - 2, MINUTE), false, 'the renewal moved the expiry')
      await b.releaseLease!('retention', 'B')
      assert.equal(await b.acquireLease!('retention', 'B', T + 2 * MINUTE - 1, MINUTE), true, 'expired: taken over')
      assert.equal(await a.acquireLease!('retention', 'A', T + 2 * MINUTE, MINUTE), false, 'the old holder cannot renew')
      await a.releaseLease!('retention', 'A')
      assert.equal(await a.acquireLease!('retention', 'A', T + 2 * MINUTE, MINUTE), false, 'a non-holder cannot release it')
      await b.releaseLease!('retention', 'B')
      assert.equal(await a.acquireLease!('retention', 'A', T + 2 * MINUTE, MINUTE), true, 'released: free')
      assert.equal(await b.acquireLease!('other', 'B', T + 2 * MINUTE, MINUTE), true, 'leases are by name')
    })

    race('of several connections taking a free lease at once, exactly one gets it', 4, async (conns) => {
      const got = await Promise.all(conns.map((c, i) => c.acquireLease!('retention', `holder ${i}`, T, MINUTE)))
      assert.equal(got.filter(Boolean).length, 1)
    })
  })
}
