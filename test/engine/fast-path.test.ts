// The started engine's fast path: slots refilled in the same group commit as the write that freed
// them, wake-ups from another connection through the store's change source (its data version, with
// or without file-system notifications), the poll interval as the fallback for adapters without one, stale runs found
// within a poll interval or two, and no slot held back by a slow run.

import { afterAll, describe, expect, test } from 'bun:test'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ManualClock } from '../../src/core/clock.ts'
import { RunCancelledError } from '../../src/core/errors.ts'
import { createEngine, createWorkflow } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import type { StorageAdapter } from '../../src/storage/adapter.ts'
import { STORE, type ChangeSource, type ClaimRequest } from '../../src/storage/store.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'
import type { StandardSchemaV1 } from '../../src/workflow/schema.ts'
import { deferred } from './helpers.ts'

const dirs: string[] = []
afterAll(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })))

function freshFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflow-fast-'))
  dirs.push(dir)
  return path.join(dir, 'reflow.db')
}

const input: StandardSchemaV1<{ i: number }> = {
  '~standard': { version: 1, vendor: 'test', validate: (value) => ({ value: value as { i: number } }) },
}

/** Resolves after `count` calls of `tick`; rejects after `ms` of real time so a missed wake-up fails. */
function counter(count: number, ms = 10_000) {
  let seen = 0
  const done = deferred()
  const timer = setTimeout(() => done.reject(new Error(`only ${seen} of ${count} events within ${ms} ms`)), ms)
  return {
    tick: () => {
      if (++seen === count) {
        clearTimeout(timer)
        done.resolve()
      }
    },
    get seen() {
      return seen
    },
    done: done.promise,
  }
}

/** The nine StorageAdapter methods of `storage` and nothing else: no extensions, no fast path. */
function plainAdapter(storage: StorageAdapter): StorageAdapter {
  return {
    initialize: () => storage.initialize(),
    createRun: (run) => storage.createRun(run),
    claimNextRun: (names, staleBefore) => storage.claimNextRun(names, staleBefore),
    heartbeatRun: (runId, leaseId) => storage.heartbeatRun(runId, leaseId),
    getRun: (runId) => storage.getRun(runId),
    getStepResults: (runId) => storage.getStepResults(runId),
    saveStepResult: (result, leaseId) => storage.saveStepResult(result, leaseId),
    updateRunStatus: (runId, status) => storage.updateRunStatus(runId, status),
    updateClaimedRunStatus: (runId, leaseId, status) => storage.updateClaimedRunStatus(runId, leaseId, status),
  }
}

describe('group commit through the started engine', () => {
  test('at concurrency 1 a run costs one transaction: its last step, its completion and the next claim', async () => {
    const storage = new SQLiteStorage(freshFile())
    const runs = 50
    const completed = counter(runs)
    const wf = createWorkflow({ name: 'wf', input }).step('only', () => 'ok')
    const engine = createEngine({ storage, workflows: [wf], hooks: { onRunComplete: completed.tick } })
    await Promise.all(Array.from({ length: runs }, (_, i) => engine.enqueue('wf', { i })))
    const before = storage.transactionCount
    await engine.start(60_000)
    await completed.done
    await engine.stop()
    // One per run, plus at most the first claim; without folding it would be two per run.
    expect(storage.transactionCount - before).toBeLessThanOrEqual(runs + 1)
    storage.close()
  })

  test('at concurrency 8 runs share transactions: well under one per run', async () => {
    const storage = new SQLiteStorage(freshFile())
    const runs = 200
    const completed = counter(runs)
    const wf = createWorkflow({ name: 'wf', input }).step('only', async () => 'ok')
    const engine = createEngine({ storage, workflows: [wf], concurrency: 8, hooks: { onRunComplete: completed.tick } })
    await Promise.all(Array.from({ length: runs }, (_, i) => engine.enqueue('wf', { i })))
    const before = storage.transactionCount
    await engine.start(60_000)
    await completed.done
    await engine.stop()
    expect(storage.transactionCount - before).toBeLessThanOrEqual(runs / 4)
    storage.close()
  })

  test('one slow run never holds back the others', async () => {
    const gate = deferred()
    const slowStarted = deferred()
    const fast = counter(20)
    const wf = createWorkflow({ name: 'wf', input }).step('s', async ({ input }) => {
      if (input.i === 0) {
        slowStarted.resolve()
        await gate.promise
      }
    })
    const storage = new SQLiteStorage(freshFile())
    const engine = createEngine({
      storage,
      workflows: [wf],
      concurrency: 2,
      hooks: { onRunComplete: () => fast.tick() },
    })
    for (let i = 0; i <= 20; i++) await engine.enqueue('wf', { i })
    await engine.start(60_000)
    await slowStarted.promise
    // All twenty fast runs complete through the one other slot while the slow one still waits.
    await fast.done
    gate.resolve()
    await engine.stop()
    storage.close()
  })
})

describe('wake-ups from another connection', () => {
  async function noticedFromAnotherConnection(withNotifications: boolean): Promise<number> {
    const file = freshFile()
    const storage = new SQLiteStorage(file)
    if (!withNotifications) {
      // A file system without notifications: the change source's watch never calls back.
      const store = storage[STORE]()
      const { version } = store.changes!
      const silent: ChangeSource = { version, watch: () => () => {} }
      Object.defineProperty(store, 'changes', { value: silent })
    }
    const started = deferred<number>()
    const wf = createWorkflow({ name: 'wf', input }).step('s', () => started.resolve(performance.now()))
    const engine = createEngine({ storage, workflows: [wf] })
    await engine.start(60_000)
    const other = new SQLiteStorage(file)
    const producer = createEngine({ storage: other, workflows: [wf] })
    const enqueuedAt = performance.now()
    await producer.enqueue('wf', { i: 1 })
    const startedAt = await Promise.race([
      started.promise,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('not noticed within 5 s')), 5_000)),
    ])
    await engine.stop()
    other.close()
    storage.close()
    return startedAt - enqueuedAt
  }

  test('a run enqueued through another connection starts long before the 60 s poll (file notifications)', async () => {
    // Notified at once; the bound is loose only for a loaded test machine.
    expect(await noticedFromAnotherConnection(true)).toBeLessThan(1_000)
  })

  test('without notifications, the data version check alone notices it within a few check periods', async () => {
    // Checks back off to every 25 ms while idle: a few periods, far from the 60 s poll.
    expect(await noticedFromAnotherConnection(false)).toBeLessThan(1_000)
  })

  test('an adapter without a change source falls back to the poll interval', async () => {
    const clock = new ManualClock(1_000_000)
    const shared = new MemoryStorage({ clock })
    const started = deferred()
    const wf = createWorkflow({ name: 'wf', input }).step('s', () => started.resolve())
    const engine = createEngine({ storage: plainAdapter(shared), workflows: [wf], clock })
    await engine.start(60_000)
    // Enqueued behind the engine's back: nothing wakes it.
    await createEngine({ storage: shared, workflows: [wf], clock }).enqueue('wf', { i: 1 })
    let ran = false
    void started.promise.then(() => (ran = true))
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(ran).toBe(false)
    await clock.advance(60_000)
    await started.promise
    await engine.stop()
  })
})

describe('started engine', () => {
  test('reclaims a crashed engine’s run within two poll intervals of its lease going stale', async () => {
    const clock = new ManualClock(1_000_000)
    const storage = new MemoryStorage({ clock })
    const done = deferred()
    const wf = createWorkflow({ name: 'wf', input }).step('s', () => 'ok')
    const engine = createEngine({ storage, workflows: [wf], clock, runLeaseDurationMs: 1_000, hooks: { onRunComplete: () => done.resolve() } })
    const run = await engine.enqueue('wf', { i: 1 })
    // A crashed engine with the same lease duration: it claimed the run and will never renew the lease.
    const crashed: ClaimRequest = { workflows: ['wf'], limit: 1, now: clock.now(), leaseMs: 1_000, includeExpired: false, owner: 'crashed' }
    expect((await storage[STORE]().claim(crashed)).map((c) => c.id)).toEqual([run.id])
    await engine.start(1_000)
    // The lease expires at 1_000: until then the run is the crashed engine's.
    await clock.advance(999)
    expect((await storage.getRun(run.id))?.status).toBe('running')
    await clock.advance(2_001)
    await done.promise
    const info = await engine.getRunStatus(run.id)
    expect(info?.run.status).toBe('completed')
    // The crashed engine's attempt is on record as interrupted; the step ran as attempt 2.
    expect(info?.attempts).toMatchObject([{ stepName: 's', attempt: 1, status: 'interrupted' }])
    expect(info?.steps).toMatchObject([{ name: 's', status: 'completed', attempts: 2 }])
    await engine.stop()
  })

  test('cancelling aborts an attempt whose handler ignores its signal; its slot frees when the handler settles', async () => {
    const clock = new ManualClock(1_000_000)
    const storage = new MemoryStorage({ clock })
    const started = deferred()
    const stuck = deferred<string>()
    const secondDone = deferred()
    const after: number[] = []
    let reason: unknown
    const wf = createWorkflow({ name: 'wf', input })
      .step('stuck', ({ input, signal }) => {
        if (input.i !== 1) return 'quick'
        signal.addEventListener('abort', () => (reason = signal.reason))
        started.resolve()
        return stuck.promise
      })
      .step('after', ({ input }) => void after.push(input.i))
    const engine = createEngine({ storage, workflows: [wf], clock, hooks: { onRunComplete: () => secondDone.resolve() } })
    const run = await engine.enqueue('wf', { i: 1 })
    await engine.start(1_000)
    await started.promise
    expect(await engine.cancel(run.id)).toBe(true)
    // At once: the signal aborts with the cancellation, and the run is cancelled.
    expect(reason).toBeInstanceOf(RunCancelledError)
    expect((await engine.getRunStatus(run.id))?.run.status).toBe('cancelled')
    // The only slot stays occupied while the handler runs on: another run waits, polls included.
    const second = await engine.enqueue('wf', { i: 2 })
    await clock.advance(5_000)
    expect((await engine.getRunStatus(second.id))?.run.status).toBe('pending')
    stuck.resolve('too late')
    await secondDone.promise
    expect((await engine.getRunStatus(second.id))?.run.status).toBe('completed')
    // The cancelled run's late result is ignored and no later step of it started.
    expect(after).toEqual([2])
    const info = await engine.getRunStatus(run.id)
    expect(info?.run.status).toBe('cancelled')
    expect(info?.steps).toEqual([])
    await engine.stop()
  })

  test('runs one after another share one heartbeat timer, and a finished tick leaves no timer behind', async () => {
    class CountingClock extends ManualClock {
      heartbeatTimers = 0
      override setTimer(ms: number, fn: () => void) {
        if (ms === 700) this.heartbeatTimers++
        return super.setTimer(ms, fn)
      }
    }
    const clock = new CountingClock(1_000_000)
    const storage = new MemoryStorage({ clock })
    const runs = 20
    const completed = counter(runs)
    const wf = createWorkflow({ name: 'wf', input }).step('s', () => 'ok')
    const config = { storage, workflows: [wf], clock, runLeaseDurationMs: 2_100, heartbeatIntervalMs: 700 }
    const engine = createEngine({ ...config, hooks: { onRunComplete: completed.tick } })
    for (let i = 0; i < runs; i++) await engine.enqueue('wf', { i })
    await engine.start(60_000)
    await completed.done
    await engine.stop()
    expect(clock.heartbeatTimers).toBe(1)
    expect(clock.pendingTimers).toBe(0)
    const ticking = createEngine(config)
    await ticking.enqueue('wf', { i: 99 })
    await ticking.tick()
    expect(clock.pendingTimers).toBe(0)
  })

  test('an idle started engine takes no write transactions', async () => {
    const storage = new SQLiteStorage(freshFile())
    const wf = createWorkflow({ name: 'wf', input }).step('s', () => 'ok')
    const engine = createEngine({ storage, workflows: [wf] })
    await engine.start(20)
    const before = storage.transactionCount
    // Let several poll intervals pass, each one a claim attempt.
    const polls = counter(5)
    const store = storage[STORE]()
    const claim = store.claim.bind(store)
    store.claim = (request) => {
      polls.tick()
      return claim(request)
    }
    await polls.done
    expect(storage.transactionCount).toBe(before)
    await engine.stop()
    storage.close()
  })
})
