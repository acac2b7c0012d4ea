// SQLiteStorage's fast path: claims batched into one statement per run and one transaction per
// batch, no write lock when there is nothing to claim, gap-free step numbering (so a new step's
// number is a covering-index count), pre-serialised JSON, and claim plans on the (status, due) index.

import { Database } from 'bun:sqlite'
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JSON_TEXT } from '../../src/core/json.ts'
import type { StepResult, WorkflowRun } from '../../src/core/types.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import * as q from '../../src/storage/sqlite/queries.ts'
import { STORE, type ClaimRequest, type Lease, type StepWrite } from '../../src/storage/store.ts'

let dir: string
let dbPath: string
const opened: SQLiteStorage[] = []

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'reflow-fast-'))
  dbPath = join(dir, 'reflow.db')
})

afterEach(() => {
  for (const storage of opened.splice(0)) storage.close()
  rmSync(dir, { recursive: true, force: true })
})

async function open(): Promise<SQLiteStorage> {
  const storage = new SQLiteStorage(dbPath)
  opened.push(storage)
  await storage.initialize()
  return storage
}

let nextId = 0
function newRun(overrides: Partial<WorkflowRun> = {}): WorkflowRun {
  nextId++
  return { id: `run-${String(nextId).padStart(4, '0')}`, workflow: 'wf', input: { n: nextId }, status: 'pending', idempotencyKey: null, createdAt: 1000 + nextId, updatedAt: 1000 + nextId, ...overrides }
}

/** A claim request as the engine makes it, at `now`. */
function claimRequest(limit: number, now: number, includeExpired = false): ClaimRequest {
  return { workflows: ['wf'], limit, now, leaseMs: 30_000, includeExpired, owner: 'test' }
}

/** A last step as the engine records it: the run completes in the same write. */
function complete(storage: SQLiteStorage, lease: Lease, name: string, now: number): Promise<boolean> {
  const write: StepWrite = { name, status: 'completed', outputJson: JSON.stringify(name), error: null, attempts: 1, startedAt: now, endedAt: now }
  return storage[STORE]().recordStep(lease, write, now, { nextStep: null, complete: true })
}

const lease = (run: { id: string; leaseId: string }): Lease => ({ runId: run.id, leaseId: run.leaseId })

function step(runId: string, name: string, status: StepResult['status'] = 'completed'): StepResult {
  return { runId, name, status, output: status === 'completed' ? name : undefined, error: status === 'failed' ? 'boom' : null, attempts: 1, createdAt: 5, updatedAt: 5 }
}

describe('claims', () => {
  test('with nothing to claim and no write queued, a claim takes no write transaction', async () => {
    const storage = await open()
    const store = storage[STORE]()
    const done = newRun()
    await storage.createRun(done)
    // Parked until a minute from now: claims must not take the write lock for it either.
    await storage.createRun(newRun())
    const now = Date.now()
    const [claimed] = await store.claim(claimRequest(1, now))
    await complete(storage, lease(claimed!), 'only', now)
    const parked = (await store.claim(claimRequest(1, now)))[0]!
    await store.release(lease(parked), { availableAt: now + 60_000, attempt: 1, interruptions: 0 }, now)
    const before = storage.transactionCount
    expect(await store.claim(claimRequest(16, now + 1, true))).toEqual([])
    expect(await store.claim({ ...claimRequest(16, now + 1), workflows: ['wf', 'other'] })).toEqual([])
    expect(await storage.claimNextRun(['wf', 'other'])).toBeNull()
    expect(storage.transactionCount).toBe(before)
    expect(await store.claim(claimRequest(16, now + 60_000))).toHaveLength(1)
    expect(storage.transactionCount).toBe(before + 1)
  })

  test('a batch of claims and the writes that freed their slots commit in one transaction', async () => {
    const storage = await open()
    const runs = Array.from({ length: 32 }, () => newRun())
    await Promise.all(runs.map((run) => storage.createRun(run)))
    const store = storage[STORE]()
    const first = await store.claim(claimRequest(16, 2000))
    expect(first.map((r) => r.id)).toEqual(runs.slice(0, 16).map((r) => r.id))
    const before = storage.transactionCount
    const [finished, next] = await Promise.all([
      Promise.all(first.map((run) => complete(storage, lease(run), 'only', 2000))),
      store.claim(claimRequest(16, 2000, true)),
    ])
    expect(storage.transactionCount - before).toBe(1)
    expect(finished).toEqual(Array(16).fill(true))
    expect(next.map((r) => r.id)).toEqual(runs.slice(16).map((r) => r.id))
    expect(new Set(next.map((r) => r.leaseId)).size).toBe(16)
    for (const run of next) expect(run.steps).toEqual([])
  })

  test('the claim statements read through the (status, available_at_ms) index and update by rowid', async () => {
    const storage = await open()
    storage.close()
    const db = new Database(dbPath, { readonly: true })
    const plan = (sql: string, params: (string | number)[]) =>
      (db.query(`explain query plan ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join('\n')
    // Due pending runs and woken waiting runs: found by status and due time, in due order.
    for (const [sql, params] of [
      [q.claimNextDue(2), ['lease', 'owner', 1, 1, 1, 1, 1, 'a', 'b']],
      [q.selectDueCandidates(2), [1, 'a', 'b', 16]],
      [q.selectWokenCandidates(2), [1, 'a', 'b', 16]],
      [q.selectClaimableExists(2), [1, 'a', 'b', 1, 2, 0, 'a', 'b']],
    ] as const) {
      const detail = plan(sql, [...params])
      expect(detail).toContain('USING INDEX reflow_runs_claim (status=? AND available_at_ms<?)')
      expect(detail).not.toContain('SCAN reflow_runs')
    }
    // The next due time: one index probe for pending runs and one for waiting runs.
    const nextDue = plan(q.selectNextDue(2), [1, 'a', 'b', 1, 'a', 'b'])
    expect(nextDue.split('USING INDEX reflow_runs_claim (status=? AND available_at_ms>?)')).toHaveLength(3)
    expect(nextDue).not.toContain('SCAN reflow_runs')
    // emit wakes the runs waiting for its name and key through the partial index on them.
    const wake = plan(q.wakeWaitingRuns, [1, 1, 'e', 'k'])
    expect(wake).toContain('USING INDEX reflow_runs_waiting (wait_event=? AND wait_key=?)')
    expect(wake).not.toContain('SCAN')
    // A wait's lookup: events by name, key and time, then the run's steps by its primary key.
    const lookup = plan(q.selectUnreceivedEvent, ['e', 'k', 1, 'r'])
    expect(lookup).toContain('USING INDEX reflow_events_lookup (name=? AND key=? AND created_at_ms>?)')
    expect(lookup).not.toContain('SCAN')
    // Expired leases: an `or` over expiry and heartbeat times, so only the status narrows the search.
    const expired = plan(q.selectExpiredCandidates(2), [1, 2, 0, 'a', 'b', 16])
    expect(expired).toContain('USING INDEX reflow_runs_claim (status=?)')
    expect(expired).not.toContain('SCAN reflow_runs')
    const grant = ['lease', 'owner', 1, 1, 1, 1]
    for (const [sql, params] of [
      [q.claimNextDue(2), [...grant, 1, 'a', 'b']],
      [q.claimDueRun, [...grant, 1, 1]],
      [q.claimExpiredRun, [...grant, 1, 1, 2, 0]],
    ] as const) {
      expect(plan(sql, [...params])).toContain('SEARCH reflow_runs USING INTEGER PRIMARY KEY (rowid=?)')
    }
    db.close()
  })
})

describe('steps', () => {
  test('are numbered 1, 2, … without gaps, also after a retry dropped a failed one', async () => {
    const storage = await open()
    const run = newRun()
    await storage.createRun(run)
    await storage.saveStepResult(step(run.id, 'a'))
    await storage.saveStepResult(step(run.id, 'b', 'failed'))
    await storage.saveStepResult(step(run.id, 'c'))
    await storage.updateRunStatus(run.id, 'failed')
    await storage.retryRun(run.id)
    await storage.saveStepResult(step(run.id, 'd'))
    await storage.saveStepResult(step(run.id, 'a'))
    const db = new Database(dbPath, { readonly: true })
    expect(db.query('select name, seq from reflow_steps where run_id = ? order by seq').all(run.id)).toEqual([
      { name: 'a', seq: 1 },
      { name: 'c', seq: 2 },
      { name: 'd', seq: 3 },
    ])
    db.close()
  })

  test('the JSON text the engine attached is written as is', async () => {
    const storage = await open()
    const run = newRun({ input: { a: 1 } })
    const created = await storage.createRun(Object.assign(run, { [JSON_TEXT]: '{"a":2}' }))
    // Attached text promises the value is already its own round trip: it comes back untouched.
    expect(created.run.input).toBe(run.input)
    expect((await storage.getRun(run.id))?.input).toEqual({ a: 2 })
    const claimed = await storage.claimNextRun(['wf'])
    expect(await storage.saveStepResult(Object.assign(step(run.id, 's'), { [JSON_TEXT]: '[1]' }), claimed!.leaseId)).toBe(true)
    expect((await storage.getStepResults(run.id))[0]?.output).toEqual([1])
  })
})
