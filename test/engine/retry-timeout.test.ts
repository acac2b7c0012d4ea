import { describe, expect, test } from 'bun:test'
import { z } from 'zod'
import { createWorkflow } from '../../src/index.ts'
import { StepTimeoutError } from '../../src/core/errors.ts'
import { deferred, driveToEnd, manualEngine, until, lockstepTest } from './helpers.ts'

const input = z.object({})

describe('retries and backoff', () => {
  test('a failing step without retry config fails the run after one attempt', async () => {
    let calls = 0
    const wf = createWorkflow({ name: 'once', input }).step('boom', () => {
      calls++
      throw new Error('nope')
    })
    const { engine } = manualEngine({ workflows: [wf] })
    const run = await engine.enqueue('once', {})
    await engine.tick()
    const info = await engine.getRunStatus(run.id)
    expect(calls).toBe(1)
    expect(info?.run.status).toBe('failed')
    expect(info?.steps).toMatchObject([{ name: 'boom', status: 'failed', error: 'nope', attempts: 1 }])
  })

  for (const [backoff, expected] of [
    ['exponential', [200, 400, 800, 1600]],
    ['linear', [200, 400, 600, 800]],
  ] as const) {
    lockstepTest(`${backoff} backoff waits ${expected.join(', ')} ms between attempts`, async () => {
      const startedAt: number[] = []
      const wf = createWorkflow({ name: 'flaky', input }).step('call', {
        retry: { maxAttempts: 5, backoff, initialDelayMs: 200 },
        handler: () => {
          startedAt.push(e.clock.now())
          if (startedAt.length < 5) throw new Error(`attempt ${startedAt.length}`)
          return 'ok'
        },
      })
      const e = manualEngine({ workflows: [wf] })
      const run = await e.engine.enqueue('flaky', {})
      // A started engine wakes itself when the parked run falls due.
      await e.engine.start()
      await e.clock.advance(10_000)
      await e.engine.stop()
      const gaps = startedAt.slice(1).map((t, i) => t - startedAt[i]!)
      expect(gaps).toEqual([...expected])
      const info = await e.engine.getRunStatus(run.id)
      expect(info?.run.status).toBe('completed')
      expect(info?.steps[0]).toMatchObject({ status: 'completed', output: 'ok', attempts: 5 })
      expect(info?.attempts.map((a) => [a.attempt, a.status, a.errorMessage])).toEqual([1, 2, 3, 4].map((n) => [n, 'failed', `attempt ${n}`]))
    })
  }

  test('default initialDelayMs is 1000 and maxAttempts bounds the attempts', async () => {
    const startedAt: number[] = []
    const wf = createWorkflow({ name: 'flaky', input }).step('call', {
      retry: { maxAttempts: 3, backoff: 'exponential' },
      handler: () => {
        startedAt.push(e.clock.now())
        throw new Error('always')
      },
    })
    const e = manualEngine({ workflows: [wf] })
    const run = await e.engine.enqueue('flaky', {})
    // Each tick runs one attempt; a failed one parks the run (pending, due after the backoff).
    await e.engine.tick()
    expect(startedAt.length).toBe(1)
    const parked = (await e.engine.getRunStatus(run.id))!.run
    expect(parked).toMatchObject({ status: 'pending', availableAt: startedAt[0]! + 1000, attempt: 1, leaseId: null })
    await e.clock.advance(999)
    await e.engine.tick()
    expect(startedAt.length).toBe(1)
    await e.clock.advance(1)
    await e.engine.tick()
    expect(startedAt.length).toBe(2)
    const info = await driveToEnd(e, run.id)
    expect(startedAt.map((t) => t - startedAt[0]!)).toEqual([0, 1000, 3000])
    expect(info.run.status).toBe('failed')
    expect(info.steps[0]).toMatchObject({ status: 'failed', error: 'always', attempts: 3 })
    expect(info.attempts.map((a) => [a.attempt, a.status])).toEqual([[1, 'failed'], [2, 'failed'], [3, 'failed']])
  })
})

describe('timeouts', () => {
  lockstepTest('a timed-out attempt aborts its signal and fails the step once its handler settles', async () => {
    let reason: unknown
    const late = deferred<string>()
    const wf = createWorkflow({ name: 'slow', input }).step('hang', {
      timeoutMs: 5000,
      handler: ({ signal }) => {
        signal.addEventListener('abort', () => (reason = signal.reason))
        // Ignores its signal: settles only when the test says so.
        return late.promise
      },
    })
    const e = manualEngine({ workflows: [wf] })
    const run = await e.engine.enqueue('slow', {})
    const done = e.engine.tick()
    await e.clock.advance(4999)
    expect(reason).toBeUndefined()
    await e.clock.advance(1)
    expect(reason).toBeInstanceOf(StepTimeoutError)
    // The attempt is over, but its handler still runs: the run keeps it until the handler settles.
    expect((await e.engine.getRunStatus(run.id))?.run.status).toBe('running')
    late.resolve('too late')
    await done
    const info = await e.engine.getRunStatus(run.id)
    expect(info?.run.status).toBe('failed')
    expect(info?.steps[0]).toMatchObject({ status: 'failed', output: undefined, error: 'Step "hang" timed out after 5000ms', attempts: 1 })
  })

  lockstepTest('retry.timeoutMs applies per attempt, and step-level timeoutMs takes precedence', async () => {
    const attempts: { startedAt: number; abortedAt?: number; settle: ReturnType<typeof deferred<void>> }[] = []
    const hang = ({ signal }: { signal: AbortSignal }) => {
      const attempt = { startedAt: e.clock.now(), settle: deferred<void>() } as (typeof attempts)[number]
      signal.addEventListener('abort', () => (attempt.abortedAt = e.clock.now()))
      attempts.push(attempt)
      return attempt.settle.promise
    }
    const wf = createWorkflow({ name: 'slow', input })
      .step('retry-timeout', { retry: { maxAttempts: 2, initialDelayMs: 0, timeoutMs: 300 }, handler: hang })
    const wf2 = createWorkflow({ name: 'slow2', input })
      .step('step-timeout', { timeoutMs: 100, retry: { maxAttempts: 1, timeoutMs: 10_000 }, handler: hang })
    const e = manualEngine({ workflows: [wf, wf2] })
    const run = await e.engine.enqueue('slow', {})
    // A started engine: it would start the next attempt by itself as soon as the run were released.
    await e.engine.start()
    await until(() => attempts.length === 1, 'the first attempt started')
    await e.clock.advance(1000)
    // Timed out at 300, but its handler has not settled: no second attempt starts meanwhile.
    expect(attempts.map((a) => a.abortedAt! - a.startedAt)).toEqual([300])
    attempts[0]!.settle.resolve()
    await until(() => attempts.length === 2, 'the second attempt started')
    expect(attempts[1]!.startedAt - attempts[0]!.startedAt).toBe(1000)
    await e.clock.advance(299)
    expect(attempts[1]!.abortedAt).toBeUndefined()
    await e.clock.advance(1)
    expect(attempts[1]!.abortedAt! - attempts[1]!.startedAt).toBe(300)
    attempts[1]!.settle.resolve()
    await until(async () => (await e.engine.getRunStatus(run.id))?.run.status === 'failed', 'the run failed')
    await e.engine.stop()
    const info = await e.engine.getRunStatus(run.id)
    expect(info?.steps[0]).toMatchObject({ error: 'Step "retry-timeout" timed out after 300ms', attempts: 2 })
    expect(attempts).toHaveLength(2)

    attempts.length = 0
    const run2 = await e.engine.enqueue('slow2', {})
    const done = e.engine.tick()
    await e.clock.advance(100)
    expect(attempts.map((a) => a.abortedAt! - a.startedAt)).toEqual([100])
    attempts[0]!.settle.resolve()
    await done
    expect((await e.engine.getRunStatus(run2.id))?.steps[0]?.error).toBe('Step "step-timeout" timed out after 100ms')
  })
})
