/**
 * The inspection layer (src/inspect) over the memory store, a SQLite file and a Postgres schema (on
 * the engine's clock, since the cases pass explicit times): the same cases on each.
 * Runs are created and moved through the store contract with explicit times.
 */

import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ManualClock } from '../../src/core/clock.ts'
import { createInspector } from '../../src/inspect/inspector.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'
import { PostgresStorage } from '../../src/postgres.ts'
import { dropSchemas, freshSchema, POSTGRES_URL } from '../postgres/server.ts'
import { STORE, type Store } from '../../src/storage/store.ts'
import { LEASE, OWNER, T, attempt, newRun, step } from '../contract/store-fixtures.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'reflow-inspect-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
afterAll(dropSchemas)
let files = 0

const backends: { name: string; open: () => Promise<{ store: Store; close: () => void }> }[] = [
  { name: 'memory', open: async () => ({ store: new MemoryStorage()[STORE](), close: () => {} }) },
  {
    name: 'sqlite file',
    open: async () => {
      const storage = new SQLiteStorage(path.join(dir, `db-${++files}.sqlite`))
      await storage.initialize()
      return { store: storage[STORE](), close: () => storage.close() }
    },
  },
  {
    name: 'postgres schema',
    open: async () => {
      const storage = new PostgresStorage(POSTGRES_URL, { schema: freshSchema(), timeSource: 'engine', maxConnections: 3 })
      await storage.initialize()
      return { store: storage[STORE](), close: () => void storage.close() }
    },
  },
]

/** Claims the one due run of `workflow` at `now`, as a lease. */
async function claim(store: Store, workflow: string, now: number) {
  const [claimed] = await store.claim({ workflows: [workflow], limit: 1, now, leaseMs: LEASE, includeExpired: false, owner: OWNER })
  if (!claimed) throw new Error('nothing to claim')
  return { ...claimed, runId: claimed.id }
}

/** A run of `workflow` created at `at` that completes (or fails at its step "a") at `at + 100`. */
async function finished(store: Store, id: string, workflow: string, at: number, status: 'completed' | 'failed') {
  await store.createRun(newRun(id, { workflow, createdAt: at, availableAt: at }))
  const lease = await claim(store, workflow, at)
  if (status === 'completed') {
    await store.recordStep(lease, step('a', { startedAt: at + 10, endedAt: at + 60 }), at + 60, { nextStep: null, complete: true })
  } else {
    const failed = step('a', { status: 'failed', error: 'boom', outputJson: null, startedAt: at + 10, endedAt: at + 100 })
    await store.recordFailure(lease, failed, attempt('a', { attempt: 1, endedAt: at + 100 }), at + 100, true)
  }
}

for (const backend of backends) {
  describe(backend.name, () => {
    const withStore = (name: string, fn: (store: Store) => Promise<void>) =>
      test(name, async () => {
        const { store, close } = await backend.open()
        try {
          await fn(store)
        } finally {
          close()
        }
      })

    withStore('pages newest first with no duplicates or gaps while new runs are inserted', async (store) => {
      const inspector = createInspector(store)
      const ids: string[] = []
      // Pairs share a creation time: the id breaks the tie.
      for (let i = 0; i < 23; i++) {
        const id = `r${String(i).padStart(2, '0')}`
        ids.push(id)
        await store.createRun(newRun(id, { createdAt: T + Math.floor(i / 2) }))
      }
      const expected = [...ids].reverse()
      const seen: string[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const page = await inspector.listRuns({ limit: 5, ...(cursor !== null && { cursor }) })
        seen.push(...page.runs.map((r) => r.id))
        cursor = page.nextCursor
        pages++
        // Newer runs (and one at the same time as the last page's end) arrive between pages.
        await store.createRun(newRun(`new-${pages}`, { createdAt: T + 1_000 + pages }))
        await store.createRun(newRun(`a-tie-${pages}`, { createdAt: page.runs.at(-1)?.createdAt ?? T, availableAt: T }))
      } while (cursor !== null)
      // Runs inserted behind the cursor (an equal time, a smaller id) come on later pages.
      expect(seen.filter((id) => id.startsWith('a-tie-'))).toHaveLength(pages - 1)
      expect(seen.filter((id) => id.startsWith('new-'))).toEqual([])
      const original = seen.filter((id) => id.startsWith('r'))
      expect(original).toEqual(expected)
      expect(new Set(seen).size).toBe(seen.length)
      // The last page says there is no next one, even when it is exactly full.
      const exact = await inspector.listRuns({ limit: 100 })
      expect(exact.nextCursor).toBeNull()
      expect(() => inspector.listRuns({ limit: 5, cursor: 'nonsense' })).toThrow(/not a run list cursor/)
      expect(() => inspector.listRuns({ limit: 0 })).toThrow(/limit must be a positive integer/)
    })

    withStore('filters: statuses, workflow, creation window, id prefix, idempotency key', async (store) => {
      const inspector = createInspector(store)
      await store.createRun(newRun('ord-1', { createdAt: T + 1, idempotencyKey: 'k-1' }))
      await store.createRun(newRun('ord-2', { createdAt: T + 2 }))
      await store.createRun(newRun('mail-1', { workflow: 'mail', createdAt: T + 3 }))
      await store.cancel('ord-2', T + 5)
      const ids = async (query: Parameters<typeof inspector.listRuns>[0]) => (await inspector.listRuns(query)).runs.map((r) => r.id)
      expect(await ids({ limit: 10 })).toEqual(['mail-1', 'ord-2', 'ord-1'])
      expect(await ids({ limit: 10, statuses: ['cancelled'] })).toEqual(['ord-2'])
      expect(await ids({ limit: 10, statuses: ['pending', 'cancelled'], workflow: 'orders' })).toEqual(['ord-2', 'ord-1'])
      expect(await ids({ limit: 10, workflow: 'mail' })).toEqual(['mail-1'])
      expect(await ids({ limit: 10, createdAfter: T + 2, createdBefore: T + 3 })).toEqual(['ord-2'])
      expect(await ids({ limit: 10, idPrefix: 'ord-' })).toEqual(['ord-2', 'ord-1'])
      expect(await ids({ limit: 10, idPrefix: 'ORD-' })).toEqual([])
      expect(await ids({ limit: 10, idempotencyKey: 'k-1' })).toEqual(['ord-1'])
      expect(await ids({ limit: 10, statuses: ['failed'] })).toEqual([])
    })

    withStore('a run with its steps, their durations and its attempts; summaries name the failed step', async (store) => {
      const inspector = createInspector(store)
      await store.createRun(newRun('r1', { createdAt: T }))
      const lease = await claim(store, 'orders', T + 5)
      await store.recordStep(lease, step('a', { startedAt: T + 10, endedAt: T + 40 }), T + 40, { nextStep: 'b', complete: false })
      const failed = step('b', { status: 'failed', error: 'boom\nat b', outputJson: null, attempts: 2, startedAt: T + 50, endedAt: T + 150 })
      await store.recordFailure(lease, failed, attempt('b', { attempt: 2, endedAt: T + 150 }), T + 150, true)
      const detail = await inspector.getRun('r1')
      expect(detail?.run).toMatchObject({ id: 'r1', status: 'failed', startedAt: T + 5, finishedAt: T + 150, durationMs: 145 })
      expect(detail?.steps.map((s) => [s.seq, s.name, s.status, s.durationMs])).toEqual([[1, 'a', 'completed', 30], [2, 'b', 'failed', 100]])
      expect(detail?.attempts.map((a) => [a.stepName, a.attempt])).toEqual([['b', 2]])
      expect(await inspector.getRun('nope')).toBeNull()
      const [summary] = (await inspector.listRuns({ limit: 1 })).runs
      expect(summary).toMatchObject({ step: { name: 'b', status: 'failed', attempts: 2 }, error: 'boom\nat b', stepsRecorded: 2 })
    })

    withStore('stats: counts, the oldest pending run, completed and failed per window per workflow', async (store) => {
      const now = T + 10_000_000
      const inspector = createInspector(store, { clock: new ManualClock(now) })
      await finished(store, 'c-old', 'orders', now - 2 * 3_600_000, 'completed')
      await finished(store, 'c-hour', 'orders', now - 1_800_000, 'completed')
      await finished(store, 'c-min', 'orders', now - 30_000, 'completed')
      await finished(store, 'f-min', 'mail', now - 30_000, 'failed')
      await store.createRun(newRun('p-2', { createdAt: now - 50 }))
      await store.createRun(newRun('p-1', { workflow: 'mail', createdAt: now - 500 }))
      const stats = await inspector.stats()
      expect(stats.counts).toEqual([
        { workflow: 'mail', status: 'failed', runs: 1 },
        { workflow: 'mail', status: 'pending', runs: 1 },
        { workflow: 'orders', status: 'completed', runs: 3 },
        { workflow: 'orders', status: 'pending', runs: 1 },
      ])
      expect(stats.oldestPending).toEqual({ id: 'p-1', workflow: 'mail', createdAt: now - 500 })
      expect(stats.windows).toEqual([
        { windowMs: 60_000, byWorkflow: [{ workflow: 'mail', completed: 0, failed: 1 }, { workflow: 'orders', completed: 1, failed: 0 }] },
        { windowMs: 3_600_000, byWorkflow: [{ workflow: 'mail', completed: 0, failed: 1 }, { workflow: 'orders', completed: 2, failed: 0 }] },
      ])
      const custom = await inspector.stats({ now, windowsMs: [10 * 3_600_000] })
      expect(custom.windows).toEqual([{ windowMs: 36_000_000, byWorkflow: [{ workflow: 'mail', completed: 0, failed: 1 }, { workflow: 'orders', completed: 3, failed: 0 }] }])
    })

    withStore('actions: cancel, retry (from a step), purge (dry run, then batched), emit, schedules', async (store) => {
      const clock = new ManualClock(T + 1_000_000)
      const inspector = createInspector(store, { clock })
      await store.createRun(newRun('p'))
      expect(await inspector.cancel('p')).toMatchObject({ ok: true, before: { status: 'pending' } })
      expect(await inspector.cancel('p')).toEqual({ ok: false, reason: 'refused', status: 'cancelled' })
      expect(await inspector.cancel('nope')).toEqual({ ok: false, reason: 'not-found' })
      expect(await inspector.retry('p')).toMatchObject({ ok: true, before: { status: 'cancelled' } })
      expect((await store.getRun('p'))?.status).toBe('pending')
      expect(await inspector.retry('p')).toEqual({ ok: false, reason: 'refused', status: 'pending' })

      await store.createRun(newRun('two', { workflow: 'two', createdAt: T, availableAt: T }))
      const lease = await claim(store, 'two', T)
      await store.recordStep(lease, step('a'), T + 1, { nextStep: 'b', complete: false })
      await store.recordFailure(lease, step('b', { status: 'failed', error: 'x', outputJson: null }), attempt('b'), T + 2, true)
      expect(await inspector.retry('two', { fromStep: 'a' })).toMatchObject({ ok: true })
      expect(await store.getSteps('two')).toEqual([])

      for (let i = 0; i < 5; i++) await finished(store, `old-${i}`, 'orders', T + 10 + i, 'completed')
      await finished(store, 'old-failed', 'mail', T + 20, 'failed')
      const request = { finishedBefore: T + 10_000, statuses: ['completed', 'failed'] as const, dryRun: true }
      const preview = await inspector.purge(request)
      expect(preview).toEqual({
        runs: 6,
        steps: 6,
        groups: [{ workflow: 'mail', status: 'failed', runs: 1, steps: 1 }, { workflow: 'orders', status: 'completed', runs: 5, steps: 5 }],
      })
      expect((await inspector.listRuns({ limit: 100 })).runs).toHaveLength(8)
      expect(await inspector.purge({ ...request, dryRun: false, batchSize: 2 })).toEqual(preview)
      expect((await inspector.listRuns({ limit: 100 })).runs.map((r) => r.id).sort()).toEqual(['p', 'two'])
      await expect(inspector.purge({ ...request, statuses: ['pending'] })).rejects.toThrow(/purge statuses must be among/)

      const first = await inspector.emit('approved', 'k', '{"ok":true}', 'once')
      expect(first).toMatchObject({ created: true, payloadJson: '{"ok":true}' })
      expect(await inspector.emit('approved', 'k', '{"ok":false}', 'once')).toEqual({ id: first.id, created: false, payloadJson: '{"ok":true}' })
      expect(await inspector.schedules()).toEqual([])
    })
  })
}
