import { describe, expect, test } from 'bun:test'
import { z } from 'zod'
import { createWorkflow } from '../../src/index.ts'
import { StepTimeoutError } from '../../src/core/errors.ts'
import { manualEngine } from './helpers.ts'

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
    test(`${backoff} backoff waits ${expected.join(', ')} ms between attempts`, async () => {
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
      const done = e.engine.tick()
      await e.clock.advance(10_000)
      await done
      const gaps = startedAt.slice(1).map((t, i) => t - startedAt[i]!)
      expect(gaps).toEqual([...expected])
      const info = await e.engine.getRunStatus(run.id)
      expect(info?.run.status).toBe('completed')
      expect(info?.steps[0]).toMatchObject({ status: 'completed', output: 'ok', attempts: 5 })
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
    const done = e.engine.tick()
    await e.clock.advance(999)
    expect(startedAt.length).toBe(1)
    await e.clock.advance(1)
    expect(startedAt.length).toBe(2)
    await e.clock.advance(5_000)
    await done
    expect(startedAt.map((t) => t - startedAt[0]!)).toEqual([0, 1000, 3000])
    const info = await e.engine.getRunStatus(run.id)
    expect(info?.run.status).toBe('failed')
    expect(info?.steps[0]).toMatchObject({ status: 'failed', error: 'always', attempts: 3 })
  })
})

describe('timeouts', () => {
  test('a timed-out attempt aborts its signal and fails the step', async () => {
    let reason: unknown
    const wf = createWorkflow({ name: 'slow', input }).step('hang', {
      timeoutMs: 5000,
      handler: ({ signal }) =>
        new Promise(() => {
          signal.addEventListener('abort', () => (reason = signal.reason))
        }),
    })
    const e = manualEngine({ workflows: [wf] })
    const run = await e.engine.enqueue('slow', {})
    const done = e.engine.tick()
    await e.clock.advance(4999)
    expect(reason).toBeUndefined()
    await e.clock.advance(1)
    await done
    expect(reason).toBeInstanceOf(StepTimeoutError)
    const info = await e.engine.getRunStatus(run.id)
    expect(info?.run.status).toBe('failed')
    expect(info?.steps[0]?.error).toBe('Step "hang" timed out after 5000ms')
  })

  test('retry.timeoutMs applies per attempt, and step-level timeoutMs takes precedence', async () => {
    const attempts: number[] = []
    const hang = () => {
      attempts.push(e.clock.now())
      return new Promise(() => {})
    }
    const wf = createWorkflow({ name: 'slow', input })
      .step('retry-timeout', { retry: { maxAttempts: 2, initialDelayMs: 0, timeoutMs: 300 }, handler: hang })
    const wf2 = createWorkflow({ name: 'slow2', input })
      .step('step-timeout', { timeoutMs: 100, retry: { maxAttempts: 1, timeoutMs: 10_000 }, handler: hang })
    const e = manualEngine({ workflows: [wf, wf2] })
    await e.engine.enqueue('slow', {})
    let done = e.engine.tick()
    await e.clock.advance(1000)
    await done
    expect(attempts.map((t) => t - attempts[0]!)).toEqual([0, 300])
    attempts.length = 0
    const run2 = await e.engine.enqueue('slow2', {})
    done = e.engine.tick()
    await e.clock.advance(100)
    await done
    expect((await e.engine.getRunStatus(run2.id))?.steps[0]?.error).toBe('Step "step-timeout" timed out after 100ms')
  })
})
