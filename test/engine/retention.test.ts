/**
 * Retention through the engine: `createEngine({ retention })` deletes exactly the finished runs past
 * the window of their status (and old events), never a pending, running or waiting run, on memory
 * and on a SQLite file; a pass over 20,000 finished runs on a file while an engine on another
 * connection keeps claiming and completing runs loses no run and does not stop the claims.
 */

import { Database } from 'bun:sqlite'
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { ManualClock, SystemClock } from '../../src/core/clock.ts'
import { createEngine, createWorkflow, defineEvent, InvalidArgumentError, type RetentionPassEvent } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'
import { STORE, type Store } from '../../src/storage/store.ts'
import { createRetention, FIRST_PASS_MS, supportsRetention } from '../../src/engine/retention.ts'
import { deferred } from './helpers.ts'

const dir = mkdtempSync(path.join(os.tmpdir(), 'reflow-retention-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const freshFile = () => path.join(dir, `retention-${++n}.db`)

const DAY = 86_400_000
const T0 = 1_700_000_000_000

const job = createWorkflow({ name: 'job', input: z.object({ fail: z.boolean() }) }).step('a', {
  handler: ({ input }) => {
    if (input.fail) throw new Error('no')
    return 1
  },
  retry: { maxAttempts: 1 },
})
const napper = createWorkflow({ name: 'napper', input: z.object({}) }).sleep('nap', '100d')
const paid = defineEvent('paid', z.object({ n: z.number() }))

const backends: [string, (clock: ManualClock) => MemoryStorage | SQLiteStorage][] = [
  ['memory', (clock) => new MemoryStorage({ clock })],
  ['SQLite file', (clock) => new SQLiteStorage(freshFile(), { clock })],
]

describe.each(backends)('retention on %s', (_, open) => {
  test('deletes exactly the finished runs past the window of their status, and old events; never pending, running or waiting runs', async () => {
    const clock = new ManualClock(T0)
    const storage = open(clock)
    const passes: RetentionPassEvent[] = []
    let passed = deferred()
    const engine = createEngine({
      storage,
      clock,
      workflows: [job, napper],
      retention: { completed: '7d', failed: '30d', cancelled: '7d', events: '7d' },
      hooks: {
        onRetention: (event) => {
          passes.push(event)
          passed.resolve()
        },
      },
    })
    const store = storage[STORE]()
    const finished = async (kind: 'completed' | 'failed' | 'cancelled') => {
      if (kind === 'cancelled') {
        const run = await engine.enqueue('job', { fail: false }, { delay: '1000d' })
        await engine.cancel(run.id)
        return run.id
      }
      const run = await engine.enqueue('job', { fail: kind === 'failed' })
      await engine.tick()
      expect((await engine.getRunStatus(run.id))?.run.status).toBe(kind)
      return run.id
    }
    const old = { completed: await finished('completed'), failed: await finished('failed'), cancelled: await finished('cancelled') }
    const waiting = (await engine.enqueue('napper', {})).id
    await engine.tick()
    const pending = (await engine.enqueue('job', { fail: false }, { delay: '1000d' })).id
    // A run of a workflow this engine does not run, held by another engine's lease: running throughout.
    await store.createRun({ id: 'elsewhere', workflow: 'other', inputJson: null, input: undefined, idempotencyKey: null, createdAt: T0, availableAt: T0, firstStep: 'a' })
    await store.claim({ workflows: ['other'], limit: 1, now: T0, leaseMs: 1000 * DAY, includeExpired: false, owner: 'another engine' })
    await engine.emit(paid, { key: 'k', payload: { n: 1 } })

    await clock.advance(8 * DAY)
    const young = { completed: await finished('completed'), failed: await finished('failed'), cancelled: await finished('cancelled') }
    await engine.emit(paid, { key: 'k', payload: { n: 2 } })
    const status = async (id: string) => (await engine.getRunStatus(id))?.run.status ?? 'deleted'

    await engine.start()
    await clock.advance(FIRST_PASS_MS)
    await passed.promise
    expect(passes[0]).toMatchObject({ runs: 2, steps: 1, events: 1 })
    expect(await status(old.completed)).toBe('deleted')
    expect(await status(old.cancelled)).toBe('deleted')
    expect(await status(old.failed)).toBe('failed')
    for (const id of Object.values(young)) expect(await status(id)).not.toBe('deleted')
    expect([await status(waiting), await status(pending), await status('elsewhere')]).toEqual(['waiting', 'pending', 'running'])
    expect((await store.findEvent(pending, 'paid', 'k'))?.payloadJson).toContain('2')

    await engine.stop()
    await clock.advance(30 * DAY)
    passed = deferred()
    await engine.start()
    await clock.advance(FIRST_PASS_MS)
    await passed.promise
    expect(passes[1]).toMatchObject({ runs: 4 })
    for (const id of [old.failed, ...Object.values(young)]) expect(await status(id)).toBe('deleted')
    expect([await status(waiting), await status(pending), await status('elsewhere')]).toEqual(['waiting', 'pending', 'running'])
    await engine.stop()
    storage.close()
  })
})

test('createEngine refuses a retention window that is not a duration, naming it', () => {
  const storage = new MemoryStorage()
  expect(() => createEngine({ storage, workflows: [job], retention: { completed: '7 days' as never } })).toThrow(InvalidArgumentError)
  expect(() => createEngine({ storage, workflows: [job], retention: { completed: '7 days' as never } })).toThrow(/retention\.completed .*"7 days"/)
  expect(() => createEngine({ storage, workflows: [job], retention: { finished: '7d' } as never })).toThrow(/unknown key "finished"/)
  expect(() => createEngine({ storage, workflows: [job], retention: { failed: -1 } })).toThrow(/retention\.failed/)
})

/** Writes `count` runs that finished at `finishedAt`, one step each, straight into the file. */
export function seedFinished(file: string, count: number, finishedAt: number): void {
  const db = new Database(file)
  db.exec('pragma busy_timeout = 5000')
  db.transaction(() => {
    db.query(`with recursive n(i) as (select 1 union all select i + 1 from n where i < ?)
      insert into reflow_runs (id, workflow, status, created_at_ms, updated_at_ms, finished_at_ms, available_at_ms, attempt, interruptions)
      select 'old-' || i, 'job', 'completed', ?, ?, ?, null, 0, 0 from n`).run(count, finishedAt, finishedAt, finishedAt)
    db.query(`insert into reflow_steps (run_id, name, seq, status, output_json, attempts, created_at_ms, updated_at_ms)
      select id, 'a', 1, 'completed', '1', 1, created_at_ms, created_at_ms from reflow_runs where id like 'old-%'`).run()
  })()
  db.close()
}

test('a pass over 20,000 finished runs while a worker on another connection claims and completes runs: no run lost, claims go on', async () => {
  const file = freshFile()
  const workerStorage = new SQLiteStorage(file)
  await workerStorage.initialize()
  seedFinished(file, 20_000, Date.now() - 30 * DAY)
  let completed = 0
  const worker = createEngine({ storage: workerStorage, workflows: [job], concurrency: 8, hooks: { onRunComplete: () => void completed++ } })
  const runs = await Promise.all(Array.from({ length: 3_000 }, () => worker.enqueue('job', { fail: false })))
  await worker.start()

  const retentionStorage = new SQLiteStorage(file)
  const store: Store = retentionStorage[STORE]()
  if (!supportsRetention(store)) throw new Error('SQLite supports retention')
  const retention = createRetention({ store, clock: SystemClock, policy: { completed: 7 * DAY }, holder: 'test', onPass: () => {}, reportError: (e) => { throw e } })
  const before = completed
  const pass = await retention.pass()
  const during = completed - before
  console.log(`retention over 20,000 runs: ${pass?.batches} batches, longest ${pass?.longestBatchMs.toFixed(1)} ms; worker completed ${during} runs meanwhile`)
  expect(pass).toMatchObject({ runs: 20_000, steps: 20_000 })
  expect(during).toBeGreaterThan(0)

  const results = await Promise.all(runs.map((run) => worker.result(run, { timeout: '60s' })))
  expect(results.every((r) => r.status === 'completed')).toBe(true)
  await worker.stop()
  const db = new Database(file, { readonly: true })
  expect(db.query(`select count(*) as n from reflow_runs`).get()).toEqual({ n: 3_000 })
  expect(db.query(`select count(*) as n from reflow_steps`).get()).toEqual({ n: 3_000 })
  db.close()
  retentionStorage.close()
  workerStorage.close()
})
