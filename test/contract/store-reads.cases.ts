/**
 * Store contract cases: what the store reads without writing: runs, steps, attempts, leases, due
 * times, unknown workflows.
 */

import assert from 'node:assert/strict'
import type { Lease } from '../../src/storage/store.ts'
import {
  advance,
  attempt,
  claimById,
  claimOne,
  newRun,
  request,
  step,
  T,
  WF,
  type StoreSuite,
} from './store-fixtures.ts'

export function readCases({ group, it }: StoreSuite): void {
  group('reads', () => {
    it('an unknown run: null, no steps, no attempts', async (s) => {
      assert.equal(await s.getRun('unknown'), null)
      assert.deepEqual(await s.getSteps('unknown'), [])
      assert.deepEqual(await s.getAttempts('unknown'), [])
    })

    it('attempts come oldest first, every field as written, each run’s apart', async (s) => {
      await s.createRun(newRun('r1'))
      await s.createRun(newRun('r2'))
      const c = await claimById(s)
      const first = attempt('a', { startedAt: T + 1, endedAt: T + 2, errorName: 'TypeError', errorMessage: 'first', errorStack: 'at a' })
      await s.release(c.get('r1')!, { availableAt: T + 3, attempt: 1, interruptions: 0, attemptRecord: first }, T + 2)
      await s.recordFailure(c.get('r2')!, step('z', { status: 'failed', error: 'other' }), attempt('z'), T + 2, true)
      const c2 = await claimOne(s, T + 3)
      const timeout = attempt('a', { attempt: 2, startedAt: T + 4, endedAt: T + 5, errorName: 'StepTimeoutError', errorStack: null })
      await s.recordFailure(c2, step('a', { status: 'failed', error: 'slow' }), timeout, T + 5, true)
      assert.deepEqual(await s.getAttempts('r1'), [{ runId: 'r1', ...first }, { runId: 'r1', ...timeout }])
      assert.deepEqual(await s.getAttempts('r2'), [{ runId: 'r2', ...attempt('z') }])
    })

    it('step outputs round trip: absent, null, 0 and the empty string', async (s) => {
      await s.createRun(newRun('r1'))
      const c = await claimOne(s, T)
      const outputs = [null, 'null', '0', '""', '{"nested":[1,{"a":true}]}']
      for (const [i, outputJson] of outputs.entries()) {
        await s.recordStep(c, step(`s${i}`, { outputJson }), T + 1, advance(null))
      }
      assert.deepEqual((await s.getSteps('r1')).map((x) => x.output), [undefined, null, 0, '', { nested: [1, { a: true }] }])
    })

    it('every read returns its own copy', async (s) => {
      await s.createRun(newRun('r1', { input: { list: [1] } }))
      const c = await claimOne(s, T)
      await s.recordStep(c, step('a', { outputJson: '{"list":[1]}' }), T + 1, advance(null))
      ;((await s.getRun('r1'))!.input as { list: number[] }).list.push(2)
      ;((await s.getSteps('r1'))[0]!.output as { list: number[] }).list.push(2)
      assert.deepEqual((await s.getRun('r1'))?.input, { list: [1] })
      assert.deepEqual((await s.getSteps('r1'))[0]?.output, { list: [1] })
    })
  })

  group('leaseStates', () => {
    it('reads held, cancelled or lost per lease, in order, and writes nothing', async (s) => {
      for (const id of ['held', 'cancelled', 'finished', 'released']) await s.createRun(newRun(id))
      const c = await claimById(s)
      await s.cancel('cancelled', T + 1)
      await s.finish(c.get('finished')!, 'completed', T + 1)
      await s.release(c.get('released')!, { availableAt: T + 1, attempt: 0, interruptions: 0 }, T + 1)
      const before = await s.getRun('held')
      const leases: Lease[] = [...c.values(), { runId: 'unknown', leaseId: 'x' }, { runId: 'held', leaseId: 'wrong' }]
      assert.deepEqual(await s.leaseStates(leases), ['held', 'cancelled', 'lost', 'lost', 'lost', 'lost'])
      assert.deepEqual(await s.getRun('held'), before)
      assert.deepEqual(await s.leaseStates([]), [])
    })
  })

  group('nextDueAt', () => {
    it('the earliest due time after now of a pending run of the workflows, else null', async (s) => {
      await s.createRun(newRun('due-now', { availableAt: T }))
      await s.createRun(newRun('p300', { availableAt: T + 300 }))
      await s.createRun(newRun('other100', { availableAt: T + 100, workflow: 'other' }))
      await s.createRun(newRun('p200', { availableAt: T + 200 }))
      await s.createRun(newRun('cancelled50', { availableAt: T + 50 }))
      await s.cancel('cancelled50', T)
      await claimOne(s, T)
      assert.equal(await s.nextDueAt([WF], T), T + 200)
      assert.equal(await s.nextDueAt([WF, 'other'], T), T + 100)
      assert.equal(await s.nextDueAt([WF], T + 200), T + 300)
      assert.equal(await s.nextDueAt([WF], T + 300), null)
      assert.equal(await s.nextDueAt([], T), null)
    })
  })

  group('unknownWorkflows', () => {
    it('names the workflows outside the list that have pending runs, at most limit', async (s) => {
      for (const [id, workflow] of [['a1', 'a'], ['a2', 'a'], ['b1', 'b'], ['c1', 'c'], ['d1', 'd'], ['o1', WF]] as const) {
        await s.createRun(newRun(id, { workflow }))
      }
      await s.claim(request({ workflows: ['c', 'd'] }))
      await s.cancel('d1', T)
      assert.deepEqual((await s.unknownWorkflows([WF], 10)).sort(), ['a', 'b'])
      const one = await s.unknownWorkflows([WF], 1)
      assert.equal(one.length, 1)
      assert.ok(['a', 'b'].includes(one[0]!))
      assert.deepEqual(await s.unknownWorkflows([WF, 'a', 'b'], 10), [])
      assert.deepEqual(await s.unknownWorkflows([WF], 0), [])
      assert.deepEqual((await s.unknownWorkflows([], 10)).sort(), ['a', 'b', WF])
    })
  })
}
