// SQLiteStorage's fast path: claims batched into one statement per run and one transaction per
// batch, no write lock when there is nothing to claim, gap-free step numbering (so a new step's
// number is a covering-index count), pre-serialised JSON, and claim plans on the status index.

import { Database } from 'bun:sqlite'
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JSON_TEXT } from '../../src/core/json.ts'
import type { StepResult, WorkflowRun } from '../../src/core/types.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import * as q from '../../src/storage/sqlite/queries.ts'

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

function step(runId: string, name: string, status: StepResult['status'] = 'completed'): StepResult {
  return { runId, name, status, output: status === 'completed' ? name : undefined, error: status === 'failed' ? 'boom' : null, attempts: 1, createdAt: 5, updatedAt: 5 }
}

describe('claims', () => {
  test('with nothing to claim and no write queued, a claim takes no write transaction', async () => {
    const storage = await open()
    const done = newRun()
    await storage.createRun(done)
    const claimed = await storage.claimRuns(['wf'], 0, 1)
    await storage.finishRun(done.id, claimed[0]!.leaseId, 'completed')
    const before = storage.transactionCount
    expect(await storage.claimRuns(['wf'], Date.now(), 16)).toEqual([])
    expect(await storage.claimNextRun(['wf', 'other'])).toBeNull()
    expect(storage.transactionCount).toBe(before)
  })

  test('a batch of claims and the writes that freed their slots commit in one transaction', async () => {
    const storage = await open()
    const runs = Array.from({ length: 32 }, () => newRun())
    await Promise.all(runs.map((run) => storage.createRun(run)))
    const first = await storage.claimRuns(['wf'], undefined, 16)
    expect(first.map((r) => r.id)).toEqual(runs.slice(0, 16).map((r) => r.id))
    const before = storage.transactionCount
    const [finished, next] = await Promise.all([
      Promise.all(first.map((run) => storage.finishRun(run.id, run.leaseId, 'completed', step(run.id, 'only')))),
      storage.claimRuns(['wf'], 0, 16),
    ])
    expect(storage.transactionCount - before).toBe(1)
    expect(finished).toEqual(Array(16).fill(true))
    expect(next.map((r) => r.id)).toEqual(runs.slice(16).map((r) => r.id))
    expect(new Set(next.map((r) => r.leaseId)).size).toBe(16)
    for (const run of next) expect(run.steps).toEqual([])
  })

  test('the claim statements read through the (status, created_at_ms) index and update by rowid', async () => {
    const storage = await open()
    storage.close()
    const db = new Database(dbPath, { readonly: true })
    const plan = (sql: string, params: (string | number)[]) =>
      (db.query(`explain query plan ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join('\n')
    for (const [sql, params] of [
      [q.claimNextPending(2), ['lease', 1, 1, 1, 'a', 'b']],
      [q.selectPendingRunIds(2), ['a', 'b', 16]],
      [q.selectStaleRunIds(2), [1, 'a', 'b', 16]],
      [q.selectClaimableExists(2), ['a', 'b', 1, 'a', 'b']],
    ] as const) {
      const detail = plan(sql, [...params])
      expect(detail).toContain('USING INDEX reflow_runs_status_created (status=?)')
      expect(detail).not.toContain('SCAN reflow_runs')
    }
    expect(plan(q.claimRun, ['lease', 1, 1, 1, 1, 1])).toContain('USING INTEGER PRIMARY KEY (rowid=?)')
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
    const [claimed] = await storage.claimRuns(['wf'], undefined, 1)
    await storage.finishRun(run.id, claimed!.leaseId, 'completed', Object.assign(step(run.id, 's'), { [JSON_TEXT]: '[1]' }))
    expect((await storage.getStepResults(run.id))[0]?.output).toEqual([1])
  })
})
