/**
 * Store contract cases: creating and claiming runs: initialize and close, createRun, claim,
 * heartbeat.
 */

import assert from 'node:assert/strict'
import { InvalidArgumentError, StorageError } from '../../src/core/errors.ts'
import type { RunDetails } from '../../src/core/types.ts'
import type { Claim, Lease } from '../../src/storage/store.ts'
import {
  advance,
  attempt,
  claimById,
  claimOne,
  COMPLETE,
  ids,
  LEASE,
  newRun,
  OWNER,
  request,
  result,
  step,
  T,
  THIEF,
  WF,
  type StoreSuite,
} from './store-fixtures.ts'

export function claimCases({ group, test, open, it }: StoreSuite): void {
  group('initialize / close', () => {
    it('initialize again keeps what is stored', async (s) => {
      await s.createRun(newRun('r1'))
      await s.initialize()
      assert.equal((await s.getRun('r1'))?.status, 'pending')
    })

    test('after close every method fails with a rejected promise, never a synchronous throw', async () => {
      const s = await open()
      await s.createRun(newRun('r1'))
      assert.equal(typeof s.close, 'function')
      s.close!()
      const lease = { runId: 'r1', leaseId: 'x' }
      const calls: Record<string, () => Promise<unknown>> = {
        createRun: () => s.createRun(newRun('r2')),
        claim: () => s.claim(request()),
        heartbeat: () => s.heartbeat([lease], T, LEASE),
        recordStep: () => s.recordStep(lease, step('a'), T, COMPLETE),
        recordFailure: () => s.recordFailure(lease, step('a'), attempt('a'), T, true),
        finish: () => s.finish(lease, 'completed', T),
        release: () => s.release(lease, { availableAt: T, attempt: 0, interruptions: 0 }, T),
        cancel: () => s.cancel('r1', T),
        retry: () => s.retry('r1', T),
        getRun: () => s.getRun('r1'),
        getSteps: () => s.getSteps('r1'),
        getAttempts: () => s.getAttempts('r1'),
        leaseStates: () => s.leaseStates([lease]),
        nextDueAt: () => s.nextDueAt([WF], T),
        unknownWorkflows: () => s.unknownWorkflows([WF], 10),
      }
      for (const [method, call] of Object.entries(calls)) {
        let result: Promise<unknown> | undefined
        assert.doesNotThrow(() => void (result = call()), `${method} throws synchronously`)
        await assert.rejects(result!, StorageError, method)
      }
    })
  })

  group('createRun', () => {
    it('creates a pending run, due at availableAt, at its first step', async (s) => {
      const result = await s.createRun(newRun('r1', { availableAt: T + 500, input: { n: 1 } }))
      const expected: RunDetails = {
        id: 'r1',
        workflow: WF,
        input: { n: 1 },
        status: 'pending',
        idempotencyKey: null,
        createdAt: T,
        updatedAt: T,
        availableAt: T + 500,
        currentStep: 'a',
        wait: null,
        attempt: 0,
        interruptions: 0,
        leaseId: null,
        leaseOwner: null,
        heartbeatAt: null,
        startedAt: null,
        finishedAt: null,
        schedule: null,
      }
      assert.deepEqual(result, { run: expected, created: true })
      assert.deepEqual(await s.getRun('r1'), expected)
      await s.createRun(newRun('none', { firstStep: null, input: undefined }))
      const none = await s.getRun('none')
      assert.equal(none?.currentStep, null)
      assert.equal(none?.input, undefined)
    })

    it('with an idempotency key a run of the workflow already has: writes nothing, returns that run', async (s) => {
      await s.createRun(newRun('r1', { idempotencyKey: 'k' }))
      await claimOne(s, T + 10)
      const second = await s.createRun(newRun('r2', { idempotencyKey: 'k', createdAt: T + 20, availableAt: T + 20 }))
      assert.equal(second.created, false)
      assert.deepEqual(second.run, await s.getRun('r1'))
      assert.equal(second.run.status, 'running')
      assert.equal(await s.getRun('r2'), null)
    })

    it('scopes idempotency keys to the workflow; runs without a key are never deduplicated', async (s) => {
      assert.equal((await s.createRun(newRun('a1', { idempotencyKey: 'k' }))).created, true)
      assert.equal((await s.createRun(newRun('b1', { idempotencyKey: 'k', workflow: 'other' }))).created, true)
      assert.equal((await s.createRun(newRun('n1'))).created, true)
      assert.equal((await s.createRun(newRun('n2'))).created, true)
      assert.equal((await s.getRun('b1'))?.workflow, 'other')
      assert.deepEqual(ids(await s.claim(request({ workflows: [WF, 'other'] }))), ['a1', 'b1', 'n1', 'n2'])
    })

    it('refuses a run id already taken, leaving the first run as it was', async (s) => {
      await s.createRun(newRun('r1', { input: 'first' }))
      await assert.rejects(s.createRun(newRun('r1', { input: 'second' })), StorageError)
      assert.equal((await s.getRun('r1'))?.input, 'first')
    })

    it('of concurrent calls with one key on one store, exactly one creates', async (s) => {
      const creates = Array.from({ length: 8 }, (_, i) => s.createRun(newRun(`r${i}`, { idempotencyKey: 'k' })))
      const results = await Promise.all(creates)
      assert.equal(results.filter((x) => x.created).length, 1)
      const winner = results.find((x) => x.created)!.run.id
      for (const x of results) assert.equal(x.run.id, winner)
      assert.deepEqual(ids(await s.claim(request())), [winner])
    })
  })

  group('claim', () => {
    it('takes a due run: running under a fresh lease expiring at now + leaseMs, owner and start recorded', async (s) => {
      await s.createRun(newRun('r1', { input: { n: 1 } }))
      await s.createRun(newRun('r2'))
      const [a, b] = await s.claim(request({ now: T + 100 }))
      assert.ok(a && b)
      assert.equal(typeof a.leaseId, 'string')
      assert.ok(a.leaseId.length > 0)
      assert.notEqual(a.leaseId, b.leaseId)
      const expected: Claim = {
        id: 'r1',
        workflow: WF,
        input: { n: 1 },
        status: 'running',
        idempotencyKey: null,
        createdAt: T,
        updatedAt: T + 100,
        availableAt: T + 100 + LEASE,
        currentStep: 'a',
        wait: null,
        attempt: 0,
        interruptions: 0,
        leaseId: a.leaseId,
        leaseOwner: OWNER,
        heartbeatAt: T + 100,
        startedAt: T + 100,
        finishedAt: null,
        schedule: null,
        steps: [],
      }
      assert.deepEqual(a, expected)
      const { steps: _, ...run } = expected
      assert.deepEqual(await s.getRun('r1'), run)
      assert.deepEqual(await s.claim(request({ now: T + 100 })), [])
    })

    it('takes a run due in the future only once now reaches its due time', async (s) => {
      await s.createRun(newRun('later', { availableAt: T + 1_000 }))
      assert.deepEqual(await s.claim(request({ now: T })), [])
      assert.deepEqual(await s.claim(request({ now: T + 999, includeExpired: true })), [])
      assert.deepEqual(ids(await s.claim(request({ now: T + 1_000 }))), ['later'])
    })

    it('takes the runs due earliest first, ties in creation order, up to limit', async (s) => {
      await s.createRun(newRun('late', { availableAt: T + 30 }))
      await s.createRun(newRun('early', { availableAt: T + 10 }))
      await s.createRun(newRun('tie-1', { availableAt: T + 20 }))
      await s.createRun(newRun('tie-2', { availableAt: T + 20 }))
      assert.deepEqual(ids(await s.claim(request({ now: T + 100, limit: 2 }))), ['early', 'tie-1'])
      assert.deepEqual(ids(await s.claim(request({ now: T + 100, limit: 1 }))), ['tie-2'])
      assert.deepEqual(ids(await s.claim(request({ now: T + 100, limit: 10 }))), ['late'])
      assert.deepEqual(await s.claim(request({ now: T + 100 })), [])
    })

    it('takes nothing with limit 0 and refuses a negative or fractional limit', async (s) => {
      await s.createRun(newRun('r1'))
      assert.deepEqual(await s.claim(request({ limit: 0 })), [])
      await assert.rejects(s.claim(request({ limit: -1 })), InvalidArgumentError)
      await assert.rejects(s.claim(request({ limit: 1.5 })), InvalidArgumentError)
      assert.equal((await s.getRun('r1'))?.status, 'pending')
    })

    it('takes only runs of the given workflows, none for an empty list', async (s) => {
      await s.createRun(newRun('a', { workflow: 'alpha' }))
      await s.createRun(newRun('b', { workflow: 'beta' }))
      await s.createRun(newRun('c', { workflow: 'gamma' }))
      assert.deepEqual(await s.claim(request({ workflows: [] })), [])
      assert.deepEqual(await s.claim(request({ workflows: ['nope'] })), [])
      assert.deepEqual(ids(await s.claim(request({ workflows: ['gamma', 'alpha'] }))), ['a', 'c'])
      assert.equal((await s.getRun('b'))?.status, 'pending')
    })

    it('returns each run with its recorded steps in recording order; startedAt stays the first claim’s', async (s) => {
      await s.createRun(newRun('with-steps'))
      await s.createRun(newRun('bare', { availableAt: T + 1 }))
      const c = await claimOne(s, T)
      assert.equal(await s.recordStep(c, step('b', { outputJson: null }), T + 1, advance('a')), true)
      assert.equal(await s.recordStep(c, step('a', { startedAt: T + 2, endedAt: T + 3 }), T + 3, advance('c')), true)
      assert.equal(await s.release(c, { availableAt: T + 5, attempt: 0, interruptions: 0 }, T + 4), true)
      const claimed = await s.claim(request({ now: T + 10 }))
      assert.deepEqual(ids(claimed), ['bare', 'with-steps'])
      assert.deepEqual(claimed[0]!.steps, [])
      const resumed = claimed[1]!
      assert.equal(resumed.startedAt, T)
      assert.equal(resumed.currentStep, 'c')
      assert.deepEqual(resumed.steps, [
        { ...result('with-steps', 'b'), output: undefined },
        { ...result('with-steps', 'a'), createdAt: T + 2, updatedAt: T + 3 },
      ])
      assert.deepEqual(resumed.steps, await s.getSteps('with-steps'))
    })

    it('without includeExpired never takes a running run, however long expired', async (s) => {
      await s.createRun(newRun('r1'))
      await claimOne(s, T)
      assert.deepEqual(await s.claim(request({ now: T + LEASE * 100 })), [])
    })

    it('with includeExpired takes an expired run: one interruption, an interrupted attempt of its step', async (s) => {
      await s.createRun(newRun('r1'))
      const first = await claimOne(s, T)
      await s.recordStep(first, step('a'), T + 1, advance('b'))
      await s.release(first, { availableAt: T + 10, attempt: 2, interruptions: 0 }, T + 2)
      const second = await claimOne(s, T + 10)
      const expiry = T + 10 + LEASE
      assert.equal(second.availableAt, expiry)
      assert.deepEqual(await s.claim(request({ now: expiry - 1, includeExpired: true, owner: THIEF })), [])
      const taken = await claimOne(s, expiry, { includeExpired: true, owner: THIEF })
      assert.notEqual(taken.leaseId, second.leaseId)
      assert.equal(taken.leaseOwner, THIEF)
      assert.equal(taken.status, 'running')
      assert.equal(taken.currentStep, 'b')
      assert.equal(taken.attempt, 2)
      assert.equal(taken.interruptions, 1)
      assert.equal(taken.availableAt, expiry + LEASE)
      assert.equal(taken.heartbeatAt, expiry)
      assert.equal(taken.startedAt, T)
      assert.deepEqual(taken.steps.map((x) => x.name), ['a'])
      const [interrupted, ...rest] = await s.getAttempts('r1')
      assert.deepEqual(rest, [])
      assert.ok(interrupted)
      assert.equal(typeof interrupted.errorMessage, 'string')
      assert.deepEqual({ ...interrupted, errorMessage: '' }, {
        runId: 'r1',
        stepName: 'b',
        attempt: 3,
        status: 'interrupted',
        startedAt: null,
        endedAt: expiry,
        errorName: 'LeaseExpiredError',
        errorMessage: '',
        errorStack: null,
      })
      assert.deepEqual(await s.leaseStates([second, taken]), ['lost', 'held'])
      const again = await claimOne(s, expiry + LEASE + 5, { includeExpired: true })
      assert.equal(again.interruptions, 2)
      assert.deepEqual((await s.getAttempts('r1')).map((x) => [x.attempt, x.endedAt]), [[3, expiry], [4, expiry + LEASE]])
    })

    it('counts the interruption of a run with no current step but records no attempt', async (s) => {
      await s.createRun(newRun('r1', { firstStep: null }))
      await claimOne(s, T)
      const taken = await claimOne(s, T + LEASE, { includeExpired: true })
      assert.equal(taken.interruptions, 1)
      assert.deepEqual(await s.getAttempts('r1'), [])
    })

    it('counts a heartbeat more than a lease ahead of now as expired (a clock gone back)', async (s) => {
      await s.createRun(newRun('r1'))
      const c = await claimOne(s, T + 100_000)
      assert.deepEqual(await s.claim(request({ now: T + 100_000 - LEASE, includeExpired: true })), [])
      const taken = await claimOne(s, T + 100_000 - LEASE - 1, { includeExpired: true })
      assert.notEqual(taken.leaseId, c.leaseId)
      assert.equal(taken.interruptions, 1)
    })

    it('never takes over an expired run in exclude; due runs are taken whatever exclude says; the limit counts only runs taken', async (s) => {
      for (const id of ['x1', 'x2']) await s.createRun(newRun(id))
      await s.claim(request({ now: T }))
      await s.createRun(newRun('p1', { availableAt: T + LEASE }))
      await s.createRun(newRun('p2', { availableAt: T + LEASE }))
      const at = { now: T + LEASE, includeExpired: true }
      // x1 and x2 expired at T + LEASE, but this engine still executes x1: only x2 may be taken over.
      assert.deepEqual(ids(await s.claim(request({ ...at, limit: 1, exclude: new Set(['x1']) }))), ['x2'])
      // A due run in exclude (cancelled and retried elsewhere while this engine still executes it) is
      // taken: the engine starts it once its older execution has settled.
      assert.deepEqual(ids(await s.claim(request({ ...at, limit: 1, exclude: new Set(['x1', 'p1']) }))), ['p1'])
      assert.deepEqual(ids(await s.claim(request({ ...at, limit: 5, exclude: new Set(['x1']) }))), ['p2'])
      assert.deepEqual(await s.claim(request({ ...at, exclude: new Set(['x1']) })), [])
      assert.deepEqual(ids(await s.claim(request(at))), ['x1'])
    })

    it('takes due and expired runs together, earliest due first', async (s) => {
      await s.createRun(newRun('expired'))
      await claimOne(s, T)
      await s.createRun(newRun('before', { availableAt: T + LEASE - 1 }))
      await s.createRun(newRun('after', { availableAt: T + LEASE + 1 }))
      await s.createRun(newRun('later', { availableAt: T + LEASE + 3 }))
      const claimed = await s.claim(request({ now: T + LEASE + 2, includeExpired: true }))
      assert.deepEqual(ids(claimed), ['before', 'expired', 'after'])
      assert.deepEqual(claimed.map((c) => c.interruptions), [0, 1, 0])
    })

    it('never takes a finished run, nor a live lease', async (s) => {
      for (const id of ['done', 'failed', 'cancelled', 'live']) await s.createRun(newRun(id))
      const claims = await claimById(s)
      await s.finish(claims.get('done')!, 'completed', T + 1)
      await s.finish(claims.get('failed')!, 'failed', T + 1)
      await s.cancel('cancelled', T + 1)
      await s.heartbeat([claims.get('live')!], T + LEASE * 10, LEASE)
      assert.deepEqual(await s.claim(request({ now: T + LEASE * 10 + 1, includeExpired: true })), [])
    })
  })

  group('heartbeat', () => {
    it('extends a held lease to now + leaseMs', async (s) => {
      await s.createRun(newRun('r1'))
      const c = await claimOne(s, T)
      assert.deepEqual(await s.heartbeat([c], T + LEASE - 1, LEASE * 2), ['held'])
      const run = await s.getRun('r1')
      assert.equal(run?.availableAt, T + LEASE - 1 + LEASE * 2)
      assert.equal(run?.heartbeatAt, T + LEASE - 1)
      assert.deepEqual(await s.claim(request({ now: T + LEASE * 3 - 2, includeExpired: true })), [])
      assert.deepEqual(ids(await s.claim(request({ now: T + LEASE * 3 - 1, includeExpired: true }))), ['r1'])
    })

    it('reports held, cancelled or lost for each lease in order, and extends only those held', async (s) => {
      for (const id of ['held', 'cancelled', 'reclaimed', 'finished', 'wrong']) await s.createRun(newRun(id))
      const c = await claimById(s)
      await s.cancel('cancelled', T + 1)
      await s.finish(c.get('finished')!, 'completed', T + 1)
      await s.heartbeat([c.get('held')!, c.get('wrong')!], T + LEASE - 1, LEASE)
      const fresh = await claimOne(s, T + LEASE, { includeExpired: true })
      assert.equal(fresh.id, 'reclaimed')
      const before = await s.getRun('wrong')
      const leases: Lease[] = [
        c.get('held')!,
        c.get('cancelled')!,
        c.get('reclaimed')!,
        c.get('finished')!,
        { runId: 'unknown', leaseId: 'x' },
        { runId: 'wrong', leaseId: c.get('held')!.leaseId },
      ]
      assert.deepEqual(await s.heartbeat(leases, T + LEASE + 5, LEASE), ['held', 'cancelled', 'lost', 'lost', 'lost', 'lost'])
      assert.equal((await s.getRun('held'))?.availableAt, T + LEASE * 2 + 5)
      assert.equal((await s.getRun('reclaimed'))?.availableAt, fresh.availableAt)
      assert.deepEqual(await s.getRun('wrong'), before)
      assert.deepEqual(await s.heartbeat([], T, LEASE), [])
    })
  })
}
