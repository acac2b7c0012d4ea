import { describe, expect, test } from 'bun:test'
import { z } from 'zod'
import { createWorkflow } from '../../src/index.ts'
import {
  IdempotencyConflictError,
  InvalidArgumentError,
  LeaseLostError,
  RunCancelledError,
  UnknownWorkflowError,
  ValidationError,
} from '../../src/core/errors.ts'
import { ManualClock } from '../../src/core/clock.ts'
import { createEngine } from '../../src/engine/engine.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'
import { STORE } from '../../src/storage/store.ts'
import { deferred, manualEngine, until, lockstepTest } from './helpers.ts'

const order = z.object({ orderId: z.string(), amount: z.number() })

describe('enqueue', () => {
  test('rejects an unregistered name with the registered ones, and writes nothing', async () => {
    const wf = createWorkflow({ name: 'a', input: order }).step('s', () => 1)
    const { engine, storage } = manualEngine({ workflows: [wf] })
    const enqueue = engine.enqueue as (name: string, input: unknown) => Promise<unknown>
    const error = await enqueue('nope', {}).catch((e: Error) => e)
    expect(error).toBeInstanceOf(UnknownWorkflowError)
    expect((error as Error).message).toBe('Unknown workflow "nope". Registered workflows: "a"')
    expect(await storage.claimNextRun(['a', 'nope'])).toBeNull()
  })

  test('invalid input throws the schema issues and creates no run', async () => {
    const wf = createWorkflow({ name: 'a', input: order }).step('s', () => 1)
    const { engine, storage } = manualEngine({ workflows: [wf] })
    const error = await engine.enqueue('a', { orderId: 5 } as never).catch((e) => e)
    expect(error).toBeInstanceOf(ValidationError)
    expect(error.issues.map((i: { path: string[] }) => i.path.join('.'))).toEqual(['orderId', 'amount'])
    expect(await storage.claimNextRun(['a'])).toBeNull()
  })

  test('input that cannot be stored is refused before any row is written', async () => {
    class Socket {
      write() {}
    }
    const wf = createWorkflow({ name: 'a', input: z.object({ tags: z.any() }) }).step('s', () => 1)
    const { engine, storage } = manualEngine({ workflows: [wf] })
    const error = await engine.enqueue('a', { tags: [new Socket()] }).catch((e) => e)
    expect(error.code).toBe('NOT_SERIALIZABLE')
    expect(error.message).toContain('$.tags[0]')
    expect(error.message).toContain('Socket')
    expect(await storage.claimNextRun(['a'])).toBeNull()
  })

  test('steps receive the parsed input (schema transforms and defaults applied)', async () => {
    let seen: unknown
    const wf = createWorkflow({
      name: 'a',
      input: z.object({ email: z.string().trim().toLowerCase(), plan: z.string().default('free') }),
    }).step('s', ({ input }) => {
      seen = input
    })
    const { engine } = manualEngine({ workflows: [wf] })
    await engine.enqueue('a', { email: '  ADA@Example.com ' })
    await engine.tick()
    expect(seen).toEqual({ email: 'ada@example.com', plan: 'free' })
  })

  test('idempotency: same key and input returns the existing run; different input throws', async () => {
    const wf = createWorkflow({ name: 'a', input: order }).step('s', () => 1)
    const { engine } = manualEngine({ workflows: [wf] })
    const first = await engine.enqueue('a', { orderId: '1', amount: 1 }, { idempotencyKey: 'k' })
    const again = await engine.enqueue('a', { amount: 1, orderId: '1' }, { idempotencyKey: 'k' })
    expect(again.id).toBe(first.id)
    const error = await engine.enqueue('a', { orderId: '1', amount: 2 }, { idempotencyKey: 'k' }).catch((e) => e)
    expect(error).toBeInstanceOf(IdempotencyConflictError)
    expect(error.message).toContain(first.id)
    const other = await engine.enqueue('a', { orderId: '1', amount: 1 }, { idempotencyKey: 'k2' })
    expect(other.id).not.toBe(first.id)
  })
})

describe('execution', () => {
  test('prev is the previous step output, undefined for the first; the run completes', async () => {
    const seen: unknown[] = []
    const wf = createWorkflow({ name: 'a', input: order })
      .step('one', ({ prev }) => {
        seen.push(prev)
        return { at: new Date(0), n: 1 }
      })
      .step('two', async ({ prev }) => {
        seen.push(prev)
      })
      .step('three', ({ prev }) => {
        seen.push(prev)
        return null
      })
    const { engine } = manualEngine({ workflows: [wf] })
    const run = await engine.enqueue('a', { orderId: '1', amount: 1 })
    await engine.tick()
    expect(seen).toEqual([undefined, { at: new Date(0), n: 1 }, undefined])
    const info = await engine.getRunStatus(run.id)
    expect(info?.run.status).toBe('completed')
    expect(info?.steps.map((s) => [s.name, s.status, s.output])).toEqual([
      ['one', 'completed', { at: new Date(0), n: 1 }],
      ['two', 'completed', undefined],
      ['three', 'completed', null],
    ])
  })

  test('a step returning a non-JSON value fails naming the step and path; storage stays usable', async () => {
    const wf = createWorkflow({ name: 'a', input: order })
      .step('cyclic', () => {
        const o: Record<string, unknown> = {}
        o.self = { back: o }
        return o
      })
    const ok = createWorkflow({ name: 'b', input: order }).step('fine', () => 'ok')
    const { engine } = manualEngine({ workflows: [wf, ok] })
    const bad = await engine.enqueue('a', { orderId: '1', amount: 1 })
    await engine.tick()
    const info = await engine.getRunStatus(bad.id)
    expect(info?.run.status).toBe('failed')
    expect(info?.steps[0]?.error).toStartWith('Output of step "cyclic" cannot be stored at $.self.back: circular reference')
    const good = await engine.enqueue('b', { orderId: '1', amount: 1 })
    await engine.tick()
    expect((await engine.getRunStatus(good.id))?.run.status).toBe('completed')
  })

  test('onFailure receives the failing step name, error and input; then hooks see the failure', async () => {
    const events: string[] = []
    const wf = createWorkflow({ name: 'transfer', input: order })
      .step('debit', () => 'debited')
      .step('credit', () => {
        throw new Error('bank down')
      })
      .step('notify', () => events.push('never'))
      .onFailure(({ error, stepName, input }) => {
        events.push(`onFailure ${stepName} ${error.message} ${input.orderId}`)
      })
    const { engine } = manualEngine({
      workflows: [wf],
      hooks: {
        onStepComplete: ({ stepName, attempts }) => events.push(`step ${stepName} ${attempts}`),
        onRunFailed: ({ stepName, error, workflow }) => events.push(`failed ${workflow} ${stepName} ${error.message}`),
        onRunComplete: () => events.push('complete'),
      },
    })
    const run = await engine.enqueue('transfer', { orderId: 'o1', amount: 1 })
    await engine.tick()
    expect(events).toEqual(['step debit 1', 'onFailure credit bank down o1', 'failed transfer credit bank down'])
    expect((await engine.getRunStatus(run.id))?.run.status).toBe('failed')
  })

  test('hooks that throw are reported to onError and do not change the outcome', async () => {
    const errors: string[] = []
    const wf = createWorkflow({ name: 'a', input: order }).step('s', () => 1)
    const { engine } = manualEngine({
      workflows: [wf],
      hooks: {
        onStepComplete: () => {
          throw new Error('hook broke')
        },
        onRunComplete: async () => {
          throw new Error('async hook broke')
        },
        onError: (e) => errors.push(e.message),
      },
    })
    const run = await engine.enqueue('a', { orderId: '1', amount: 1 })
    await engine.tick()
    await until(() => errors.length === 2, 'both hook errors')
    expect(errors.sort()).toEqual(['async hook broke', 'hook broke'])
    expect((await engine.getRunStatus(run.id))?.run.status).toBe('completed')
  })

  test('getRunStatus returns null for an unknown id', async () => {
    const { engine } = manualEngine({ workflows: [] })
    expect(await engine.getRunStatus('missing')).toBeNull()
  })
})

describe('cancellation', () => {
  test('cancelling a pending run: true, never executes; cancelling again: false', async () => {
    let ran = false
    const wf = createWorkflow({ name: 'a', input: order }).step('s', () => (ran = true))
    const { engine } = manualEngine({ workflows: [wf] })
    const run = await engine.enqueue('a', { orderId: '1', amount: 1 })
    expect(await engine.cancel(run.id)).toBe(true)
    expect(await engine.cancel(run.id)).toBe(false)
    await engine.tick()
    expect(ran).toBe(false)
    expect((await engine.getRunStatus(run.id))?.run.status).toBe('cancelled')
    expect(await engine.cancel('unknown')).toBe(false)
  })

  test('cancelling a running run aborts the step signal and starts no later step', async () => {
    const gate = deferred()
    const ignoring = deferred<string>()
    let reason: unknown
    let later = false
    const wf = createWorkflow({ name: 'a', input: order })
      .step('first', () => 'done')
      .step('wait', async ({ signal }) => {
        signal.addEventListener('abort', () => (reason = signal.reason))
        gate.resolve()
        // Ignores its signal: returns only when the test lets it.
        return ignoring.promise
      })
      .step('after', () => (later = true))
    const { engine } = manualEngine({ workflows: [wf] })
    const run = await engine.enqueue('a', { orderId: '1', amount: 1 })
    let ticked = false
    const tick = engine.tick().then(() => (ticked = true))
    await gate.promise
    expect(await engine.cancel(run.id)).toBe(true)
    // At once: the signal aborts with the cancellation and the run is cancelled.
    expect(reason).toBeInstanceOf(RunCancelledError)
    expect((await engine.getRunStatus(run.id))?.run.status).toBe('cancelled')
    // The execution waits for its handler: the tick (the slot) is not over until the handler settles.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(ticked).toBe(false)
    ignoring.resolve('late')
    await tick
    expect(later).toBe(false)
    const info = await engine.getRunStatus(run.id)
    expect(info?.run.status).toBe('cancelled')
    expect(info?.steps.map((s) => s.name)).toEqual(['first'])
    expect(await engine.cancel(run.id)).toBe(false)
  })

  test('a completed run cannot be cancelled', async () => {
    const wf = createWorkflow({ name: 'a', input: order }).step('s', () => 1)
    const { engine } = manualEngine({ workflows: [wf] })
    const run = await engine.enqueue('a', { orderId: '1', amount: 1 })
    await engine.tick()
    expect(await engine.cancel(run.id)).toBe(false)
    expect((await engine.getRunStatus(run.id))?.run.status).toBe('completed')
  })
})

describe('leases', () => {
  lockstepTest('heartbeats keep a long step from being reclaimed', async () => {
    const gate = deferred()
    const release = deferred()
    let executions = 0
    const wf = createWorkflow({ name: 'a', input: order }).step('long', async () => {
      executions++
      gate.resolve()
      await release.promise
    })
    const a = manualEngine({ workflows: [wf], runLeaseDurationMs: 1000 })
    const run = await a.engine.enqueue('a', { orderId: '1', amount: 1 })
    const tick = a.engine.tick()
    await gate.promise
    await a.clock.advance(5000)
    // A second engine on the same storage finds nothing stale to reclaim.
    const b = manualEngine({ workflows: [wf], runLeaseDurationMs: 1000, storage: a.storage })
    expect(await a.storage.claimNextRun(['a'], a.clock.now() - 1000)).toBeNull()
    release.resolve()
    await tick
    expect(executions).toBe(1)
    expect((await b.engine.getRunStatus(run.id))?.run.status).toBe('completed')
  })

  test('losing the lease aborts the step with LeaseLostError and the late result is rejected', async () => {
    const gate = deferred()
    const finish = deferred()
    let reason: unknown
    const wf = createWorkflow({ name: 'a', input: order }).step('s', async ({ signal }) => {
      signal.addEventListener('abort', () => (reason = signal.reason))
      gate.resolve()
      await finish.promise
      return 'late'
    })
    const a = manualEngine({ workflows: [wf], runLeaseDurationMs: 1000, heartbeatIntervalMs: 300 })
    const run = await a.engine.enqueue('a', { orderId: '1', amount: 1 })
    let ticked = false
    const tick = a.engine.tick().then(() => (ticked = true))
    await gate.promise
    // Someone else reclaims the run (as after a missed heartbeat) and records the step first.
    const stolen = await a.storage.claimNextRun(['a'], a.clock.now() + 1)
    expect(stolen?.id).toBe(run.id)
    await a.storage.saveStepResult(
      { runId: run.id, name: 's', status: 'completed', output: 'winner', error: null, attempts: 1, createdAt: 0, updatedAt: 0 },
      stolen!.leaseId,
    )
    await a.storage.updateClaimedRunStatus(run.id, stolen!.leaseId, 'completed')
    await a.clock.advance(300)
    expect(reason).toBeInstanceOf(LeaseLostError)
    // The execution still waits for its handler, which has not settled.
    expect(ticked).toBe(false)
    finish.resolve()
    await tick
    const info = await a.engine.getRunStatus(run.id)
    expect(info?.steps[0]?.output).toBe('winner')
    expect(info?.run.status).toBe('completed')
  })
})

describe('leases: a hung heartbeat', () => {
  test('a renewal that never settles within a lease duration counts as a lost lease', async () => {
    const gate = deferred()
    const ignoring = deferred()
    let reason: unknown
    const wf = createWorkflow({ name: 'a', input: order }).step('s', async ({ signal }) => {
      signal.addEventListener('abort', () => (reason = signal.reason))
      gate.resolve()
      await ignoring.promise
      return 'late'
    })
    const clock = new ManualClock(0)
    const storage = new MemoryStorage({ clock })
    // The database stops answering heartbeats (a store over a network, say).
    let renewals = 0
    storage[STORE]().heartbeat = () => {
      renewals++
      return new Promise(() => {})
    }
    const engine = createEngine({ storage, workflows: [wf], clock, runLeaseDurationMs: 1000, heartbeatIntervalMs: 300 })
    const run = await engine.enqueue('a', { orderId: '1', amount: 1 })
    let ticked = false
    const tick = engine.tick().then(() => (ticked = true))
    await gate.promise
    await clock.advance(900)
    expect(renewals).toBe(1)
    expect(reason).toBeUndefined()
    await clock.advance(300)
    expect(reason).toBeInstanceOf(LeaseLostError)
    // The execution still waits for its handler, which ignores the signal.
    expect(ticked).toBe(false)
    ignoring.resolve()
    await tick
    // Its late result is not recorded: the run is left for whoever takes the expired lease over.
    expect((await engine.getRunStatus(run.id))?.steps).toEqual([])
  })
})

describe('concurrency', () => {
  test('tick claims up to `concurrency` runs and runs them in parallel', async () => {
    let inFlight = 0
    let peak = 0
    const gates: Array<() => void> = []
    const wf = createWorkflow({ name: 'a', input: order }).step('s', async () => {
      inFlight++
      peak = Math.max(peak, inFlight)
      await new Promise<void>((resolve) => gates.push(resolve))
      inFlight--
    })
    const { engine } = manualEngine({ workflows: [wf], concurrency: 3 })
    for (let i = 0; i < 5; i++) await engine.enqueue('a', { orderId: String(i), amount: i })
    const tick = engine.tick()
    await until(() => gates.length === 3, 'three steps started')
    expect(inFlight).toBe(3)
    for (const open of gates.splice(0)) open()
    await tick
    expect(peak).toBe(3)
  })

  lockstepTest('start() keeps exactly `concurrency` runs in flight and refills slots as runs finish', async () => {
    let inFlight = 0
    let peak = 0
    let finished = 0
    const gates: Array<() => void> = []
    const wf = createWorkflow({ name: 'a', input: order }).step('s', async () => {
      inFlight++
      peak = Math.max(peak, inFlight)
      await new Promise<void>((resolve) => gates.push(resolve))
      inFlight--
      finished++
    })
    const { engine } = manualEngine({ workflows: [wf], concurrency: 2 })
    for (let i = 0; i < 6; i++) await engine.enqueue('a', { orderId: String(i), amount: i })
    await engine.start()
    for (let round = 0; round < 4; round++) {
      await until(() => gates.length === 2, `two runs in flight (round ${round})`)
      expect(inFlight).toBe(2)
      // Finishing one frees one slot, which is refilled while the other is still running.
      gates.shift()!()
      await until(() => finished === round + 1, `run ${round + 1} finished`)
    }
    await until(() => gates.length === 2, 'the last two in flight')
    for (const open of gates.splice(0)) open()
    await until(() => finished === 6, 'all runs finished')
    await engine.stop()
    expect(peak).toBe(2)
  })

  test('an enqueue wakes a started engine without waiting for the poll interval', async () => {
    const ran = deferred()
    const wf = createWorkflow({ name: 'a', input: order }).step('s', () => ran.resolve())
    const { engine } = manualEngine({ workflows: [wf] })
    await engine.start(60_000)
    await engine.enqueue('a', { orderId: '1', amount: 1 })
    await ran.promise
    await engine.stop()
  })
})

describe('stop', () => {
  test('stop waits for the in-flight step, records it, and releases the run for the next engine', async () => {
    const gate = deferred()
    const finish = deferred()
    const executed: string[] = []
    const wf = createWorkflow({ name: 'a', input: order })
      .step('one', async () => {
        executed.push('one')
        gate.resolve()
        await finish.promise
        return 1
      })
      .step('two', () => executed.push('two'))
    const a = manualEngine({ workflows: [wf] })
    const run = await a.engine.enqueue('a', { orderId: '1', amount: 1 })
    await a.engine.start()
    await gate.promise
    const stopped = a.engine.stop()
    finish.resolve()
    await stopped
    let info = await a.engine.getRunStatus(run.id)
    expect(info?.run.status).toBe('pending')
    expect(info?.steps.map((s) => s.name)).toEqual(['one'])
    await a.engine.tick()
    info = await a.engine.getRunStatus(run.id)
    expect(info?.run.status).toBe('completed')
    expect(executed).toEqual(['one', 'two'])
  })
})

describe('schedules', () => {
  lockstepTest('schedule enqueues every interval until unscheduled; stop clears all', async () => {
    const wf = createWorkflow({ name: 'cleanup', input: z.object({ days: z.number() }) }).step('s', () => 1)
    const { engine, clock, storage } = manualEngine({ workflows: [wf] })
    /** Takes every run enqueued since the last call (the engine is not started, so nothing else does). */
    const claimAll = () =>
      storage[STORE]().claim({ workflows: ['cleanup'], limit: 10, now: clock.now(), leaseMs: 30_000, includeExpired: false, owner: 'test' })
    const id = engine.schedule('cleanup', { days: 30 }, 1000)
    const other = engine.schedule('cleanup', { days: 7 }, 1000)
    await clock.advance(999)
    expect(await claimAll()).toHaveLength(0)
    await clock.advance(2001)
    const claimed = await claimAll()
    expect(claimed.map((r) => (r.input as { days: number }).days).sort()).toEqual([30, 30, 30, 7, 7, 7])
    expect(engine.unschedule(id)).toBe(true)
    expect(engine.unschedule(id)).toBe(false)
    await clock.advance(1000)
    expect(await claimAll()).toHaveLength(1)
    await engine.stop()
    await clock.advance(5000)
    expect(await claimAll()).toHaveLength(0)
    void other
  })

  lockstepTest('a scheduled enqueue that fails is reported to onError', async () => {
    const errors: Error[] = []
    const wf = createWorkflow({ name: 'cleanup', input: z.object({ days: z.number() }) }).step('s', () => 1)
    const { engine, clock } = manualEngine({ workflows: [wf], hooks: { onError: (e) => errors.push(e) } })
    engine.schedule('cleanup', { days: 'x' } as never, 1000)
    await clock.advance(1000)
    expect(errors[0]).toBeInstanceOf(ValidationError)
    await engine.stop()
  })

  test('bad arguments are rejected with a clear error', () => {
    const wf = createWorkflow({ name: 'cleanup', input: z.object({}) }).step('s', () => 1)
    const { engine } = manualEngine({ workflows: [wf] })
    expect(() => engine.schedule('cleanup', {}, 0)).toThrow('schedule(intervalMs) must be a positive number of milliseconds, got 0')
    expect(() => (engine.schedule as (n: string, i: unknown, ms: number) => string)('x', {}, 10)).toThrow(UnknownWorkflowError)
  })
})

describe('configuration', () => {
  test('invalid options name the value and what was expected', () => {
    expect(() => manualEngine({ workflows: [], concurrency: 0 })).toThrow('concurrency must be an integer >= 1, got 0')
    expect(() => manualEngine({ workflows: [], runLeaseDurationMs: 1000, heartbeatIntervalMs: 1000 })).toThrow(InvalidArgumentError)
    const wf = createWorkflow({ name: 'a', input: order })
    expect(() => manualEngine({ workflows: [wf, wf] })).toThrow('Two workflows are named "a"')
  })
})

describe('retry', () => {
  test('a failed run resumes at the failed step; recorded steps are not re-run', async () => {
    const calls: string[] = []
    let healthy = false
    const wf = createWorkflow({ name: 'a', input: order })
      .step('charge', () => {
        calls.push('charge')
        return 'ch_1'
      })
      .step('ship', ({ prev }) => {
        calls.push('ship')
        if (!healthy) throw new Error('warehouse down')
        return `shipped ${prev}`
      })
    const { engine } = manualEngine({ workflows: [wf] })
    const run = await engine.enqueue('a', { orderId: '1', amount: 1 })
    await engine.tick()
    expect((await engine.getRunStatus(run.id))?.run.status).toBe('failed')
    expect(await engine.retry(run.id)).toBe(true)
    expect(await engine.retry(run.id)).toBe(false)
    healthy = true
    await engine.tick()
    const info = await engine.getRunStatus(run.id)
    expect(info?.run.status).toBe('completed')
    expect(info?.steps.map((s) => [s.name, s.output])).toEqual([['charge', 'ch_1'], ['ship', 'shipped ch_1']])
    expect(calls).toEqual(['charge', 'ship', 'ship'])
    expect(await engine.retry(run.id)).toBe(false)
  })
})
