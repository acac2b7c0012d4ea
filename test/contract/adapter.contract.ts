/**
 * The adapter contract suite: every promise of the public StorageAdapter (storage/adapter.ts, the
 * 9 documented methods and the optional `retryRun`) as tests, registered for any adapter by
 * `adapterContract(harness, target)`. Each adapter's test file is a few lines. The engine's own
 * transitions (claims in batches, due times, attempts, atomic completion) are the store's and are
 * checked by store.contract.ts.
 *
 * Runtime-agnostic on purpose: it imports no test runner and asserts with node:assert/strict, so
 * the same suite runs under `bun test` and `node --test`. Time is a ManualClock shared by the
 * adapter and the test; nothing sleeps.
 *
 * Races run over `target.connect(n)`: separate connections to one file. A target without it
 * declares the races skipped (an in-process race proves nothing), as it does `retryRun` when it
 * does not implement the optional method.
 */

import assert from 'node:assert/strict'
import { ManualClock, type Clock } from '../../src/core/clock.ts'
import { SerializationError, StorageError } from '../../src/core/errors.ts'
import type { ClaimedRun, RunStatus, StepResult, WorkflowRun } from '../../src/core/types.ts'
import type { StorageAdapter } from '../../src/storage/adapter.ts'
import { registry, type ContractHarness, type Skip } from './harness.ts'

export type { ContractHarness, Skip }

export type ContractAdapter = StorageAdapter & { close(): void }

export interface AdapterTarget {
  name: string
  /** A fresh, empty, initialised adapter using `clock`. */
  create(clock: Clock): Promise<ContractAdapter>
  /** File-backed adapters: `n` separate connections (adapter instances) over one fresh file, all using `clock`. */
  connect?(n: number, clock: Clock): Promise<ContractAdapter[]>
  /** Tests (`group > test`, or a whole group) this target cannot run, with the reason. */
  skip?: readonly Skip[]
}

type Retrying = ContractAdapter & Required<Pick<StorageAdapter, 'retryRun'>>

const WF = 'orders'
/** The staleness window the tests pass, equal to the lease a claim without `staleBefore` grants. */
const STALE_MS = 30_000
const START = 1_700_000_000_000

export function adapterContract(h: ContractHarness, target: AdapterTarget): void {
  const r = registry(h, target.skip)

  /** A test with a fresh adapter and a ManualClock; the adapter is always closed. */
  function it(name: string, fn: (s: ContractAdapter, clock: ManualClock) => Promise<void>): void {
    r.test(name, async () => {
      const clock = new ManualClock(START)
      const s = await target.create(clock)
      try {
        await fn(s, clock)
      } finally {
        s.close()
      }
    })
  }

  /** Like `it`, for the optional retryRun: the target declares it skipped when it lacks the method. */
  function itRetries(name: string, fn: (s: Retrying, clock: ManualClock) => Promise<void>): void {
    it(name, async (s, clock) => {
      assert.equal(typeof s.retryRun, 'function', 'the adapter implements retryRun (or the target skips these tests)')
      await fn(s as Retrying, clock)
    })
  }

  /** Like `it`, over `n` separate connections to one database. */
  function race(name: string, n: number, fn: (conns: ContractAdapter[], clock: ManualClock) => Promise<void>): void {
    r.test(name, async () => {
      assert.ok(target.connect, 'races need target.connect (separate connections); declare them skipped otherwise')
      const clock = new ManualClock(START)
      const conns = await target.connect(n, clock)
      assert.equal(conns.length, n)
      try {
        await fn(conns, clock)
      } finally {
        for (const c of conns) c.close()
      }
    })
  }

  h.describe(`adapter contract: ${target.name}`, () => {
    r.group('createRun / getRun', () => {
      it('stores a pending run and returns it as a stored-value round trip', async (s, clock) => {
        const input = {
          when: new Date(0),
          tags: ['a', 1, true, null],
          nested: { kept: undefined, n: 2.5 },
          byId: new Map([['a', new Set([1n])]]),
          odd: [-0, Number.NaN],
        }
        const run = makeRun(clock, 'r1', { input, idempotencyKey: null })
        const result = await s.createRun(run)
        // What comes back is a copy with the same types: a Date, a Map of Sets of BigInts, undefined kept.
        const expected = {
          ...run,
          input: { when: new Date(0), tags: ['a', 1, true, null], nested: { kept: undefined, n: 2.5 }, byId: new Map([['a', new Set([1n])]]), odd: [-0, Number.NaN] },
        }
        assert.equal(result.created, true)
        assert.deepEqual(result.run, expected)
        const read = await s.getRun('r1')
        assert.deepEqual(read, expected)
        assert.notEqual((read?.input as typeof input).when, input.when)
        assert.ok(Object.is((read?.input as typeof input).odd[0], -0))
      })

      it('keeps what was stored when the caller mutates its input afterwards', async (s, clock) => {
        const input = { items: [1, 2] }
        await s.createRun(makeRun(clock, 'r1', { input }))
        input.items.push(3)
        const first = await s.getRun('r1')
        assert.deepEqual(first?.input, { items: [1, 2] })
        ;(first?.input as { items: number[] }).items.push(4)
        assert.deepEqual((await s.getRun('r1'))?.input, { items: [1, 2] })
      })

      it('round trips undefined and null input', async (s, clock) => {
        await s.createRun(makeRun(clock, 'u', { input: undefined }))
        await s.createRun(makeRun(clock, 'n', { input: null }))
        assert.equal((await s.getRun('u'))?.input, undefined)
        assert.equal((await s.getRun('n'))?.input, null)
      })

      it('returns null for an unknown run id', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        assert.equal(await s.getRun('nope'), null)
      })

      it('returns the existing run, unchanged, for a repeated idempotency key', async (s, clock) => {
        const first = await s.createRun(makeRun(clock, 'r1', { idempotencyKey: 'k', input: { v: 1 } }))
        await clock.advance(10)
        const second = await s.createRun(makeRun(clock, 'r2', { idempotencyKey: 'k', input: { v: 2 } }))
        assert.equal(second.created, false)
        assert.deepEqual(second.run, first.run)
        assert.equal(await s.getRun('r2'), null)
        assert.deepEqual(await claimAll(s, [WF]), ['r1'])
      })

      it('scopes idempotency keys to the workflow', async (s, clock) => {
        const a = await s.createRun(makeRun(clock, 'r1', { idempotencyKey: 'k' }))
        const b = await s.createRun(makeRun(clock, 'r2', { idempotencyKey: 'k', workflow: 'other' }))
        assert.equal(a.created, true)
        assert.equal(b.created, true)
        assert.equal((await s.getRun('r2'))?.workflow, 'other')
      })

      it('never deduplicates runs without an idempotency key', async (s, clock) => {
        assert.equal((await s.createRun(makeRun(clock, 'r1', { input: 1 }))).created, true)
        assert.equal((await s.createRun(makeRun(clock, 'r2', { input: 1 }))).created, true)
        assert.deepEqual(await claimAll(s, [WF]), ['r1', 'r2'])
      })

      it('creates exactly once when calls with one key race', async (s, clock) => {
        const ids = Array.from({ length: 8 }, (_, i) => `r${i}`)
        const results = await Promise.all(ids.map((id) => s.createRun(makeRun(clock, id, { idempotencyKey: 'k' }))))
        assert.equal(results.filter((x) => x.created).length, 1)
        const winner = results.find((x) => x.created)!.run.id
        for (const x of results) assert.equal(x.run.id, winner)
        assert.deepEqual(await claimAll(s, [WF]), [winner])
      })
    })

    r.group('claimNextRun', () => {
      it('claims the oldest pending run first, ties in insertion order', async (s, clock) => {
        await clock.advance(20)
        await s.createRun(makeRun(clock, 'late', { createdAt: START + 20 }))
        await s.createRun(makeRun(clock, 'early', { createdAt: START + 5 }))
        await s.createRun(makeRun(clock, 'tie-1', { createdAt: START + 10 }))
        await s.createRun(makeRun(clock, 'tie-2', { createdAt: START + 10 }))
        assert.deepEqual(await claimAll(s, [WF]), ['early', 'tie-1', 'tie-2', 'late'])
      })

      it('claims a run at once even when its createdAt is ahead of the clock (another machine’s)', async (s, clock) => {
        await s.createRun(makeRun(clock, 'ahead', { createdAt: START + 60_000 }))
        const c = await s.claimNextRun([WF])
        assert.equal(c?.id, 'ahead')
        assert.equal((await s.getRun('ahead'))?.createdAt, START + 60_000)
      })

      it('marks the claimed run running under a fresh lease and returns it', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1', { input: { at: new Date(5) } }))
        await s.createRun(makeRun(clock, 'r2'))
        await clock.advance(1_000)
        const a = await s.claimNextRun([WF])
        const b = await s.claimNextRun([WF])
        assert.ok(a && b)
        assert.equal(a.id, 'r1')
        assert.equal(a.status, 'running')
        assert.deepEqual(a.input, { at: new Date(5) })
        assert.equal(a.workflow, WF)
        assert.equal(typeof a.leaseId, 'string')
        assert.ok(a.leaseId.length > 0)
        assert.notEqual(a.leaseId, b.leaseId)
        assert.equal((await s.getRun('r1'))?.status, 'running')
      })

      it('claims a pending run only once', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        assert.equal((await s.claimNextRun([WF]))?.id, 'r1')
        assert.equal(await s.claimNextRun([WF]), null)
        assert.equal(await s.claimNextRun([WF], clock.now() - STALE_MS), null)
      })

      it('claims only runs of the given workflows', async (s, clock) => {
        await s.createRun(makeRun(clock, 'a', { workflow: 'alpha' }))
        await s.createRun(makeRun(clock, 'b', { workflow: 'beta' }))
        await s.createRun(makeRun(clock, 'c', { workflow: 'gamma' }))
        assert.equal(await s.claimNextRun(['nope']), null)
        assert.equal((await s.claimNextRun(['beta']))?.id, 'b')
        assert.deepEqual(await claimAll(s, ['gamma', 'alpha']), ['a', 'c'])
      })

      it('returns null for no workflow names or no runs', async (s, clock) => {
        assert.equal(await s.claimNextRun([WF]), null)
        await s.createRun(makeRun(clock, 'r1'))
        assert.equal(await s.claimNextRun([]), null)
        assert.equal(await s.claimNextRun([], clock.now() - STALE_MS), null)
        assert.equal((await s.getRun('r1'))?.status, 'pending')
      })

      it('reclaims a running run whose lease went stale, under a new lease', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        const first = await claim(s)
        await clock.advance(STALE_MS + 1)
        const second = await s.claimNextRun([WF], clock.now() - STALE_MS)
        assert.equal(second?.id, 'r1')
        assert.equal(second?.status, 'running')
        assert.notEqual(second?.leaseId, first.leaseId)
        assert.equal(await s.heartbeatRun('r1', second!.leaseId), true)
      })

      it('fences the old lease out of every write after a reclaim', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        const old = await claim(s)
        await clock.advance(STALE_MS + 1)
        const fresh = await claim(s, clock.now() - STALE_MS)
        assert.equal(fresh.id, 'r1')
        assert.equal(await s.heartbeatRun('r1', old.leaseId), false)
        assert.equal(await s.saveStepResult(makeStep(clock, 'r1', 'a'), old.leaseId), false)
        assert.equal(await s.updateClaimedRunStatus('r1', old.leaseId, 'completed'), false)
        assert.equal(await s.updateClaimedRunStatus('r1', old.leaseId, 'pending'), false)
        assert.deepEqual(await s.getStepResults('r1'), [])
        assert.equal((await s.getRun('r1'))?.status, 'running')
        assert.equal(await s.saveStepResult(makeStep(clock, 'r1', 'a'), fresh.leaseId), true)
        assert.equal(await s.updateClaimedRunStatus('r1', fresh.leaseId, 'completed'), true)
        assert.equal((await s.getRun('r1'))?.status, 'completed')
      })

      it('reclaims a run only once it went unrenewed until staleBefore; never without staleBefore', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        const claimedAt = clock.now()
        await claim(s, claimedAt - STALE_MS)
        await clock.advance(STALE_MS - 1)
        assert.equal(await s.claimNextRun([WF], clock.now() - STALE_MS), null, 'renewed after staleBefore')
        await clock.advance(1)
        assert.equal(clock.now() - STALE_MS, claimedAt)
        assert.equal(await s.claimNextRun([WF]), null, 'no staleBefore: running runs are never reclaimed')
        assert.equal(await s.claimNextRun([WF], clock.now() - STALE_MS), null, 'renewed exactly at staleBefore: not before it')
        await clock.advance(1)
        const again = await s.claimNextRun([WF], clock.now() - STALE_MS)
        assert.equal(again?.id, 'r1', 'last renewed before staleBefore: stale')
        await clock.advance(STALE_MS * 10)
        assert.equal(await s.claimNextRun([WF]), null, 'no staleBefore: running runs are never reclaimed')
      })

      it('claims the claimable run due earliest, pending or stale alike', async (s, clock) => {
        // A pending run is due from its creation, a stale one from the moment its lease ran out.
        await s.createRun(makeRun(clock, 'old'))
        await claim(s)
        await clock.advance(STALE_MS + 1)
        await s.createRun(makeRun(clock, 'new'))
        const staleBefore = clock.now() - STALE_MS
        assert.equal((await claim(s)).id, 'new', 'without staleBefore only pending runs are claimable')
        await s.createRun(makeRun(clock, 'newer'))
        assert.equal((await claim(s, staleBefore)).id, 'old')
        assert.equal((await claim(s, staleBefore)).id, 'newer')
        assert.equal(await s.claimNextRun([WF], staleBefore), null)
      })

      it('never claims a terminal run, even once its last lease is long stale', async (s, clock) => {
        for (const id of ['done', 'failed', 'cancelled', 'cancelled-pending']) await s.createRun(makeRun(clock, id))
        await s.updateRunStatus('cancelled-pending', 'cancelled')
        const leases = new Map<string, string>()
        for (let c = await s.claimNextRun([WF]); c; c = await s.claimNextRun([WF])) leases.set(c.id, c.leaseId)
        assert.equal(leases.size, 3)
        assert.equal(await s.updateClaimedRunStatus('done', leases.get('done')!, 'completed'), true)
        assert.equal(await s.updateClaimedRunStatus('failed', leases.get('failed')!, 'failed'), true)
        assert.equal(await s.updateRunStatus('cancelled', 'cancelled'), true)
        await clock.advance(STALE_MS * 100)
        assert.equal(await s.claimNextRun([WF], clock.now() - STALE_MS), null)
        assert.equal((await s.getRun('done'))?.status, 'completed')
        assert.equal((await s.getRun('failed'))?.status, 'failed')
        assert.equal((await s.getRun('cancelled'))?.status, 'cancelled')
        assert.equal((await s.getRun('cancelled-pending'))?.status, 'cancelled')
      })

      it('stamps updatedAt with the clock on every run transition and never moves createdAt', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        await s.createRun(makeRun(clock, 'r2'))
        const at = async (id: string) => {
          const run = await s.getRun(id)
          assert.equal(run?.createdAt, START)
          return run?.updatedAt
        }
        await clock.advance(100)
        const c1 = await claim(s)
        assert.equal(c1.updatedAt, clock.now())
        assert.equal(await at('r1'), clock.now())
        await clock.advance(100)
        await s.updateClaimedRunStatus('r1', c1.leaseId, 'failed')
        assert.equal(await at('r1'), clock.now())
        await clock.advance(100)
        await s.updateRunStatus('r2', 'cancelled')
        assert.equal(await at('r2'), clock.now())
      })

      it('returns the recorded steps in recording order when it loads them with the claim', async (s, clock) => {
        await s.createRun(makeRun(clock, 'with-steps'))
        await s.createRun(makeRun(clock, 'bare'))
        await s.saveStepResult(makeStep(clock, 'with-steps', 'b'))
        await s.saveStepResult(makeStep(clock, 'with-steps', 'a', { output: undefined }))
        const first = await claim(s)
        const second = await claim(s)
        assert.deepEqual([first.id, second.id], ['with-steps', 'bare'])
        assert.deepEqual(first.steps ?? (await s.getStepResults('with-steps')), await s.getStepResults('with-steps'))
        assert.deepEqual((first.steps ?? (await s.getStepResults('with-steps'))).map((x) => x.name), ['b', 'a'])
        assert.deepEqual(second.steps ?? [], [])
      })

      it('reclaims a stale run with the steps its previous holder recorded', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        const old = await claim(s)
        const a = makeStep(clock, 'r1', 'a')
        await s.saveStepResult(a, old.leaseId)
        await clock.advance(STALE_MS + 1)
        const again = await claim(s, clock.now() - STALE_MS)
        assert.equal(again.id, 'r1')
        assert.notEqual(again.leaseId, old.leaseId)
        assert.deepEqual(again.steps ?? (await s.getStepResults('r1')), [a])
      })
    })

    r.group('heartbeatRun', () => {
      it('renews the lease so a later staleBefore does not catch it', async (s, clock) => {
        await s.createRun(makeRun(clock, 'kept'))
        await s.createRun(makeRun(clock, 'dropped'))
        const kept = await claim(s)
        await claim(s)
        await clock.advance(STALE_MS - 1_000)
        assert.equal(await s.heartbeatRun('kept', kept.leaseId), true)
        await clock.advance(2_000)
        const staleBefore = clock.now() - STALE_MS
        assert.equal((await s.claimNextRun([WF], staleBefore))?.id, 'dropped')
        assert.equal(await s.claimNextRun([WF], staleBefore), null)
        assert.equal(await s.heartbeatRun('kept', kept.leaseId), true)
      })

      it('renews for the staleness window the claim was given, each time', async (s, clock) => {
        const window = 5_000
        await s.createRun(makeRun(clock, 'r1'))
        const c = await claim(s, clock.now() - window)
        for (let i = 0; i < 3; i++) {
          await clock.advance(window - 1)
          assert.equal(await s.claimNextRun([WF], clock.now() - window), null, `renewal ${i}: not stale yet`)
          assert.equal(await s.heartbeatRun('r1', c.leaseId), true)
        }
        await clock.advance(window)
        assert.equal(await s.claimNextRun([WF], clock.now() - window), null, 'renewed exactly at staleBefore')
        await clock.advance(1)
        assert.equal((await s.claimNextRun([WF], clock.now() - window))?.id, 'r1')
        assert.equal(await s.heartbeatRun('r1', c.leaseId), false)
      })

      it('returns false for an unknown run, a wrong lease or a run not running', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        await s.createRun(makeRun(clock, 'r2'))
        assert.equal(await s.heartbeatRun('nope', 'lease'), false)
        assert.equal(await s.heartbeatRun('r1', 'lease'), false)
        const c = await claim(s)
        assert.equal(await s.heartbeatRun(c.id, 'not-the-lease'), false)
        assert.equal(await s.heartbeatRun('r2', c.leaseId), false, 'a lease is bound to its run')
        assert.equal(await s.heartbeatRun(c.id, c.leaseId), true)
        assert.equal(await s.updateClaimedRunStatus(c.id, c.leaseId, 'completed'), true)
        assert.equal(await s.heartbeatRun(c.id, c.leaseId), false, 'a finished run holds no lease')
      })
    })

    r.group('saveStepResult / getStepResults', () => {
      it('returns steps in first-recorded order; a replaced step keeps its position', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        const c = await claim(s)
        for (const name of ['b', 'a', 'c']) {
          assert.equal(await s.saveStepResult(makeStep(clock, 'r1', name), c.leaseId), true)
          await clock.advance(1)
        }
        const replacement = makeStep(clock, 'r1', 'a', { output: { second: true }, attempts: 3 })
        assert.equal(await s.saveStepResult(replacement, c.leaseId), true)
        const steps = await s.getStepResults('r1')
        assert.deepEqual(steps.map((x) => x.name), ['b', 'a', 'c'])
        const a = steps[1]!
        assert.deepEqual(a.output, { second: true })
        assert.equal(a.attempts, 3)
        assert.equal(a.updatedAt, replacement.updatedAt)
      })

      it('round trips every field of a completed and a failed step', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        const c = await claim(s)
        const done = makeStep(clock, 'r1', 'done', { output: { at: new Date(0), list: [1, { x: undefined }], n: 7n }, attempts: 2, createdAt: START + 1, updatedAt: START + 2 })
        const failed = makeStep(clock, 'r1', 'failed', { status: 'failed', output: undefined, error: 'boom', attempts: 5 })
        await s.saveStepResult(done, c.leaseId)
        await s.saveStepResult(failed, c.leaseId)
        const steps = await s.getStepResults('r1')
        assert.equal(steps.length, 2)
        assert.deepEqual(steps[0], done)
        assert.notEqual(steps[0]!.output, done.output)
        const f = steps[1]!
        assert.equal(f.output, undefined)
        assert.deepEqual({ ...f, output: undefined }, failed)
      })

      it('round trips undefined as undefined and null as null', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        await s.saveStepResult(makeStep(clock, 'r1', 'undef', { output: undefined }))
        await s.saveStepResult(makeStep(clock, 'r1', 'null', { output: null }))
        await s.saveStepResult(makeStep(clock, 'r1', 'zero', { output: 0 }))
        await s.saveStepResult(makeStep(clock, 'r1', 'empty', { output: '' }))
        const outputs = (await s.getStepResults('r1')).map((x) => x.output)
        assert.equal(outputs.length, 4)
        assert.equal(outputs[0], undefined)
        assert.equal(outputs[1], null)
        assert.equal(outputs[2], 0)
        assert.equal(outputs[3], '')
      })

      it('keeps what was stored when the caller mutates the output afterwards', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        const output = { list: [1] }
        await s.saveStepResult(makeStep(clock, 'r1', 'a', { output }))
        output.list.push(2)
        const [first] = await s.getStepResults('r1')
        ;(first?.output as { list: number[] }).list.push(3)
        assert.deepEqual((await s.getStepResults('r1'))[0]?.output, { list: [1] })
      })

      it('keeps each run’s steps apart and returns [] for an unknown run', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        await s.createRun(makeRun(clock, 'r2'))
        await s.saveStepResult(makeStep(clock, 'r1', 'a'))
        await s.saveStepResult(makeStep(clock, 'r2', 'a', { output: 'two' }))
        await s.saveStepResult(makeStep(clock, 'r2', 'b'))
        assert.deepEqual((await s.getStepResults('r1')).map((x) => [x.runId, x.name]), [['r1', 'a']])
        assert.deepEqual((await s.getStepResults('r2')).map((x) => [x.runId, x.name, x.output]), [
          ['r2', 'a', 'two'],
          ['r2', 'b', { step: 'b' }],
        ])
        assert.deepEqual(await s.getStepResults('nope'), [])
      })

      it('without a lease, applies to any existing run and refuses an unknown one', async (s, clock) => {
        assert.equal(await s.saveStepResult(makeStep(clock, 'ghost', 'a')), false)
        assert.deepEqual(await s.getStepResults('ghost'), [])
        await s.createRun(makeRun(clock, 'r1'))
        assert.equal(await s.saveStepResult(makeStep(clock, 'r1', 'a')), true)
        assert.equal((await s.getRun('r1'))?.status, 'pending')
        assert.deepEqual((await s.getStepResults('r1')).map((x) => x.name), ['a'])
      })

      it('with a lease, applies only while the run is running under that lease', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        assert.equal(await s.saveStepResult(makeStep(clock, 'r1', 'pending'), 'any-lease'), false)
        const c = await claim(s)
        assert.equal(await s.saveStepResult(makeStep(clock, 'r1', 'wrong'), 'not-the-lease'), false)
        assert.equal(await s.saveStepResult(makeStep(clock, 'r1', 'right'), c.leaseId), true)
        assert.equal(await s.updateClaimedRunStatus('r1', c.leaseId, 'completed'), true)
        assert.equal(await s.saveStepResult(makeStep(clock, 'r1', 'late'), c.leaseId), false)
        assert.deepEqual((await s.getStepResults('r1')).map((x) => x.name), ['right'])
      })
    })

    r.group('updateRunStatus', () => {
      it('cancels a pending run, which is then never claimed', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        assert.equal(await s.updateRunStatus('r1', 'cancelled'), true)
        assert.equal((await s.getRun('r1'))?.status, 'cancelled')
        await clock.advance(STALE_MS * 10)
        assert.equal(await s.claimNextRun([WF], clock.now() - STALE_MS), null)
      })

      it('cancels a running run and fences its lease out', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        const c = await claim(s)
        assert.equal(await s.updateRunStatus('r1', 'cancelled'), true)
        assert.equal(await s.heartbeatRun('r1', c.leaseId), false)
        assert.equal(await s.saveStepResult(makeStep(clock, 'r1', 'a'), c.leaseId), false)
        assert.equal(await s.updateClaimedRunStatus('r1', c.leaseId, 'completed'), false)
        assert.equal((await s.getRun('r1'))?.status, 'cancelled')
        assert.deepEqual(await s.getStepResults('r1'), [])
      })

      it('moves a running run back to pending, releasing its lease: claimable again at once', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        const c = await claim(s)
        assert.equal(await s.updateRunStatus('r1', 'pending'), true)
        assert.equal((await s.getRun('r1'))?.status, 'pending')
        assert.equal(await s.heartbeatRun('r1', c.leaseId), false)
        assert.equal(await s.saveStepResult(makeStep(clock, 'r1', 'a'), c.leaseId), false)
        const again = await claim(s)
        assert.equal(again.id, 'r1')
        assert.notEqual(again.leaseId, c.leaseId)
      })

      it('leaves a run set to running without a lease stale at once: only a claim with staleBefore takes it', async (s, clock) => {
        await s.createRun(makeRun(clock, 'was-pending'))
        await s.createRun(makeRun(clock, 'was-running'))
        await s.createRun(makeRun(clock, 'other', { workflow: 'other' }))
        const c = await s.claimNextRun(['other'])
        assert.ok(c)
        assert.equal(await s.updateRunStatus('was-pending', 'running'), true)
        assert.equal((await s.claimNextRun([WF]))?.id, 'was-running')
        assert.equal(await s.updateRunStatus('was-running', 'running'), true)
        assert.equal(await s.updateRunStatus('other', 'running'), true)
        assert.equal(await s.heartbeatRun('other', c.leaseId), false, 'the lease was released')
        assert.equal(await s.claimNextRun([WF]), null)
        const taken = [await claim(s, clock.now() - STALE_MS), await claim(s, clock.now() - STALE_MS)]
        assert.deepEqual(taken.map((x) => x.id).sort(), ['was-pending', 'was-running'])
        assert.equal((await s.claimNextRun(['other'], clock.now() - STALE_MS))?.id, 'other')
      })

      it('refuses terminal runs and unknown ids', async (s, clock) => {
        await s.createRun(makeRun(clock, 'done'))
        await s.createRun(makeRun(clock, 'failed'))
        await s.createRun(makeRun(clock, 'cancelled'))
        await finish(s, 'done', 'completed')
        await finish(s, 'failed', 'failed')
        assert.equal(await s.updateRunStatus('cancelled', 'cancelled'), true)
        const attempts: Array<[string, RunStatus]> = [
          ['done', 'cancelled'], ['done', 'pending'], ['done', 'failed'],
          ['failed', 'cancelled'], ['failed', 'pending'], ['failed', 'running'],
          ['cancelled', 'pending'], ['cancelled', 'cancelled'], ['cancelled', 'completed'],
        ]
        for (const [id, status] of attempts) assert.equal(await s.updateRunStatus(id, status), false, `${id} → ${status}`)
        assert.equal((await s.getRun('done'))?.status, 'completed')
        assert.equal((await s.getRun('failed'))?.status, 'failed')
        assert.equal((await s.getRun('cancelled'))?.status, 'cancelled')
        assert.equal(await s.updateRunStatus('nope', 'cancelled'), false)
        assert.equal(await s.getRun('nope'), null)
      })
    })

    r.group('updateClaimedRunStatus', () => {
      it('sets a terminal status under the lease and releases the lease', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        const c = await claim(s)
        assert.equal(await s.updateClaimedRunStatus('r1', c.leaseId, 'completed'), true)
        assert.equal((await s.getRun('r1'))?.status, 'completed')
        assert.equal(await s.heartbeatRun('r1', c.leaseId), false)
        assert.equal(await s.updateClaimedRunStatus('r1', c.leaseId, 'failed'), false)
        assert.equal((await s.getRun('r1'))?.status, 'completed')
      })

      it('hands a run back with pending: claimable again at once, under a new lease', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        const c = await claim(s)
        assert.equal(await s.updateClaimedRunStatus('r1', c.leaseId, 'pending'), true)
        assert.equal((await s.getRun('r1'))?.status, 'pending')
        assert.equal(await s.saveStepResult(makeStep(clock, 'r1', 'a'), c.leaseId), false)
        const again = await claim(s)
        assert.equal(again.id, 'r1')
        assert.notEqual(again.leaseId, c.leaseId)
        assert.equal(await s.heartbeatRun('r1', c.leaseId), false)
        assert.equal(await s.heartbeatRun('r1', again.leaseId), true)
      })

      it('keeps the lease with running', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        const c = await claim(s)
        assert.equal(await s.updateClaimedRunStatus('r1', c.leaseId, 'running'), true)
        assert.equal((await s.getRun('r1'))?.status, 'running')
        assert.equal(await s.heartbeatRun('r1', c.leaseId), true)
        assert.equal(await s.claimNextRun([WF]), null)
      })

      it('refuses a wrong lease, a pending run and an unknown run', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        assert.equal(await s.updateClaimedRunStatus('r1', 'any', 'completed'), false)
        assert.equal((await s.getRun('r1'))?.status, 'pending')
        const c = await claim(s)
        assert.equal(await s.updateClaimedRunStatus('r1', 'not-the-lease', 'failed'), false)
        assert.equal(await s.updateClaimedRunStatus('nope', c.leaseId, 'failed'), false)
        assert.equal((await s.getRun('r1'))?.status, 'running')
        assert.equal(await s.heartbeatRun('r1', c.leaseId), true)
      })
    })

    r.group('retryRun', () => {
      itRetries('moves a failed run back to pending, keeping completed steps and dropping failed ones', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        const c = await claim(s)
        const ok = makeStep(clock, 'r1', 'ok')
        await s.saveStepResult(ok, c.leaseId)
        await s.saveStepResult(makeStep(clock, 'r1', 'bad', { status: 'failed', output: undefined, error: 'no' }), c.leaseId)
        await s.updateClaimedRunStatus('r1', c.leaseId, 'failed')
        assert.equal((await s.getStepResults('r1')).length, 2)
        await clock.advance(100)
        assert.equal(await s.retryRun('r1'), true)
        const retried = await s.getRun('r1')
        assert.equal(retried?.status, 'pending')
        assert.equal(retried?.updatedAt, clock.now())
        assert.deepEqual(await s.getStepResults('r1'), [ok])
        const again = await claim(s)
        assert.equal(again.id, 'r1')
        assert.notEqual(again.leaseId, c.leaseId)
        assert.deepEqual(again.steps ?? (await s.getStepResults('r1')), [ok])
        assert.equal(await s.heartbeatRun('r1', c.leaseId), false)
        assert.equal(await s.saveStepResult(makeStep(clock, 'r1', 'bad'), again.leaseId), true)
        assert.equal(await s.updateClaimedRunStatus('r1', again.leaseId, 'completed'), true)
        assert.deepEqual((await s.getStepResults('r1')).map((x) => [x.name, x.status]), [['ok', 'completed'], ['bad', 'completed']])
      })

      itRetries('moves a cancelled run back to pending', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        await s.saveStepResult(makeStep(clock, 'r1', 'ok'))
        await s.updateRunStatus('r1', 'cancelled')
        assert.equal(await s.retryRun('r1'), true)
        assert.equal((await s.getRun('r1'))?.status, 'pending')
        assert.equal((await claim(s)).id, 'r1')
        assert.deepEqual((await s.getStepResults('r1')).map((x) => x.name), ['ok'])
      })

      itRetries('keeps first-recorded order for steps recorded after the failed ones were dropped', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        // Names sort against recording order, so an order that fell back on names would show.
        await s.saveStepResult(makeStep(clock, 'r1', 'x'))
        await s.saveStepResult(makeStep(clock, 'r1', 'fails', { status: 'failed', output: undefined, error: 'no' }))
        await s.saveStepResult(makeStep(clock, 'r1', 'm'))
        assert.equal(await s.updateRunStatus('r1', 'failed'), true)
        assert.equal(await s.retryRun('r1'), true)
        await s.saveStepResult(makeStep(clock, 'r1', 'c'))
        await s.saveStepResult(makeStep(clock, 'r1', 'x', { output: 'replaced' }))
        await s.saveStepResult(makeStep(clock, 'r1', 'a'))
        assert.deepEqual((await s.getStepResults('r1')).map((x) => x.name), ['x', 'm', 'c', 'a'])
      })

      itRetries('refuses completed, pending, running and unknown runs', async (s, clock) => {
        await s.createRun(makeRun(clock, 'done'))
        await s.createRun(makeRun(clock, 'running'))
        await s.createRun(makeRun(clock, 'pending'))
        await finish(s, 'done', 'completed')
        const c = await claim(s)
        assert.equal(c.id, 'running')
        for (const id of ['done', 'running', 'pending', 'nope']) assert.equal(await s.retryRun(id), false, id)
        assert.equal((await s.getRun('done'))?.status, 'completed')
        assert.equal((await s.getRun('running'))?.status, 'running')
        assert.equal((await s.getRun('pending'))?.status, 'pending')
        assert.equal(await s.heartbeatRun('running', c.leaseId), true)
      })
    })

    r.group('values that cannot be stored', () => {
      it('are rejected before anything is written', async (s, clock) => {
        await assert.rejects(async () => s.createRun(makeRun(clock, 'bad', { input: { m: new Map([['f', () => 1]]) } })), SerializationError)
        assert.equal(await s.getRun('bad'), null)
        await s.createRun(makeRun(clock, 'r1'))
        const c = await claim(s)
        const bad = makeStep(clock, 'r1', 'socket', { output: { conn: new (class Socket {})() } })
        await assert.rejects(async () => s.saveStepResult(bad, c.leaseId), SerializationError)
        await assert.rejects(async () => s.saveStepResult(bad), SerializationError)
        assert.deepEqual(await s.getStepResults('r1'), [])
        assert.equal((await s.getRun('r1'))?.status, 'running')
        assert.equal(await s.heartbeatRun('r1', c.leaseId), true)
      })
    })

    r.group('initialize / close', () => {
      it('initialize again keeps what is stored', async (s, clock) => {
        await s.createRun(makeRun(clock, 'r1'))
        await s.initialize()
        assert.equal((await s.getRun('r1'))?.status, 'pending')
      })

      r.test('close makes further calls fail', async () => {
        const clock = new ManualClock(START)
        const s = await target.create(clock)
        await s.createRun(makeRun(clock, 'r1'))
        s.close()
        await assert.rejects(async () => s.getRun('r1'), StorageError)
        await assert.rejects(async () => s.claimNextRun([WF]), StorageError)
        await assert.rejects(async () => s.createRun(makeRun(clock, 'r2')), StorageError)
        await assert.rejects(async () => s.heartbeatRun('r1', 'lease'), StorageError)
      })
    })

    r.group('races', () => {
      race('N connections claiming M runs concurrently claim each run exactly once', 4, async (conns, clock) => {
        const ids = Array.from({ length: 60 }, (_, i) => `r${String(i).padStart(2, '0')}`)
        for (const id of ids) await conns[0]!.createRun(makeRun(clock, id))
        const perConnection = await Promise.all(
          conns.map(async (c, i) => {
            const mine: string[] = []
            for (let round = 0; ; round++) {
              const staleBefore = (round + i) % 2 === 0 ? clock.now() - STALE_MS : undefined
              const run = await c.claimNextRun([WF], staleBefore)
              if (!run) return mine
              mine.push(run.id)
            }
          }),
        )
        const all = perConnection.flat()
        assert.equal(all.length, ids.length, 'no run claimed twice')
        assert.deepEqual([...all].sort(), ids)
        for (const id of ids) assert.equal((await conns[3]!.getRun(id))?.status, 'running')
      })

      race('of several connections reclaiming one stale run, exactly one wins', 4, async (conns, clock) => {
        await conns[0]!.createRun(makeRun(clock, 'r1'))
        const old = await claim(conns[0]!)
        await clock.advance(STALE_MS + 1)
        const staleBefore = clock.now() - STALE_MS
        const results = await Promise.all(conns.flatMap((c) => [c.claimNextRun([WF], staleBefore), c.claimNextRun([WF], staleBefore)]))
        const winners = results.filter((x) => x !== null)
        assert.equal(winners.length, 1)
        const winner = winners[0]!
        assert.equal(winner.id, 'r1')
        assert.notEqual(winner.leaseId, old.leaseId)
        for (const c of conns) assert.equal(await c.heartbeatRun('r1', winner.leaseId), true)
      })

      race('writers holding a stale lease cannot write after a reclaim; the new holder can', 4, async (conns, clock) => {
        await conns[0]!.createRun(makeRun(clock, 'r1'))
        const old = await claim(conns[1]!)
        await clock.advance(STALE_MS + 1)
        const fresh = await claim(conns[2]!, clock.now() - STALE_MS)
        const stale = await Promise.all(
          conns.flatMap((c, i) => [
            c.heartbeatRun('r1', old.leaseId),
            c.saveStepResult(makeStep(clock, 'r1', `stale-${i}`), old.leaseId),
            c.updateClaimedRunStatus('r1', old.leaseId, 'failed'),
            c.updateClaimedRunStatus('r1', old.leaseId, 'pending'),
          ]),
        )
        assert.deepEqual(stale, stale.map(() => false))
        const current = await Promise.all(conns.map((c, i) => c.saveStepResult(makeStep(clock, 'r1', `fresh-${i}`), fresh.leaseId)))
        assert.deepEqual(current, [true, true, true, true])
        assert.equal(await conns[3]!.updateClaimedRunStatus('r1', fresh.leaseId, 'completed'), true)
        assert.equal((await conns[0]!.getRun('r1'))?.status, 'completed')
        const names = (await conns[1]!.getStepResults('r1')).map((x) => x.name).sort()
        assert.deepEqual(names, ['fresh-0', 'fresh-1', 'fresh-2', 'fresh-3'])
      })

      race('of connections racing to create one idempotency key, exactly one creates', 4, async (conns, clock) => {
        const results = await Promise.all(
          conns.flatMap((c, i) => [0, 1].map((j) => c.createRun(makeRun(clock, `r${i}-${j}`, { idempotencyKey: 'once' })))),
        )
        assert.equal(results.filter((x) => x.created).length, 1)
        const id = results.find((x) => x.created)!.run.id
        for (const x of results) assert.equal(x.run.id, id)
        assert.deepEqual(await claimAll(conns[0]!, [WF]), [id])
      })
    })

    r.checkSkips()
  })
}

function makeRun(clock: Clock, id: string, over: Partial<WorkflowRun> = {}): WorkflowRun {
  return {
    id,
    workflow: WF,
    input: { id },
    status: 'pending',
    idempotencyKey: null,
    createdAt: clock.now(),
    updatedAt: clock.now(),
    ...over,
  }
}

function makeStep(clock: Clock, runId: string, name: string, over: Partial<StepResult> = {}): StepResult {
  return {
    runId,
    name,
    status: 'completed',
    output: { step: name },
    error: null,
    attempts: 1,
    createdAt: clock.now(),
    updatedAt: clock.now(),
    ...over,
  }
}

async function claim(s: StorageAdapter, staleBefore?: number): Promise<ClaimedRun> {
  const run = await s.claimNextRun([WF], staleBefore)
  assert.ok(run, 'expected a claimable run')
  return run
}

/** Claims until nothing is left and returns the ids in claim order. */
async function claimAll(s: StorageAdapter, names: readonly string[]): Promise<string[]> {
  const ids: string[] = []
  for (let run = await s.claimNextRun(names); run; run = await s.claimNextRun(names)) ids.push(run.id)
  return ids
}

/** Claims run `id` (which must be the next claimable) and moves it to a terminal status under its lease. */
async function finish(s: StorageAdapter, id: string, status: 'completed' | 'failed'): Promise<void> {
  const c = await claim(s)
  assert.equal(c.id, id)
  assert.equal(await s.updateClaimedRunStatus(id, c.leaseId, status), true)
}
