import { describe, expect, test } from 'bun:test'
import { ManualClock, sleep } from '../../src/core/clock.ts'
import { SerializationError } from '../../src/core/errors.ts'
import { deserialize, jsonEqual, roundTrip, serialize } from '../../src/core/json.ts'
import { resolveRetryPolicy, retryDelay } from '../../src/core/retry.ts'

describe('json policy', () => {
  test('plain data round-trips; undefined is stored as null and comes back undefined', () => {
    const value = { a: [1, 'x', true, null], b: { c: -0.5 }, d: undefined }
    expect(roundTrip(value, 'v')).toEqual({ a: [1, 'x', true, null], b: { c: -0.5 } })
    expect(serialize(undefined, 'v')).toBeNull()
    expect(deserialize(null)).toBeUndefined()
    expect(roundTrip(Object.assign(Object.create(null), { k: 1 }), 'v')).toEqual({ k: 1 })
  })

  test('a Date becomes its ISO string', () => {
    expect(roundTrip({ at: new Date(Date.UTC(2026, 0, 2)) }, 'v')).toEqual({ at: '2026-01-02T00:00:00.000Z' })
  })

  const rejected: Array<[string, unknown, string]> = [
    ['BigInt', { amount: 10n }, '$.amount: BigInt is not supported'],
    ['function', { fn: () => 1 }, '$.fn: a function cannot be stored'],
    ['symbol', [Symbol('s')], '$[0]: a symbol cannot be stored'],
    ['NaN', { n: Number.NaN }, '$.n: NaN is not a finite number'],
    ['Infinity', { n: [1, Infinity] }, '$.n[1]: Infinity is not a finite number'],
    ['Map', { tags: new Map() }, '$.tags: an instance of Map is not plain data'],
    ['class instance', { u: new (class User {})() }, '$.u: an instance of User is not plain data'],
    ['invalid Date', { d: new Date(Number.NaN) }, '$.d: Invalid Date'],
  ]
  for (const [what, value, message] of rejected) {
    test(`rejects ${what}, naming the path`, () => {
      expect(() => serialize(value, 'Output of step "s"')).toThrow(SerializationError)
      expect(() => serialize(value, 'Output of step "s"')).toThrow(`Output of step "s" is not JSON-compatible at ${message}`)
    })
  }

  test('rejects cycles but accepts the same object twice in different branches', () => {
    const shared = { x: 1 }
    expect(roundTrip({ a: shared, b: shared }, 'v')).toEqual({ a: { x: 1 }, b: { x: 1 } })
    const cyclic: unknown[] = []
    cyclic.push({ back: cyclic })
    expect(() => serialize(cyclic, 'v')).toThrow('v is not JSON-compatible at $[0].back: circular reference')
  })

  test('jsonEqual ignores key order only', () => {
    expect(jsonEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 })).toBe(true)
    expect(jsonEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false)
    expect(jsonEqual([1, 2], [2, 1])).toBe(false)
    expect(jsonEqual({ a: null }, { a: {} })).toBe(false)
  })
})

describe('retry policy', () => {
  test('defaults: one attempt, 1000 ms base delay', () => {
    expect(resolveRetryPolicy('s', undefined, undefined)).toEqual({
      maxAttempts: 1,
      backoff: 'exponential',
      initialDelayMs: 1000,
      timeoutMs: undefined,
      maxDelayMs: Number.POSITIVE_INFINITY,
    })
  })

  test('linear is initial × attempt, exponential is initial × 2^(attempt-1)', () => {
    const linear = resolveRetryPolicy('s', { maxAttempts: 5, backoff: 'linear', initialDelayMs: 100 }, undefined)
    const exponential = resolveRetryPolicy('s', { maxAttempts: 5, backoff: 'exponential', initialDelayMs: 100 }, undefined)
    expect([1, 2, 3, 4].map((a) => retryDelay(linear, a))).toEqual([100, 200, 300, 400])
    expect([1, 2, 3, 4].map((a) => retryDelay(exponential, a))).toEqual([100, 200, 400, 800])
  })

  test('step-level timeoutMs takes precedence over retry.timeoutMs', () => {
    expect(resolveRetryPolicy('s', { timeoutMs: 10 }, 5).timeoutMs).toBe(5)
    expect(resolveRetryPolicy('s', { timeoutMs: 10 }, undefined).timeoutMs).toBe(10)
  })
})

describe('ManualClock', () => {
  test('fires timers in time order as time advances, and cancelled timers never', async () => {
    const clock = new ManualClock(0)
    const fired: string[] = []
    clock.setTimer(30, () => fired.push('30'))
    clock.setTimer(10, () => fired.push('10'))
    clock.setTimer(20, () => fired.push('20')).cancel()
    await clock.advance(15)
    expect(fired).toEqual(['10'])
    expect(clock.now()).toBe(15)
    await clock.advance(100)
    expect(fired).toEqual(['10', '30'])
    expect(clock.pendingTimers).toBe(0)
  })

  test('sleep resolves after the delay and rejects with the abort reason', async () => {
    const clock = new ManualClock(0)
    let slept = false
    const done = sleep(clock, 50).then(() => (slept = true))
    await clock.advance(49)
    expect(slept).toBe(false)
    await clock.advance(1)
    await done
    expect(slept).toBe(true)
    const controller = new AbortController()
    const aborted = sleep(clock, 50, controller.signal)
    controller.abort(new Error('stop'))
    await expect(aborted).rejects.toThrow('stop')
    expect(clock.pendingTimers).toBe(0)
  })
})
