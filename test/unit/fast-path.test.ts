// The pieces of the fast path that need no database: time-ordered run ids, and JSON text the
// engine hands to storage so a value is serialised once.

import { describe, expect, test } from 'bun:test'
import { ManualClock } from '../../src/core/clock.ts'
import { hasJsonText, JSON_TEXT, jsonTextOf, type WithJsonText } from '../../src/core/json.ts'
import { createUuidV7 } from '../../src/core/uuid.ts'
import { createChangeWatch } from '../../src/engine/change-watch.ts'
import type { StorageAdapter } from '../../src/storage/adapter.ts'
import type { ChangeSource } from '../../src/storage/store.ts'
import { createEngine, createWorkflow } from '../../src/index.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'
import type { StandardSchemaV1 } from '../../src/workflow/schema.ts'

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('run ids (UUIDv7)', () => {
  test('are version 7 UUIDs whose first 48 bits are the clock’s milliseconds', () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 2, 3, 4, 5, 678))
    const id = createUuidV7(() => clock.now())()
    expect(id).toMatch(UUID_V7)
    expect(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(clock.now())
  })

  test('strictly increase, within one millisecond and across a counter overflow', () => {
    const clock = new ManualClock(1_700_000_000_000)
    const next = createUuidV7(() => clock.now())
    const ids = Array.from({ length: 10_000 }, next)
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true)
    expect(new Set(ids).size).toBe(ids.length)
    for (const id of ids) expect(id).toMatch(UUID_V7)
    // 10,000 ids in one millisecond overflow the 12-bit counter: later ids borrow the next milliseconds.
    const lastMs = Number.parseInt(ids.at(-1)!.slice(0, 8) + ids.at(-1)!.slice(9, 13), 16)
    expect(lastMs).toBeGreaterThan(clock.now())
  })

  test('never go backwards when the clock does', () => {
    let now = 2_000_000
    const next = createUuidV7(() => now)
    const before = next()
    now -= 1_000
    expect(next() > before).toBe(true)
  })

  test('the engine gives runs time-ordered ids', async () => {
    const clock = new ManualClock(1_000_000)
    const wf = createWorkflow({ name: 'wf', input: passThrough }).step('s', () => 1)
    const engine = createEngine({ storage: new MemoryStorage({ clock }), workflows: [wf], clock })
    const first = await engine.enqueue('wf', { n: 1 })
    await clock.advance(5)
    const second = await engine.enqueue('wf', { n: 2 })
    expect(first.id).toMatch(UUID_V7)
    expect(second.id > first.id).toBe(true)
  })
})

describe('JSON text handed to storage', () => {
  test('jsonTextOf uses the attached text, else serialises the value', () => {
    const record: WithJsonText = {}
    expect(jsonTextOf(record, { a: 1 }, 'v')).toBe('{"a":1}')
    expect(hasJsonText(record)).toBe(false)
    record[JSON_TEXT] = '{"a":2}'
    expect(jsonTextOf(record, { a: 1 }, 'v')).toBe('{"a":2}')
    expect(hasJsonText(record)).toBe(true)
    record[JSON_TEXT] = null
    expect(jsonTextOf(record, { a: 1 }, 'v')).toBeNull()
  })

  test('storage writes the attached text instead of serialising again', async () => {
    const storage = new MemoryStorage()
    const run = { id: 'r1', workflow: 'wf', input: { a: 1 }, status: 'pending' as const, idempotencyKey: null, createdAt: 1, updatedAt: 1 }
    // A text that disagrees with the value shows which of the two was stored.
    await storage.createRun(Object.assign(run, { [JSON_TEXT]: '{"a":2}' }))
    expect((await storage.getRun('r1'))?.input).toEqual({ a: 2 })
    await storage.saveStepResult(
      Object.assign({ runId: 'r1', name: 's', status: 'completed' as const, output: 'value', error: null, attempts: 1, createdAt: 1, updatedAt: 1 }, { [JSON_TEXT]: '"text"' }),
    )
    expect((await storage.getStepResults('r1'))[0]?.output).toBe('text')
  })

  test('what enqueue returns, steps receive and storage keeps is the same round trip', async () => {
    const clock = new ManualClock(1_000_000)
    const storage = new MemoryStorage({ clock })
    const seen: unknown[] = []
    const wf = createWorkflow({ name: 'wf', input: passThrough })
      .step('a', ({ input }) => {
        seen.push(input)
        return { at: new Date(0), drop: undefined, keep: [1, 'x'] }
      })
      .step('b', ({ prev }) => void seen.push(prev))
    const engine = createEngine({ storage, workflows: [wf], clock })
    const input = { when: new Date(0), nested: { gone: undefined, n: 1 } }
    const run = await engine.enqueue('wf', input)
    input.nested.n = 2
    expect(run.input).toStrictEqual({ when: new Date(0), nested: { gone: undefined, n: 1 } })
    await engine.tick()
    expect(seen).toStrictEqual([run.input, { at: new Date(0), drop: undefined, keep: [1, 'x'] }])
    expect((await storage.getRun(run.id))?.input).toStrictEqual(run.input)
    expect((await storage.getStepResults(run.id))[0]?.output).toStrictEqual({ at: new Date(0), drop: undefined, keep: [1, 'x'] })
  })
})

describe('change watch', () => {
  /** A change source with the version and notifications in the test's hands. */
  function fakeSource() {
    const fake = {
      version: 0,
      listeners: new Set<() => void>(),
      unsubscribed: 0,
      source: {} as ChangeSource,
    }
    fake.source = {
      version: () => fake.version,
      watch: (onChange: () => void) => {
        fake.listeners.add(onChange)
        return () => {
          fake.listeners.delete(onChange)
          fake.unsubscribed++
        }
      },
    }
    return fake
  }

  test('a storage without a change source gets no watch: the engine polls at its interval', async () => {
    const clock = new ManualClock(1_000_000)
    const memory = new MemoryStorage({ clock })
    // The nine StorageAdapter methods alone, as a user's own adapter offers them: no change source.
    const adapter: StorageAdapter = {
      initialize: () => memory.initialize(),
      createRun: (run) => memory.createRun(run),
      claimNextRun: (names, staleBefore) => memory.claimNextRun(names, staleBefore),
      heartbeatRun: (runId, leaseId) => memory.heartbeatRun(runId, leaseId),
      getRun: (runId) => memory.getRun(runId),
      getStepResults: (runId) => memory.getStepResults(runId),
      saveStepResult: (result, leaseId) => memory.saveStepResult(result, leaseId),
      updateRunStatus: (runId, status) => memory.updateRunStatus(runId, status),
      updateClaimedRunStatus: (runId, leaseId, status) => memory.updateClaimedRunStatus(runId, leaseId, status),
    }
    const ran: string[] = []
    const wf = createWorkflow({ name: 'wf', input: passThrough }).step('s', ({ runId }) => void ran.push(runId))
    const engine = createEngine({ storage: adapter, workflows: [wf], clock })
    await engine.start(1_000)
    // Let the first claim come back empty, so the engine is idle.
    await new Promise((resolve) => setTimeout(resolve, 50))
    // Another process enqueues: this engine hears nothing, so it finds the run at its next poll.
    const run = { id: 'r1', workflow: 'wf', input: {}, status: 'pending' as const, idempotencyKey: null, createdAt: clock.now(), updatedAt: clock.now() }
    await memory.createRun(run)
    // Long enough for any change watch (its first check comes after 5 ms) to have claimed the run.
    await new Promise((resolve) => setTimeout(resolve, 100))
    await clock.advance(999)
    expect(ran).toEqual([])
    await clock.advance(1)
    expect(ran).toEqual(['r1'])
    await engine.stop()
  })

  test('a notification checks at once: a change since the snapshot is reported, synchronously', () => {
    const fake = fakeSource()
    let changes = 0
    const watch = createChangeWatch(fake.source, () => changes++, (error) => {
      throw error
    })
    expect(watch.snapshot()).toBe(true)
    watch.arm()
    expect(fake.listeners.size).toBe(1)
    const notify = [...fake.listeners][0]!
    notify()
    expect(changes).toBe(0)
    fake.version++
    notify()
    expect(changes).toBe(1)
    // Reported once: paused until armed again, however many notifications follow.
    notify()
    expect(changes).toBe(1)
    watch.disarm()
    expect(fake.listeners.size).toBe(0)
    expect(fake.unsubscribed).toBe(1)
  })

  test('after a few changes that brought no work, reacting to the next one waits until work is found', async () => {
    const fake = fakeSource()
    let changes = 0
    let next = Promise.withResolvers<void>()
    const watch = createChangeWatch(fake.source, () => {
      changes++
      next.resolve()
    }, (error) => {
      throw error
    })
    const change = () => {
      fake.version++
      watch.snapshot()
      watch.arm()
      fake.version++
      for (const notify of fake.listeners) notify()
    }
    for (let i = 1; i <= 3; i++) {
      change()
      expect(changes).toBe(i)
      watch.claimed(false)
    }
    next = Promise.withResolvers<void>()
    change()
    expect(changes).toBe(3)
    await next.promise
    expect(changes).toBe(4)
    watch.claimed(true)
    change()
    expect(changes).toBe(5)
    watch.disarm()
  })

  test('without a notification, the timer finds the change', async () => {
    const fake = fakeSource()
    const changed = Promise.withResolvers<void>()
    // A source whose notifications never come (a file system without them): only the timer can see the change.
    const silent: ChangeSource = { version: () => fake.version, watch: () => () => {} }
    const watch = createChangeWatch(silent, () => changed.resolve(), (error) => {
      throw error
    })
    watch.snapshot()
    watch.arm()
    fake.version++
    await changed.promise
    watch.disarm()
  })

  test('an unreadable version is reported once and leaves the watch off', () => {
    const errors: unknown[] = []
    const failing: ChangeSource = {
      version: () => {
        throw new Error('closed')
      },
      watch: () => () => {},
    }
    const watch = createChangeWatch(failing, () => {}, (error) => errors.push(error))
    expect(watch.snapshot()).toBe(false)
    watch.arm()
    expect(errors).toHaveLength(1)
  })
})

const passThrough: StandardSchemaV1<{ [key: string]: unknown }> = {
  '~standard': { version: 1, vendor: 'test', validate: (value) => ({ value: value as { [key: string]: unknown } }) },
}
