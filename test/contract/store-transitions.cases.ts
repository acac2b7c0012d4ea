/**
 * Store contract cases: the transitions of a run: recordStep, recordFailure, finish, release,
 * cancel, retry.
 */

import assert from 'node:assert/strict'
import type { Lease } from '../../src/storage/store.ts'
import {
  advance,
  attempt,
  claimById,
  claimOne,
  COMPLETE,
  LEASE,
  newRun,
  request,
  result,
  step,
  T,
  WF,
  type StoreSuite,
} from './store-fixtures.ts'

export function transitionCases({ group, it }: StoreSuite): void {
  group('recordStep', () => {
    it('records the step, names the next one and resets the attempt state, under the lease', async (s) => {
      await s.createRun(newRun('r1'))
      const first = await claimOne(s, T)
      await s.release(first, { availableAt: T + 1, attempt: 2, interruptions: 0 }, T + 1)
      await claimOne(s, T + 1)
      const c = await claimOne(s, T + 1 + LEASE, { includeExpired: true })
      assert.deepEqual([c.attempt, c.interruptions], [2, 1])
      const a = step('a', { attempts: 3, startedAt: T + 40_000, endedAt: T + 40_100 })
      assert.equal(await s.recordStep(c, a, T + 40_100, advance('b')), true)
      const run = await s.getRun('r1')
      assert.equal(run?.status, 'running')
      assert.equal(run?.currentStep, 'b')
      assert.deepEqual([run?.attempt, run?.interruptions], [0, 0])
      assert.equal(run?.updatedAt, T + 40_100)
      assert.equal(run?.leaseId, c.leaseId)
      assert.deepEqual(await s.leaseStates([c]), ['held'])
      assert.deepEqual(await s.getSteps('r1'), [
        { ...result('r1', 'a'), attempts: 3, createdAt: T + 40_000, updatedAt: T + 40_100 },
      ])
    })

    it('with complete, records the step and completes the run in the same transition', async (s) => {
      await s.createRun(newRun('r1'))
      const c = await claimOne(s, T)
      assert.equal(await s.recordStep(c, step('a'), T + 5, COMPLETE), true)
      const run = await s.getRun('r1')
      assert.equal(run?.status, 'completed')
      assert.equal(run?.finishedAt, T + 5)
      assert.equal(run?.updatedAt, T + 5)
      assert.equal(run?.leaseId, null)
      assert.equal(run?.availableAt, null)
      assert.equal(run?.currentStep, null)
      assert.deepEqual((await s.getSteps('r1')).map((x) => x.name), ['a'])
      assert.deepEqual(await s.leaseStates([c]), ['lost'])
      assert.equal(await s.recordStep(c, step('b'), T + 6, advance(null)), false)
      assert.deepEqual(await s.claim(request({ now: T + LEASE * 10, includeExpired: true })), [])
    })

    it('a recorded step recorded again keeps its position and first-recorded time', async (s) => {
      await s.createRun(newRun('r1'))
      const c = await claimOne(s, T)
      await s.recordStep(c, step('a', { startedAt: T + 1, endedAt: T + 2 }), T + 2, advance('b'))
      await s.recordStep(c, step('b'), T + 3, advance('a'))
      const again = step('a', { outputJson: '"again"', attempts: 2, startedAt: T + 4, endedAt: T + 5 })
      await s.recordStep(c, again, T + 5, advance(null))
      const steps = await s.getSteps('r1')
      assert.deepEqual(steps.map((x) => x.name), ['a', 'b'])
      assert.deepEqual(steps[0], { ...result('r1', 'a'), output: 'again', attempts: 2, createdAt: T + 1, updatedAt: T + 5 })
    })

    it('writes nothing under a lease that is not held: stale, wrong, on a pending run or an unknown one', async (s) => {
      await s.createRun(newRun('r1'))
      await s.createRun(newRun('pending', { availableAt: T + LEASE * 10 }))
      const old = await claimOne(s, T)
      const fresh = await claimOne(s, T + LEASE, { includeExpired: true })
      const before = await s.getRun('r1')
      const notHeld: Lease[] = [
        old,
        { runId: 'r1', leaseId: 'wrong' },
        { runId: 'pending', leaseId: fresh.leaseId },
        { runId: 'unknown', leaseId: fresh.leaseId },
      ]
      for (const lease of notHeld) {
        for (const complete of [false, true]) {
          assert.equal(await s.recordStep(lease, step('x'), T + LEASE + 1, { nextStep: 'y', complete }), false)
        }
      }
      assert.deepEqual(await s.getRun('r1'), before)
      assert.deepEqual(await s.getSteps('r1'), [])
      assert.deepEqual(await s.getSteps('pending'), [])
      assert.equal((await s.getRun('pending'))?.status, 'pending')
      assert.deepEqual(await s.getSteps('unknown'), [])
    })
  })

  group('recordFailure', () => {
    it('without finish: stores the step and the attempt; the run stays running under the lease', async (s) => {
      await s.createRun(newRun('r1'))
      const c = await claimOne(s, T)
      const failed = step('a', { status: 'failed', outputJson: null, error: 'boom', attempts: 3 })
      assert.equal(await s.recordFailure(c, failed, attempt('a', { attempt: 3 }), T + 7, false), true)
      const run = await s.getRun('r1')
      assert.equal(run?.status, 'running')
      assert.equal(run?.currentStep, 'a')
      assert.equal(run?.updatedAt, T + 7)
      assert.deepEqual(await s.leaseStates([c]), ['held'])
      assert.deepEqual(await s.getSteps('r1'), [
        { runId: 'r1', name: 'a', status: 'failed', output: undefined, error: 'boom', attempts: 3, createdAt: T, updatedAt: T },
      ])
      assert.deepEqual(await s.getAttempts('r1'), [{ runId: 'r1', ...attempt('a', { attempt: 3 }) }])
      assert.equal(await s.finish(c, 'failed', T + 8), true)
      assert.equal((await s.getRun('r1'))?.currentStep, 'a')
    })

    it('with finish: the run fails at that step and the lease is released', async (s) => {
      await s.createRun(newRun('r1'))
      const c = await claimOne(s, T)
      await s.recordStep(c, step('a'), T + 1, advance('b'))
      assert.equal(await s.recordFailure(c, step('b', { status: 'failed', error: 'no' }), attempt('b'), T + 9, true), true)
      const run = await s.getRun('r1')
      assert.equal(run?.status, 'failed')
      assert.equal(run?.currentStep, 'b')
      assert.equal(run?.finishedAt, T + 9)
      assert.equal(run?.leaseId, null)
      assert.equal(run?.availableAt, null)
      assert.deepEqual(await s.leaseStates([c]), ['lost'])
      assert.deepEqual((await s.getSteps('r1')).map((x) => [x.name, x.status]), [['a', 'completed'], ['b', 'failed']])
      assert.equal((await s.getAttempts('r1')).length, 1)
    })

    it('writes neither step nor attempt under a lease that is not held', async (s) => {
      await s.createRun(newRun('r1'))
      const old = await claimOne(s, T)
      await claimOne(s, T + LEASE, { includeExpired: true })
      const before = await s.getRun('r1')
      const attemptsBefore = await s.getAttempts('r1')
      for (const finish of [false, true]) {
        const failed = step('a', { status: 'failed', error: 'x' })
        assert.equal(await s.recordFailure(old, failed, attempt('a'), T + LEASE + 1, finish), false)
      }
      assert.deepEqual(await s.getRun('r1'), before)
      assert.deepEqual(await s.getSteps('r1'), [])
      assert.deepEqual(await s.getAttempts('r1'), attemptsBefore)
    })
  })

  group('finish', () => {
    it('completed: no current step, finish time, lease released', async (s) => {
      await s.createRun(newRun('r1'))
      const c = await claimOne(s, T)
      assert.equal(await s.finish(c, 'completed', T + 3), true)
      const run = await s.getRun('r1')
      assert.deepEqual(
        [run?.status, run?.currentStep, run?.finishedAt, run?.updatedAt, run?.leaseId, run?.availableAt],
        ['completed', null, T + 3, T + 3, null, null],
      )
      assert.deepEqual(await s.leaseStates([c]), ['lost'])
      assert.equal(await s.finish(c, 'failed', T + 4), false)
      assert.equal((await s.getRun('r1'))?.status, 'completed')
    })

    it('failed: the run fails at its current step', async (s) => {
      await s.createRun(newRun('r1'))
      const c = await claimOne(s, T)
      await s.recordStep(c, step('a'), T + 1, advance('b'))
      assert.equal(await s.finish(c, 'failed', T + 3), true)
      const run = await s.getRun('r1')
      assert.deepEqual([run?.status, run?.currentStep, run?.finishedAt, run?.leaseId], ['failed', 'b', T + 3, null])
    })

    it('changes nothing under a lease that is not held', async (s) => {
      await s.createRun(newRun('r1'))
      const old = await claimOne(s, T)
      await claimOne(s, T + LEASE, { includeExpired: true })
      const before = await s.getRun('r1')
      assert.equal(await s.finish(old, 'completed', T + LEASE + 1), false)
      assert.equal(await s.finish(old, 'failed', T + LEASE + 1), false)
      assert.equal(await s.finish({ runId: 'unknown', leaseId: old.leaseId }, 'completed', T + LEASE + 1), false)
      assert.deepEqual(await s.getRun('r1'), before)
    })
  })

  group('release', () => {
    it('parks the run: pending until availableAt with the attempt state and record, holding no lease', async (s) => {
      await s.createRun(newRun('r1'))
      const c = await claimOne(s, T)
      const record = attempt('a', { attempt: 1 })
      const release = { availableAt: T + 5_000, attempt: 1, interruptions: 2, attemptRecord: record }
      assert.equal(await s.release(c, release, T + 10), true)
      const run = await s.getRun('r1')
      assert.ok(run)
      assert.deepEqual(
        [run.status, run.availableAt, run.attempt, run.interruptions, run.currentStep, run.updatedAt],
        ['pending', T + 5_000, 1, 2, 'a', T + 10],
      )
      assert.deepEqual(
        [run.leaseId, run.leaseOwner, run.heartbeatAt],
        [null, null, null],
      )
      assert.deepEqual(await s.getAttempts('r1'), [{ runId: 'r1', ...record }])
      assert.deepEqual(await s.leaseStates([c]), ['lost'])
      assert.equal(await s.nextDueAt([WF], T + 10), T + 5_000)
      assert.deepEqual(await s.claim(request({ now: T + 4_999, includeExpired: true })), [])
      const again = await claimOne(s, T + 5_000)
      assert.notEqual(again.leaseId, c.leaseId)
      assert.deepEqual([again.attempt, again.interruptions, again.currentStep], [1, 2, 'a'])
    })

    it('records no attempt without an attempt record', async (s) => {
      await s.createRun(newRun('r1'))
      const c = await claimOne(s, T)
      assert.equal(await s.release(c, { availableAt: T, attempt: 0, interruptions: 0 }, T + 1), true)
      assert.deepEqual(await s.getAttempts('r1'), [])
      assert.equal((await s.getRun('r1'))?.status, 'pending')
    })

    it('changes nothing and records nothing under a lease that is not held', async (s) => {
      await s.createRun(newRun('r1'))
      const old = await claimOne(s, T)
      await claimOne(s, T + LEASE, { includeExpired: true })
      const before = await s.getRun('r1')
      const attemptsBefore = await s.getAttempts('r1')
      const release = { availableAt: T + LEASE * 2, attempt: 1, interruptions: 0, attemptRecord: attempt('a') }
      assert.equal(await s.release(old, release, T + LEASE + 1), false)
      assert.deepEqual(await s.getRun('r1'), before)
      assert.deepEqual(await s.getAttempts('r1'), attemptsBefore)
    })
  })

  group('cancel', () => {
    it('cancels a pending run, which is never claimed afterwards', async (s) => {
      await s.createRun(newRun('r1', { availableAt: T + 100 }))
      assert.equal(await s.cancel('r1', T + 1), true)
      const run = await s.getRun('r1')
      assert.deepEqual(
        [run?.status, run?.finishedAt, run?.updatedAt, run?.availableAt, run?.currentStep],
        ['cancelled', T + 1, T + 1, null, 'a'],
      )
      assert.deepEqual(await s.claim(request({ now: T + LEASE * 10, includeExpired: true })), [])
      assert.equal(await s.nextDueAt([WF], T), null)
    })

    it('cancels a running run: its lease reads cancelled and every write under it fails', async (s) => {
      await s.createRun(newRun('r1'))
      const c = await claimOne(s, T)
      assert.equal(await s.cancel('r1', T + 1), true)
      const run = await s.getRun('r1')
      assert.deepEqual([run?.status, run?.leaseId, run?.finishedAt], ['cancelled', null, T + 1])
      assert.deepEqual(await s.leaseStates([c]), ['cancelled'])
      assert.deepEqual(await s.heartbeat([c], T + 2, LEASE), ['cancelled'])
      assert.equal(await s.recordStep(c, step('a'), T + 2, COMPLETE), false)
      assert.equal(await s.recordFailure(c, step('a', { status: 'failed', error: 'x' }), attempt('a'), T + 2, true), false)
      assert.equal(await s.finish(c, 'completed', T + 2), false)
      assert.equal(await s.release(c, { availableAt: T + 2, attempt: 0, interruptions: 0 }, T + 2), false)
      assert.equal((await s.getRun('r1'))?.status, 'cancelled')
      assert.deepEqual(await s.getSteps('r1'), [])
      assert.deepEqual(await s.getAttempts('r1'), [])
    })

    it('leaves a finished run as it is and refuses an unknown one', async (s) => {
      for (const id of ['completed', 'failed', 'cancelled']) await s.createRun(newRun(id))
      const c = await claimById(s)
      await s.finish(c.get('completed')!, 'completed', T + 1)
      await s.finish(c.get('failed')!, 'failed', T + 1)
      await s.cancel('cancelled', T + 1)
      for (const id of ['completed', 'failed', 'cancelled']) {
        const before = await s.getRun(id)
        assert.equal(await s.cancel(id, T + 2), false, id)
        assert.deepEqual(await s.getRun(id), before)
      }
      assert.equal(await s.cancel('unknown', T + 2), false)
      assert.equal(await s.getRun('unknown'), null)
    })
  })

  group('retry', () => {
    it('failed → pending due now at the failed step: its result removed, attempt state reset, history kept', async (s) => {
      await s.createRun(newRun('r1'))
      const c1 = await claimOne(s, T)
      await s.recordStep(c1, step('a'), T + 1, advance('b'))
      await s.release(c1, { availableAt: T + 2, attempt: 1, interruptions: 0, attemptRecord: attempt('b') }, T + 1)
      const c2 = await claimOne(s, T + 2)
      const failed = step('b', { status: 'failed', error: 'no', attempts: 2 })
      await s.recordFailure(c2, failed, attempt('b', { attempt: 2 }), T + 3, true)
      assert.equal(await s.retry('r1', T + 100), true)
      const run = await s.getRun('r1')
      assert.ok(run)
      assert.deepEqual(
        [run.status, run.availableAt, run.currentStep, run.attempt, run.interruptions, run.updatedAt],
        ['pending', T + 100, 'b', 0, 0, T + 100],
      )
      assert.deepEqual(
        [run.leaseId, run.leaseOwner, run.heartbeatAt, run.finishedAt],
        [null, null, null, null],
      )
      assert.deepEqual((await s.getSteps('r1')).map((x) => x.name), ['a'])
      assert.deepEqual((await s.getAttempts('r1')).map((x) => [x.stepName, x.attempt]), [['b', 1], ['b', 2]])
      assert.deepEqual(await s.leaseStates([c2]), ['lost'])
      const again = await claimOne(s, T + 100)
      assert.deepEqual([again.currentStep, again.steps.map((x) => x.name)], ['b', ['a']])
    })

    it('cancelled → pending at the step it was cancelled at, recorded steps kept', async (s) => {
      await s.createRun(newRun('r1'))
      const c = await claimOne(s, T)
      await s.recordStep(c, step('a'), T + 1, advance('b'))
      await s.cancel('r1', T + 2)
      assert.equal(await s.retry('r1', T + 3), true)
      const again = await claimOne(s, T + 3)
      assert.deepEqual([again.currentStep, again.steps.map((x) => x.name)], ['b', ['a']])
    })

    it('with fromStep, removes that step and every later one, keeps the earlier ones, and resumes there', async (s) => {
      await s.createRun(newRun('r1'))
      const c = await claimOne(s, T)
      for (const [name, next] of [['a', 'b'], ['b', 'c'], ['c', 'd']] as const) {
        await s.recordStep(c, step(name), T + 1, advance(next))
      }
      await s.recordFailure(c, step('d', { status: 'failed', error: 'x' }), attempt('d'), T + 2, true)
      assert.equal(await s.retry('r1', T + 3, { fromStep: 'b' }), true)
      assert.deepEqual((await s.getSteps('r1')).map((x) => x.name), ['a'])
      assert.equal((await s.getRun('r1'))?.currentStep, 'b')
      assert.equal((await s.getAttempts('r1')).length, 1)
    })

    it('with fromStep naming the failed step, also removes the steps recorded after it', async (s) => {
      await s.createRun(newRun('r1'))
      const c = await claimOne(s, T)
      await s.recordStep(c, step('a'), T + 1, advance('b'))
      await s.recordFailure(c, step('b', { status: 'failed', error: 'x' }), attempt('b'), T + 2, false)
      await s.recordStep(c, step('cleanup'), T + 3, advance(null))
      await s.finish(c, 'failed', T + 4)
      assert.equal(await s.retry('r1', T + 5, { fromStep: 'b' }), true)
      assert.deepEqual((await s.getSteps('r1')).map((x) => x.name), ['a'])
      assert.equal((await s.getRun('r1'))?.currentStep, 'b')
    })

    it('keeps recording order across the removal: later steps come after the kept ones', async (s) => {
      await s.createRun(newRun('r1'))
      const c1 = await claimOne(s, T)
      // Names sort against recording order, so an order that fell back on names would show.
      await s.recordStep(c1, step('x'), T + 1, advance('fails'))
      await s.recordFailure(c1, step('fails', { status: 'failed', error: 'no' }), attempt('fails'), T + 2, false)
      await s.recordStep(c1, step('m'), T + 3, advance(null))
      await s.finish(c1, 'failed', T + 4)
      assert.equal(await s.retry('r1', T + 5), true)
      assert.deepEqual((await s.getSteps('r1')).map((x) => x.name), ['x', 'm'])
      const c2 = await claimOne(s, T + 5)
      await s.recordStep(c2, step('c'), T + 6, advance('x'))
      await s.recordStep(c2, step('x', { outputJson: '"replaced"' }), T + 7, advance('a'))
      await s.recordStep(c2, step('a'), T + 8, advance(null))
      await s.release(c2, { availableAt: T + 9, attempt: 0, interruptions: 0 }, T + 8)
      assert.deepEqual((await s.getSteps('r1')).map((x) => x.name), ['x', 'm', 'c', 'a'])
      assert.deepEqual((await claimOne(s, T + 9)).steps.map((x) => x.name), ['x', 'm', 'c', 'a'])
    })

    it('refuses pending, running, completed and unknown runs, changing nothing', async (s) => {
      await s.createRun(newRun('pending', { availableAt: T + 1 }))
      await s.createRun(newRun('running'))
      await s.createRun(newRun('completed'))
      const c = await claimById(s)
      await s.finish(c.get('completed')!, 'completed', T + 1)
      for (const id of ['pending', 'running', 'completed']) {
        const before = await s.getRun(id)
        assert.equal(await s.retry(id, T + 2), false, id)
        assert.equal(await s.retry(id, T + 2, { fromStep: 'a' }), false, id)
        assert.deepEqual(await s.getRun(id), before)
      }
      assert.equal(await s.retry('unknown', T + 2), false)
    })
  })
}
