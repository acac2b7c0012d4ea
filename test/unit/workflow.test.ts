import { describe, expect, test } from 'bun:test'
import { type } from 'arktype'
import * as v from 'valibot'
import { z } from 'zod'
import { createWorkflow, DuplicateStepError, InvalidArgumentError, ValidationError } from '../../src/index.ts'
import { testEngine } from '../../src/test.ts'

const schemas = {
  zod: z.object({ email: z.string().email(), count: z.number().int() }),
  valibot: v.object({ email: v.pipe(v.string(), v.email()), count: v.pipe(v.number(), v.integer()) }),
  arktype: type({ email: 'string.email', count: 'number.integer' }),
}

describe.each(Object.entries(schemas))('Standard Schema: %s', (_, schema) => {
  const wf = createWorkflow({ name: 'signup', input: schema })
    .step('account', ({ input }) => ({ id: `acct:${input.email}`, n: input.count }))
    .step('welcome', ({ prev }) => `welcome ${prev.id}`)

  test('valid input runs every step with the parsed input', async () => {
    const result = await testEngine({ workflows: [wf] }).run('signup', { email: 'ada@example.com', count: 2 })
    expect(result.status).toBe('completed')
    expect(result.steps.account.output).toEqual({ id: 'acct:ada@example.com', n: 2 })
    expect(result.steps.welcome.output).toBe('welcome acct:ada@example.com')
  })

  test('invalid input throws ValidationError with the library issues and creates no run', async () => {
    const te = testEngine({ workflows: [wf] })
    const error = await te.enqueue('signup', { email: 'nope', count: 1.5 }).catch((e) => e)
    expect(error).toBeInstanceOf(ValidationError)
    expect(error.issues.length).toBeGreaterThanOrEqual(2)
    expect(error.message).toStartWith('Invalid input for workflow "signup": ')
    expect(await te.storage.claimNextRun(['signup'])).toBeNull()
  })

  test('parseInput validates without enqueuing', async () => {
    expect(await wf.parseInput({ email: 'a@b.co', count: 1 })).toEqual({ email: 'a@b.co', count: 1 })
    await expect(wf.parseInput({})).rejects.toBeInstanceOf(ValidationError)
  })
})

describe('builder', () => {
  const input = z.object({})

  test('is immutable: each step returns a new workflow, branches are independent', () => {
    const base = createWorkflow({ name: 'base', input })
    const withLogging = base.step('log', async () => {})
    const withMetrics = base.step('metric', async () => {})
    expect(base.steps).toHaveLength(0)
    expect(withLogging.steps.map((s) => s.name)).toEqual(['log'])
    expect(withMetrics.steps.map((s) => s.name)).toEqual(['metric'])
    expect(Object.isFrozen(withLogging.steps)).toBe(true)
    const withFailure = withLogging.onFailure(() => {})
    expect(withLogging.failureHandler).toBeUndefined()
    expect(withFailure.failureHandler).toBeFunction()
  })

  test('a duplicate step name is rejected at run time too', () => {
    const wf = createWorkflow({ name: 'w', input }).step('a', () => 1)
    const step = wf.step as (name: string, handler: () => unknown) => unknown
    expect(() => step.call(wf, 'a', () => 2)).toThrow(DuplicateStepError)
    expect(() => step.call(wf, 'a', () => 2)).toThrow('Workflow "w" already has a step named "a"')
  })

  test('bad definitions name the value and what was expected', () => {
    expect(() => createWorkflow({ name: '', input })).toThrow('createWorkflow: name must be a non-empty string, got ""')
    expect(() => createWorkflow({ name: 'w', input: {} as never })).toThrow(InvalidArgumentError)
    const wf = createWorkflow({ name: 'w', input })
    expect(() => wf.step('s', {} as never)).toThrow('expected a handler function or { handler, retry?, timeoutMs? }, got an object')
    expect(() => wf.step('s', { handler: () => 1, retry: { maxAttempts: 0 } })).toThrow(
      'Step "s": retry.maxAttempts must be an integer >= 1, got 0',
    )
    expect(() => wf.step('s', { handler: () => 1, timeoutMs: -5 })).toThrow('timeoutMs must be a positive number')
    expect(() => wf.step('s', { handler: () => 1, retry: { backoff: 'cubic' as never } })).toThrow("retry.backoff must be 'linear' or 'exponential'")
  })
})

describe('testEngine', () => {
  test('results are keyed by step name; unreached steps are pending', async () => {
    const wf = createWorkflow({ name: 'order', input: z.object({ amount: z.number() }) })
      .step('charge', ({ input }) => ({ chargeId: `ch_${input.amount}` }))
      .step('ship', () => {
        throw new Error('no stock')
      })
      .step('email', () => 'sent')
    const result = await testEngine({ workflows: [wf] }).run('order', { amount: 5 })
    expect(result.status).toBe('failed')
    expect(result.steps.charge).toEqual({ output: { chargeId: 'ch_5' }, status: 'completed', error: null })
    expect(result.steps.ship as unknown).toEqual({ output: undefined, status: 'failed', error: 'no stock' })
    expect(result.steps.email as unknown).toEqual({ output: undefined, status: 'pending', error: null })
  })
})
