import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { ManualClock, sleep } from '../../src/core/clock.ts'
import { MAX_DEPTH } from '../../src/core/codec.ts'
import { IdempotencyConflictError, SerializationError } from '../../src/core/errors.ts'
import { deserialize, serialize, storedEqual } from '../../src/core/json.ts'
import { resolveRetryPolicy, retryDelay } from '../../src/core/retry.ts'
import { createEngine, createWorkflow, type StorageAdapter } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { MemoryStorage, testEngine } from '../../src/test.ts'

const roundTrip = (value: unknown) => deserialize(serialize(value, 'v'))

describe('stored values (core/json.ts over the codec)', () => {
  test('plain JSON data is stored byte for byte as JSON.stringify writes it', () => {
    const plain = { a: [1, 'x', true, null, -0.5], b: { c: 'é😀', d: [] }, at: '2026-01-02T00:00:00.000Z' }
    expect(serialize(plain, 'v')).toBe(JSON.stringify(plain))
    expect(serialize('text', 'v')).toBe('"text"')
    expect(roundTrip(plain)).toEqual(plain)
    // What earlier versions wrote (a Date as its ISO string) reads back unchanged.
    expect(deserialize('{"at":"2026-01-02T00:00:00.000Z","n":[1,null]}')).toEqual({ at: '2026-01-02T00:00:00.000Z', n: [1, null] })
  })

  test('undefined at the top is stored as null and comes back undefined; inside, it is kept', () => {
    expect(serialize(undefined, 'v')).toBeNull()
    expect(deserialize(null)).toBeUndefined()
    expect(deserialize(undefined)).toBeUndefined()
    const back = roundTrip({ gone: undefined, list: [1, undefined] }) as { gone: undefined; list: unknown[] }
    expect(Object.hasOwn(back, 'gone')).toBe(true)
    expect(back.gone).toBeUndefined()
    expect(back.list).toEqual([1, undefined])
    expect(back.list).toHaveLength(2)
  })

  test('Dates, Maps, Sets, BigInts, special numbers, RegExps, URLs, bytes and Errors keep their types', () => {
    const error = Object.assign(new TypeError('card declined', { cause: new Error('network') }), { code: 'E42' })
    const value = {
      at: new Date(Date.UTC(2026, 0, 2)),
      invalid: new Date(Number.NaN),
      byId: new Map<unknown, unknown>([['a', 1], [2, new Date(0)], [{ k: 1 }, [10n]]]),
      tags: new Set(['x', 'y']),
      amount: -12345678901234567890n,
      numbers: [-0, Number.NaN, Infinity, -Infinity],
      pattern: /ab+c/gi,
      url: new URL('https://example.com/a?b=1'),
      bytes: new Uint8Array([1, 2, 255]),
      floats: new Float64Array([1.5, -0]),
      buffer: new Uint8Array([9, 8]).buffer,
      error,
    }
    const back = roundTrip(value) as typeof value
    expect(back.at).toBeInstanceOf(Date)
    expect(back.at.toISOString()).toBe('2026-01-02T00:00:00.000Z')
    expect(Number.isNaN(back.invalid.getTime())).toBe(true)
    expect(back.byId).toBeInstanceOf(Map)
    expect([...back.byId]).toEqual([['a', 1], [2, new Date(0)], [{ k: 1 }, [10n]]])
    expect(back.tags).toEqual(new Set(['x', 'y']))
    expect(back.amount).toBe(-12345678901234567890n)
    expect(Object.is(back.numbers[0], -0)).toBe(true)
    expect(back.numbers.slice(1)).toEqual([Number.NaN, Infinity, -Infinity])
    expect(back.pattern).toEqual(/ab+c/gi)
    expect(back.url).toBeInstanceOf(URL)
    expect(back.url.href).toBe('https://example.com/a?b=1')
    expect(back.bytes).toEqual(new Uint8Array([1, 2, 255]))
    expect(back.floats).toEqual(new Float64Array([1.5, -0]))
    expect(back.buffer).toBeInstanceOf(ArrayBuffer)
    expect([...new Uint8Array(back.buffer)]).toEqual([9, 8])
    expect(back.error).toBeInstanceOf(Error)
    expect([back.error.name, back.error.message, back.error.stack, back.error.code]).toEqual(['TypeError', 'card declined', error.stack, 'E42'])
    expect((back.error.cause as Error).message).toBe('network')
    expect(storedEqual(back, value)).toBe(false) // an Error comes back as an Error, not a TypeError
    expect(storedEqual(back, roundTrip(back))).toBe(true)
  })

  test('objects come back with Object.prototype, the same object twice as two copies', () => {
    expect(roundTrip(Object.assign(Object.create(null), { k: 1 }))).toEqual({ k: 1 })
    const shared = { x: new Date(0) }
    const back = roundTrip({ a: shared, b: shared }) as { a: object; b: object }
    expect(back).toEqual({ a: { x: new Date(0) }, b: { x: new Date(0) } })
    expect(back.a).not.toBe(back.b)
  })

  const rejected: Array<[string, unknown, string]> = [
    ['function', { fn: () => 1 }, '$.fn: a function cannot be stored'],
    ['symbol', [Symbol('s')], '$[0]: a symbol cannot be stored'],
    ['class instance', { u: new (class User {})() }, '$.u: an instance of User cannot be stored'],
    ['symbol-keyed property', { user: { name: 'ada', [Symbol('secret')]: 1 } }, '$.user: the symbol-keyed property [Symbol(secret)] cannot be stored'],
    ['function in a Map', { handlers: new Map([['done', () => 1]]) }, '$.handlers.get("done"): a function cannot be stored'],
  ]
  for (const [what, value, message] of rejected) {
    test(`refuses a ${what}, naming the path`, () => {
      expect(() => serialize(value, 'Output of step "s"')).toThrow(SerializationError)
      expect(() => serialize(value, 'Output of step "s"')).toThrow(`Output of step "s" cannot be stored at ${message}`)
    })
  }

  test(`refuses cycles and nesting deeper than ${MAX_DEPTH} levels`, () => {
    const cyclic: unknown[] = []
    cyclic.push({ back: cyclic })
    expect(() => serialize(cyclic, 'v')).toThrow('v cannot be stored at $[0].back: circular reference (back to $)')
    expect(serialize(nested(MAX_DEPTH), 'v')).toStartWith('{"next":')
    expect(() => serialize(nested(MAX_DEPTH + 1), 'v')).toThrow(`nested deeper than ${MAX_DEPTH} levels`)
  })

  test('storedEqual: deep equality of stored values, ignoring only the order of object keys', () => {
    expect(storedEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 })).toBe(true)
    expect(storedEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false)
    expect(storedEqual([1, 2], [2, 1])).toBe(false)
    expect(storedEqual({ a: null }, { a: {} })).toBe(false)
    expect(storedEqual({ a: undefined }, {})).toBe(false)
    expect(storedEqual(new Date(5), new Date(5))).toBe(true)
    expect(storedEqual(new Date(5), new Date(6))).toBe(false)
    expect(storedEqual(new Date(5), '1970-01-01T00:00:00.005Z')).toBe(false)
    expect(storedEqual(new Map([['a', { n: 1 }]]), new Map([['a', { n: 1 }]]))).toBe(true)
    expect(storedEqual(new Map([['a', 1]]), new Map([['a', 2]]))).toBe(false)
    expect(storedEqual(new Map([['a', 1]]), { a: 1 })).toBe(false)
    expect(storedEqual(new Set([1, 2]), new Set([1, 2]))).toBe(true)
    expect(storedEqual(new Set([1, 2]), new Set([1, 3]))).toBe(false)
    expect(storedEqual(1n, 1n)).toBe(true)
    expect(storedEqual(1n, 1)).toBe(false)
    expect(storedEqual(Number.NaN, Number.NaN)).toBe(true)
    expect(storedEqual(-0, 0)).toBe(false)
    expect(storedEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true)
    expect(storedEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false)
    expect(storedEqual(new Uint8Array([1, 2]), new Int8Array([1, 2]))).toBe(false)
    expect(storedEqual(/a/g, /a/g)).toBe(true)
    expect(storedEqual(/a/g, /a/i)).toBe(false)
    expect(storedEqual(new Error('x', { cause: 1 }), new Error('x', { cause: 1 }))).toBe(true)
    expect(storedEqual(new Error('x', { cause: 1 }), new Error('x', { cause: 2 }))).toBe(false)
  })
})

function nested(levels: number): unknown {
  let value: unknown = 0
  for (let i = 0; i < levels; i++) value = { next: value }
  return value
}

describe('stored values through the engine', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'reflow-core-test-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  let files = 0
  const freshFile = () => path.join(dir, `values-${++files}.db`)

  /** What the second step and getRunStatus see of the first step's output. */
  function richWorkflow(seen: unknown[], firstEngine: { active: boolean }) {
    return createWorkflow({ name: 'rich', input: z.object({ id: z.string() }) })
      .step('make', () => ({ at: new Date(Date.UTC(2026, 10, 30, 10)), tags: new Set(['a']), amount: 10n }))
      .step('use', {
        // In the SQLite test the first engine stops here (a retry backoff), so the second engine's
        // step reads the first step's output from the file.
        retry: { maxAttempts: 2, initialDelayMs: 1_000 },
        handler: ({ prev }) => {
          if (firstEngine.active) throw new Error('handing over to the second engine')
          seen.push(prev)
          return { year: prev.at.getUTCFullYear(), hasA: prev.tags.has('a'), doubled: prev.amount * 2n }
        },
      })
  }

  function expectRich(value: unknown): void {
    const { at, tags, amount } = value as { at: unknown; tags: unknown; amount: unknown }
    expect(at).toBeInstanceOf(Date)
    expect((at as Date).toISOString()).toBe('2026-11-30T10:00:00.000Z')
    expect(tags).toBeInstanceOf(Set)
    expect([...(tags as Set<string>)]).toEqual(['a'])
    expect(typeof amount).toBe('bigint')
    expect(amount).toBe(10n)
  }

  test('testEngine: a Date, a Set and a BigInt reach the next step and the results as they were returned', async () => {
    const seen: unknown[] = []
    const te = testEngine({ workflows: [richWorkflow(seen, { active: false })] })
    const result = await te.run('rich', { id: 'r1' })
    expect(result.status).toBe('completed')
    expect(seen).toHaveLength(1)
    expectRich(seen[0])
    if (result.steps.make.status !== 'completed') throw new Error('make did not complete')
    expectRich(result.steps.make.output)
    expect(result.steps.use.output).toEqual({ year: 2026, hasA: true, doubled: 20n })
    const info = await te.getRunStatus(result.runId)
    expectRich(info?.steps[0]?.output)
  })

  test('SQLite: the next step and getRunStatus of another engine read them back from the file', async () => {
    const file = freshFile()
    const seen: unknown[] = []
    const handover = { active: true }
    const clock = new ManualClock(Date.UTC(2026, 10, 30))
    const first = new SQLiteStorage(file, { clock })
    const engine1 = createEngine({ storage: first, workflows: [richWorkflow(seen, handover)], clock })
    const { id } = await engine1.enqueue('rich', { id: 'r1' })
    await engine1.tick()
    expect((await engine1.getRunStatus(id))?.run.status).toBe('pending')
    first.close()

    handover.active = false
    await clock.advance(1_000)
    const second = new SQLiteStorage(file, { clock })
    const engine2 = createEngine({ storage: second, workflows: [richWorkflow(seen, handover)], clock })
    await engine2.tick()
    second.close()
    expect(seen).toHaveLength(1)
    expectRich(seen[0])

    const third = new SQLiteStorage(file, { clock, readonly: true })
    const info = await createEngine({ storage: third, workflows: [], clock }).getRunStatus(id)
    third.close()
    expect(info?.run.status).toBe('completed')
    expectRich(info?.steps[0]?.output)
    expect(info?.steps[1]?.output).toEqual({ year: 2026, hasA: true, doubled: 20n })
  })

  const storages: Array<[string, () => StorageAdapter & { close?(): void }]> = [
    ['memory', () => new MemoryStorage()],
    ['SQLite', () => new SQLiteStorage(freshFile())],
  ]
  for (const [name, makeStorage] of storages) {
    test(`${name}: an idempotent enqueue compares Map inputs by their entries`, async () => {
      const storage = makeStorage()
      const wf = createWorkflow({ name: 'prices', input: z.object({ prices: z.map(z.string(), z.bigint()) }) }).step('sum', ({ input }) =>
        [...input.prices.values()].reduce((a, b) => a + b, 0n),
      )
      const engine = createEngine({ storage, workflows: [wf] })
      const key = { idempotencyKey: 'prices-1' }
      const first = await engine.enqueue('prices', { prices: new Map([['a', 1n], ['b', 2n]]) }, key)
      const again = await engine.enqueue('prices', { prices: new Map([['a', 1n], ['b', 2n]]) }, key)
      expect(again.id).toBe(first.id)
      expect(again.input).toEqual({ prices: new Map([['a', 1n], ['b', 2n]]) })
      const conflict = engine.enqueue('prices', { prices: new Map([['a', 1n], ['b', 3n]]) }, key)
      await expect(conflict).rejects.toBeInstanceOf(IdempotencyConflictError)
      await expect(engine.enqueue('prices', { prices: new Map([['a', 1n]]) }, key)).rejects.toThrow('with different input')
      storage.close?.()
    })
  }

  test('a symbol-keyed property fails the step with an error naming the step and the path', async () => {
    const secret = Symbol('secret')
    const wf = createWorkflow({ name: 'leaky', input: z.object({}) })
      // The cast hides the symbol key from the compile-time check, as an `any` from a library would.
      .step('load-user', () => ({ user: { name: 'ada', [secret]: 'hunter2' } }) as unknown as { user: { name: string } })
      .step('after', ({ prev }) => prev.user.name)
    const result = await testEngine({ workflows: [wf] }).run('leaky', {})
    expect(result.status).toBe('failed')
    expect(result.steps['load-user'].error).toBe(
      'Output of step "load-user" cannot be stored at $.user: the symbol-keyed property [Symbol(secret)] cannot be stored',
    )
    expect(result.steps.after.status).toBe('pending')
  })

  test(`a value nested deeper than ${MAX_DEPTH} levels fails the step with an error naming it`, async () => {
    const wf = createWorkflow({ name: 'deep', input: z.object({}) }).step('build-tree', () => nested(MAX_DEPTH + 1))
    const result = await testEngine({ workflows: [wf] }).run('deep', {})
    expect(result.status).toBe('failed')
    expect(result.steps['build-tree'].error).toMatch(
      new RegExp(`^Output of step "build-tree" cannot be stored at \\$\\.next.*: nested deeper than ${MAX_DEPTH} levels$`),
    )
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

test('SystemClock timers past 24.8 days fire at the longest delay setTimeout keeps, not at once', () => {
  const { SystemClock } = require('../../src/core/clock.ts') as typeof import('../../src/core/clock.ts')
  const seen: number[] = []
  const original = globalThis.setTimeout
  globalThis.setTimeout = ((fn: () => void, ms: number) => {
    seen.push(ms)
    return original(fn, 0)
  }) as typeof setTimeout
  try {
    SystemClock.setTimer(365 * 86_400_000, () => {}).cancel()
  } finally {
    globalThis.setTimeout = original
  }
  expect(seen).toEqual([2 ** 31 - 1])
})
