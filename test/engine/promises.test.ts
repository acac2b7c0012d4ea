/**
 * The promises the engine makes about attempts, slots, leases, stop and storage faults: one test per
 * bug the engine-promises issue names, each of which failed on the engine before the store redesign.
 */

import { afterAll, describe, expect, test } from 'bun:test'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { ManualClock, SystemClock, type Clock } from '../../src/core/clock.ts'
import { NonRetryableError, RunCancelledError, StepInterruptedError } from '../../src/core/errors.ts'
import { createEngine, createWorkflow } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'
import { STORE } from '../../src/storage/store.ts'
import { testEngine } from '../../src/test.ts'
import { deferred, manualEngine, until, lockstepTest } from './helpers.ts'

const input = z.object({})
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflow-promises-'))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
let files = 0
const dbFile = () => path.join(dir, `db-${files++}.sqlite`)

/** Resolves when `predicate` holds, looking again every few milliseconds, for at most `ms`. */
async function eventually(predicate: () => boolean | Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

describe('one attempt in flight per run', () => {
  test('a timed-out attempt whose handler ignores its signal holds back the next attempt until it settles', async () => {
    let inFlight = 0
    let maxInFlight = 0
    let started = 0
    const handlers: { resolve(): void }[] = []
    const wf = createWorkflow({ name: 'slow', input }).step('call', {
      timeoutMs: 100,
      retry: { maxAttempts: 3, initialDelayMs: 10 },
      handler: async () => {
        started++
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        const settle = deferred()
        handlers.push(settle)
        await settle.promise // ignores its signal
        inFlight--
        return 'late'
      },
    })
    const errors: Error[] = []
    const { engine, clock } = manualEngine({ workflows: [wf], hooks: { onError: (e) => void errors.push(e) } })
    await engine.start()
    const run = await engine.enqueue('slow', {})
    await until(() => started === 1, 'the first attempt')
    await clock.advance(5_000) // timeout, backoff and far beyond: the handler still has not settled
    expect(started).toBe(1)
    expect(errors.some((e) => /still running .* after its signal/.test(e.message))).toBe(false)
    await clock.advance(10_000) // past the grace period: reported, naming run and step
    expect(errors.some((e) => e.message.includes(run.id) && e.message.includes('"call"'))).toBe(true)
    handlers[0]!.resolve()
    await until(async () => (await engine.getRunStatus(run.id))?.run.status === 'pending', 'released for its backoff')
    await clock.advance(10)
    await until(() => started === 2, 'the second attempt, once the first has settled')
    expect(maxInFlight).toBe(1)
    const info = await engine.getRunStatus(run.id)
    expect(info?.attempts).toMatchObject([{ stepName: 'call', attempt: 1, status: 'failed', errorName: 'StepTimeoutError' }])
    handlers[1]!.resolve()
    await until(async () => (await engine.getRunStatus(run.id))?.run.status === 'completed', 'completion')
    await engine.stop()
  })

  test('a cancelled handler that ignores its signal keeps its slot: concurrency is never exceeded', async () => {
    let inFlight = 0
    let maxInFlight = 0
    const settle = deferred()
    const wf = createWorkflow({ name: 'stubborn', input }).step('work', async () => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      await settle.promise
      inFlight--
    })
    const { engine } = manualEngine({ workflows: [wf] })
    await engine.start()
    const a = await engine.enqueue('stubborn', {})
    await until(() => inFlight === 1, 'run a started')
    expect(await engine.cancel(a.id)).toBe(true)
    const b = await engine.enqueue('stubborn', {})
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(inFlight).toBe(1) // b waits for a's slot
    settle.resolve()
    await until(async () => (await engine.getRunStatus(b.id))?.run.status === 'completed', 'b completes')
    expect(maxInFlight).toBe(1)
    expect((await engine.getRunStatus(a.id))?.run.status).toBe('cancelled')
    await engine.stop()
  })
  test('each step gets its own signal: cancelling a later step never aborts an earlier step’s', async () => {
    const heard: string[] = []
    const second = deferred()
    const wf = createWorkflow({ name: 'two-steps', input })
      .step('reserve', ({ signal }) => {
        signal.addEventListener('abort', () => heard.push('reserve'))
        return 'reserved'
      })
      .step('pay', async ({ signal }) => {
        signal.addEventListener('abort', () => heard.push('pay'))
        second.resolve()
        await new Promise((resolve) => signal.addEventListener('abort', resolve))
      })
    const { engine } = manualEngine({ workflows: [wf] })
    const run = await engine.enqueue('two-steps', {})
    const ticked = engine.tick()
    await second.promise
    expect(await engine.cancel(run.id)).toBe(true)
    await ticked
    expect(heard).toEqual(['pay'])
  })
})

describe('durable attempts', () => {
  test('maxAttempts counts across a stop during the backoff and a second engine', async () => {
    let calls = 0
    const wf = createWorkflow({ name: 'flaky', input }).step('call', {
      retry: { maxAttempts: 2, initialDelayMs: 1_000 },
      handler: () => {
        calls++
        throw new Error(`failure ${calls}`)
      },
    })
    const clock = new ManualClock(1_000_000)
    const storage = new SQLiteStorage(dbFile())
    const first = createEngine({ storage, workflows: [wf], clock })
    await first.start()
    const run = await first.enqueue('flaky', {})
    await until(async () => (await first.getRunStatus(run.id))?.run.attempt === 1, 'the first failure recorded')
    await first.stop()
    const second = createEngine({ storage, workflows: [wf], clock })
    await second.start()
    await clock.advance(1_000)
    await until(async () => (await second.getRunStatus(run.id))?.run.status === 'failed', 'the run fails after two attempts')
    await second.stop()
    expect(calls).toBe(2)
    const info = await second.getRunStatus(run.id)
    expect(info?.attempts.map((a) => [a.attempt, a.errorMessage])).toEqual([[1, 'failure 1'], [2, 'failure 2']])
    // retry keeps the history
    expect(await second.retry(run.id)).toBe(true)
    expect((await second.getRunStatus(run.id))?.attempts).toHaveLength(2)
    storage.close()
  })

  test('a backoff holds no slot: with concurrency 1 another run completes meanwhile', async () => {
    const order: string[] = []
    const wf = createWorkflow({ name: 'two', input: z.object({ name: z.string() }) }).step('call', {
      retry: { maxAttempts: 2, initialDelayMs: 3_000 },
      handler: ({ input: { name }, attempt }) => {
        order.push(`${name}#${attempt}`)
        if (name === 'a' && attempt === 1) throw new Error('transient')
      },
    })
    const { engine, clock } = manualEngine({ workflows: [wf] })
    await engine.start()
    const a = await engine.enqueue('two', { name: 'a' })
    const b = await engine.enqueue('two', { name: 'b' })
    await until(async () => (await engine.getRunStatus(b.id))?.run.status === 'completed', 'b completes during a’s backoff')
    expect((await engine.getRunStatus(a.id))?.run).toMatchObject({ status: 'pending', attempt: 1, availableAt: clock.now() + 3_000 })
    await clock.advance(3_000)
    await until(async () => (await engine.getRunStatus(a.id))?.run.status === 'completed', 'a completes after its backoff')
    expect(order).toEqual(['a#1', 'b#1', 'a#2'])
    await engine.stop()
  })

  lockstepTest('NonRetryableError fails the step at once; maxDelayMs caps the backoff; the context names the attempt', async () => {
    const seen: unknown[] = []
    const wf = createWorkflow({ name: 'ctx', input }).step('pay', {
      retry: { maxAttempts: 5, initialDelayMs: 1_000, backoff: 'exponential', maxDelayMs: 1_500 },
      handler: ({ runId, workflow, stepName, attempt }) => {
        seen.push({ runId, workflow, stepName, attempt })
        if (attempt < 3) throw new Error('retry me')
        throw new NonRetryableError('card declined')
      },
    })
    const { engine, clock } = manualEngine({ workflows: [wf] })
    await engine.start()
    const run = await engine.enqueue('ctx', {})
    await until(() => seen.length === 1, 'attempt 1')
    await clock.advance(1_000)
    await until(() => seen.length === 2, 'attempt 2 after 1000 ms')
    await clock.advance(1_499)
    expect(seen).toHaveLength(2) // 2000 ms capped to 1500
    await clock.advance(1)
    await until(async () => (await engine.getRunStatus(run.id))?.run.status === 'failed', 'failed at once on attempt 3')
    expect(seen).toEqual([1, 2, 3].map((attempt) => ({ runId: run.id, workflow: 'ctx', stepName: 'pay', attempt })))
    const info = await engine.getRunStatus(run.id)
    expect(info?.steps).toMatchObject([{ name: 'pay', status: 'failed', error: 'card declined', attempts: 3 }])
    expect(info?.attempts.map((a) => a.errorName)).toEqual(['Error', 'Error', 'NonRetryableError'])
    await engine.stop()
  })
})

describe('crash loops end', () => {
  test('a step interrupted maxInterruptions times fails the run with StepInterruptedError', async () => {
    let calls = 0
    const wf = createWorkflow({ name: 'poison', input }).step('oom', () => {
      calls++
    })
    const clock = new ManualClock(1_000_000)
    const storage = new MemoryStorage({ clock })
    const store = storage[STORE]()
    const engine = createEngine({ storage, workflows: [wf], clock, maxInterruptions: 3, runLeaseDurationMs: 1_000, heartbeatIntervalMs: 300 })
    const run = await engine.enqueue('poison', {})
    // Three workers claim the run and die without a trace (no release, no heartbeat).
    for (let i = 0; i < 3; i++) {
      const [claimed] = await store.claim({ workflows: ['poison'], limit: 1, now: clock.now(), leaseMs: 1_000, includeExpired: true, owner: `doomed ${i}` })
      expect(claimed?.id).toBe(run.id)
      await clock.advance(1_000)
    }
    await engine.tick()
    const info = await engine.getRunStatus(run.id)
    expect(calls).toBe(0)
    expect(info?.run.status).toBe('failed')
    expect(info?.steps).toMatchObject([{ name: 'oom', status: 'failed' }])
    expect(info?.steps[0]?.error).toContain('interrupted 3 times')
    expect(info?.attempts.map((a) => a.status)).toEqual(['interrupted', 'interrupted', 'interrupted', 'failed'])
    expect(info?.attempts[3]?.errorName).toBe(new StepInterruptedError('oom', 3).name)
  })

  test('a crash does not count against maxAttempts', async () => {
    let calls = 0
    const wf = createWorkflow({ name: 'once', input }).step('work', () => {
      calls++
      return 'done'
    })
    const clock = new ManualClock(1_000_000)
    const storage = new MemoryStorage({ clock })
    const engine = createEngine({ storage, workflows: [wf], clock, runLeaseDurationMs: 1_000, heartbeatIntervalMs: 300 })
    const run = await engine.enqueue('once', {})
    await storage[STORE]().claim({ workflows: ['once'], limit: 1, now: clock.now(), leaseMs: 1_000, includeExpired: false, owner: 'crashes' })
    await clock.advance(1_000)
    await engine.tick()
    expect(calls).toBe(1)
    expect((await engine.getRunStatus(run.id))?.steps).toMatchObject([{ status: 'completed', attempts: 2 }])
  })
})

describe('storage faults', () => {
  test('a step write that fails behind another writer is retried; the run completes without re-running the step', async () => {
    const file = dbFile()
    const storage = new SQLiteStorage(file, { busyTimeoutMs: 20 })
    const blocker = new SQLiteStorage(file)
    await storage.initialize()
    await blocker.initialize()
    let calls = 0
    const gate = deferred()
    const wf = createWorkflow({ name: 'busy', input }).step('work', async () => {
      calls++
      await gate.promise
      return 'ok'
    })
    const errors: Error[] = []
    const firstError = deferred()
    const engine = createEngine({
      storage,
      workflows: [wf],
      hooks: {
        onError: (e) => {
          errors.push(e)
          firstError.resolve()
        },
      },
    })
    await engine.start()
    const run = await engine.enqueue('busy', {})
    await eventually(() => calls === 1, 'the step runs')
    // Another connection takes the write lock: the step's record fails with SQLITE_BUSY.
    await blocker.withStatements('hold the lock', 'read', (stmt) => stmt('begin immediate').run())
    gate.resolve()
    await firstError.promise
    await blocker.withStatements('release the lock', 'read', (stmt) => stmt('commit').run())
    await eventually(async () => (await engine.getRunStatus(run.id))?.run.status === 'completed', 'completion after the fault clears')
    expect(calls).toBe(1)
    expect(errors[0]?.message).toMatch(/locked|busy/i)
    await engine.stop()
    storage.close()
    blocker.close()
  })
})

describe('stop and start', () => {
  test('stop() waits for an in-flight tick()', async () => {
    const wf = createWorkflow({ name: 'quick', input }).step('work', () => 'done')
    const { engine } = manualEngine({ workflows: [wf] })
    await engine.enqueue('quick', {})
    let ticked = false
    const ticking = engine.tick().then(() => (ticked = true))
    await engine.stop()
    expect(ticked).toBe(true)
    await ticking
  })

  test('start() during a pending stop() waits for it, and the step in flight finishes and is recorded', async () => {
    const gate = deferred()
    let entered = false
    const wf = createWorkflow({ name: 'slow', input }).step('work', async () => {
      entered = true
      await gate.promise
      return 'finished'
    })
    const { engine } = manualEngine({ workflows: [wf] })
    await engine.start()
    const run = await engine.enqueue('slow', {})
    await until(() => entered, 'the step started')
    let stopped = false
    const stopping = engine.stop().then(() => (stopped = true))
    let started = false
    const starting = engine.start().then(() => (started = true))
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
    expect([stopped, started]).toEqual([false, false])
    gate.resolve()
    await stopping
    expect((await engine.getRunStatus(run.id))?.steps).toMatchObject([{ name: 'work', output: 'finished' }])
    await starting
    expect(stopped && started).toBe(true)
    await until(async () => (await engine.getRunStatus(run.id))?.run.status === 'completed', 'completion after the restart')
    await engine.stop()
  })

  test('stop({ timeoutMs }) returns with a handler that never settles, handing its run back', async () => {
    const wf = createWorkflow({ name: 'forever', input }).step('hang', () => new Promise(() => {}))
    const storage = new MemoryStorage()
    const engine = createEngine({ storage, workflows: [wf] })
    await engine.start()
    const run = await engine.enqueue('forever', {})
    await eventually(async () => (await engine.getRunStatus(run.id))?.run.status === 'running', 'running')
    await engine.stop({ timeoutMs: 20 })
    expect((await engine.getRunStatus(run.id))?.run).toMatchObject({ status: 'pending', interruptions: 1 })
  })

  test('an onFailure that never settles is bounded, reported, and the run still fails', async () => {
    const reported = deferred<Error>()
    const wf = createWorkflow({ name: 'saga', input })
      .step('boom', () => {
        throw new Error('boom')
      })
      .onFailure(() => new Promise(() => {}))
    const engine = createEngine({ storage: new MemoryStorage(), workflows: [wf], onFailureTimeoutMs: 20, hooks: { onError: reported.resolve } })
    const run = await engine.enqueue('saga', {})
    await engine.tick()
    expect((await engine.getRunStatus(run.id))?.run.status).toBe('failed')
    expect((await reported.promise).message).toContain('did not settle within 20 ms')
  })
})

describe('clocks', () => {
  test('storage is stamped with the engine clock: a live run is never executed twice', async () => {
    const ahead: Clock = { now: () => Date.now() + 3_600_000, monotonic: () => performance.now(), setTimer: SystemClock.setTimer }
    const gate = deferred()
    let calls = 0
    const wf = createWorkflow({ name: 'live', input }).step('work', async () => {
      calls++
      await gate.promise
    })
    const storage = new SQLiteStorage(dbFile())
    const engine = createEngine({ storage, workflows: [wf], clock: ahead, concurrency: 2, runLeaseDurationMs: 60_000 })
    await engine.start(5)
    const run = await engine.enqueue('live', {})
    await eventually(() => calls === 1, 'started')
    const before = (await engine.getRunStatus(run.id))!.run
    // Several poll intervals, each of which looks for expired leases.
    await eventually(async () => (await engine.getRunStatus(run.id))!.run.updatedAt !== before.updatedAt || calls > 1, 'a heartbeat', 100).catch(() => {})
    expect(calls).toBe(1)
    expect(before.availableAt).toBeGreaterThan(Date.now() + 3_600_000)
    gate.resolve()
    await eventually(async () => (await engine.getRunStatus(run.id))?.run.status === 'completed', 'completion')
    await engine.stop()
    storage.close()
  })

  test('a forward wall-clock jump does not make an engine take over its own live runs', async () => {
    let jump = 0
    const jumpy: Clock = { now: () => Date.now() + jump, monotonic: () => performance.now(), setTimer: SystemClock.setTimer }
    const gate = deferred()
    let calls = 0
    const wf = createWorkflow({ name: 'live', input }).step('work', async ({ signal }) => {
      calls++
      await gate.promise
      return signal.aborted
    })
    const storage = new SQLiteStorage(dbFile())
    const engine = createEngine({ storage, workflows: [wf], clock: jumpy, concurrency: 2, runLeaseDurationMs: 300, heartbeatIntervalMs: 100 })
    await engine.start(5)
    const run = await engine.enqueue('live', {})
    await eventually(() => calls === 1, 'started')
    jump = 3_600_000
    const jumpedAt = Date.now() + jump
    await eventually(async () => calls > 1 || ((await engine.getRunStatus(run.id))!.run.heartbeatAt ?? 0) >= jumpedAt, 'a renewal after the jump')
    expect(calls).toBe(1)
    gate.resolve()
    await eventually(async () => (await engine.getRunStatus(run.id))?.run.status === 'completed', 'completion')
    expect((await engine.getRunStatus(run.id))?.steps[0]?.output).toBe(false)
    await engine.stop()
    storage.close()
  })
})

describe('cancellation from elsewhere', () => {
  test('a cancel from another connection aborts the running step within the change latency, as a cancellation', async () => {
    const file = dbFile()
    const storage = new SQLiteStorage(file)
    const other = new SQLiteStorage(file)
    const aborted = deferred<unknown>()
    const wf = createWorkflow({ name: 'long', input }).step('wait', ({ signal }) => {
      signal.addEventListener('abort', () => aborted.resolve(signal.reason))
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()))
    })
    // Heartbeats every 20 s: only the change watch can bring the news within this test's time.
    const engine = createEngine({ storage, workflows: [wf], runLeaseDurationMs: 60_000 })
    await engine.start()
    const run = await engine.enqueue('long', {})
    await eventually(async () => (await engine.getRunStatus(run.id))?.run.status === 'running', 'running')
    expect(await other.updateRunStatus(run.id, 'cancelled')).toBe(true)
    expect(await aborted.promise).toBeInstanceOf(RunCancelledError)
    await engine.stop()
    storage.close()
    other.close()
  })

  test('cancel then retry from another connection while the worker holds the run: never two executions at once', async () => {
    const file = dbFile()
    const storage = new SQLiteStorage(file)
    const other = new SQLiteStorage(file)
    let inFlight = 0
    let maxInFlight = 0
    let calls = 0
    const gates = [deferred(), deferred()]
    const wf = createWorkflow({ name: 'held', input }).step('work', async () => {
      const gate = gates[calls++]!
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      await gate.promise // ignores its signal
      inFlight--
    })
    const engine = createEngine({ storage, workflows: [wf], concurrency: 4 })
    await engine.start(5)
    const run = await engine.enqueue('held', {})
    await eventually(() => calls === 1, 'started')
    await other.updateRunStatus(run.id, 'cancelled')
    await other.retryRun(run.id)
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 1))
    expect(calls).toBe(1)
    gates[0]!.resolve()
    await eventually(() => calls === 2, 'the retried run starts once the cancelled handler settled')
    gates[1]!.resolve()
    await eventually(async () => (await engine.getRunStatus(run.id))?.run.status === 'completed', 'completion')
    expect(maxInFlight).toBe(1)
    await engine.stop()
    storage.close()
    other.close()
  })
})

describe('values thrown', () => {
  const throwers: [string, () => unknown][] = [
    ['an Error whose message is not a string', () => Object.assign(new Error('x'), { message: { nested: true } })],
    ['an Error whose message getter throws', () => Object.defineProperty(new Error('x'), 'message', { get: () => { throw new Error('no') } })],
    ['an object whose toString and toJSON throw', () => ({ toString: () => { throw new Error('a') }, toJSON: () => { throw new Error('b') } })],
    ['a cyclic null-prototype object', () => { const o = Object.create(null); o.self = o; return o }],
    ['a symbol', () => Symbol('odd')],
  ]
  for (const [what, make] of throwers) {
    test(`${what} fails the run with a readable error`, async () => {
      const wf = createWorkflow({ name: 'odd', input }).step('throw', () => {
        throw make()
      })
      const te = testEngine({ workflows: [wf] })
      const result = await te.run('odd', {})
      expect(result.status).toBe('failed')
      const error = (result.steps.throw as { error: string | null }).error
      expect(typeof error).toBe('string')
      expect(error!.length).toBeGreaterThan(0)
    })
  }
})

describe('testEngine', () => {
  test('skips backoffs the engine makes itself, also on a manual clock', async () => {
    let calls = 0
    const wf = createWorkflow({ name: 'flaky', input }).step('call', {
      retry: { maxAttempts: 3, initialDelayMs: 3_600_000 },
      handler: () => {
        if (++calls < 3) throw new Error('not yet')
        return 'ok'
      },
    })
    for (const clock of [undefined, new ManualClock(0)]) {
      calls = 0
      const te = testEngine({ workflows: [wf], ...(clock && { clock }) })
      const result = await te.run('flaky', {})
      expect(result.status).toBe('completed')
      expect(calls).toBe(3)
    }
  })
})

describe('unregistered workflows', () => {
  test('an engine that finds pending runs of a workflow it does not know says so once', async () => {
    const storage = new MemoryStorage()
    const known = createWorkflow({ name: 'known', input }).step('a', () => 1)
    const other = createWorkflow({ name: 'other', input }).step('b', () => 2)
    await createEngine({ storage, workflows: [other] }).enqueue('other', {})
    const errors: Error[] = []
    const engine = createEngine({ storage, workflows: [known], hooks: { onError: (e) => void errors.push(e) } })
    await engine.start(5)
    await eventually(() => errors.length > 0, 'the report')
    await engine.stop()
    await engine.start(5)
    await engine.stop()
    expect(errors).toHaveLength(1)
    expect(errors[0]?.message).toContain('"other"')
  })
})

