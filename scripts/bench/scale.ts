/**
 * Scale: does a file full of history slow the engine down? Fills a database with `rows` finished
 * runs (one recorded step each) by raw SQL in large transactions, then measures the claim latency
 * (one `claimRuns(…, 1)` at a time, through the storage's write queue) and the 1-step run
 * throughput at concurrency 16, and records the claim statements' query plans.
 */

import { Database } from 'bun:sqlite'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { STORE } from '../../src/storage/store.ts'
import * as q from '../../src/storage/sqlite/queries.ts'
import { WORKFLOW, enqueueMany, measureRuns, noopWorkflow, type Engine } from './engine-runs.ts'
import { createEngine } from '../../src/index.ts'
import { createInspector } from '../../src/inspect/inspector.ts'
import type { RunListQuery } from '../../src/storage/store.ts'
import { freshDb, percentile } from './harness.ts'

export interface ScaleResult {
  rows: number
  /** p50 milliseconds of one run-list page (50 runs, the dashboard's and `reflow runs`'), by query. */
  pageMs: Record<string, number>
  fillMs: number
  fileMb: number
  claimP50Us: number
  claimP99Us: number
  runsPerSec: number
}

/** A new database holding `rows` completed runs (ids time-ordered, as the engine makes them) and their steps. */
export async function filledDb(rows: number): Promise<{ path: string; fillMs: number }> {
  const path = freshDb('scale.db')
  const storage = new SQLiteStorage(path)
  await storage.initialize()
  storage.close()
  const db = new Database(path)
  db.run('pragma journal_mode = wal')
  db.run('pragma synchronous = normal')
  db.run('pragma cache_size = -262144')
  const start = performance.now()
  // Finished a day ago and before, one millisecond apart; ids shaped like the engine's UUIDv7s.
  const base = Date.now() - 86_400_000 - rows
  const chunk = 100_000
  const insertRuns = db.prepare(`with recursive n(i) as (select ? union all select i + 1 from n where i < ?)
insert into reflow_runs (id, workflow, status, input_json, idempotency_key, lease_id, heartbeat_at_ms, created_at_ms, updated_at_ms, started_at_ms, finished_at_ms)
select printf('%08x-%04x-7000-8000-%012x', (? + i) / 65536, (? + i) % 65536, i), '${WORKFLOW}', 'completed', '{"i":1}', null, null,
  ? + i, ? + i, ? + i, ? + i, ? + i
from n`)
  const insertSteps = db.prepare(`insert into reflow_steps (run_id, name, seq, status, output_json, error, attempts, created_at_ms, updated_at_ms)
select id, 's0', 1, 'completed', null, null, 1, created_at_ms, created_at_ms from reflow_runs where rowid > ? and rowid <= ?`)
  for (let from = 0; from < rows; from += chunk) {
    const to = Math.min(rows, from + chunk) - 1
    db.transaction(() => {
      insertRuns.run(from, to, base, base, base, base, base, base, base)
      insertSteps.run(from, to + 1)
    })()
  }
  db.run('pragma wal_checkpoint(truncate)')
  db.close(true)
  return { path, fillMs: performance.now() - start }
}

/** Query plans of the claim path's reads, for one workflow name. */
export function claimPlans(path: string): Record<string, string[]> {
  const db = new Database(path, { readonly: true })
  const plan = (sql: string, params: (string | number | null)[]) =>
    (db.query(`explain query plan ${sql}`).all(...params) as { detail: string }[]).map((row) => row.detail)
  const plans = {
    claimNextDue: plan(q.claimNextDue(1), ['lease', 'owner', 0, 0, 0, 0, 0, WORKFLOW]),
    selectDueCandidates: plan(q.selectDueCandidates(1), [0, WORKFLOW, 16]),
    selectExpiredCandidates: plan(q.selectExpiredCandidates(1), [0, 0, -1, WORKFLOW, 16]),
    selectClaimableExists: plan(q.selectClaimableExists(1), [0, WORKFLOW, 0, 0, -1, WORKFLOW]),
    claimDueRun: plan(q.claimDueRun, ['lease', 'owner', 0, 0, 0, 0, 1, 0]),
  }
  db.close()
  return plans
}

export async function measureScale(rows: number, claims: number, runs: number): Promise<ScaleResult> {
  const { path, fillMs } = await filledDb(rows)
  const fileMb = Bun.file(path).size / 1024 / 1024
  // Claim latency: claims of single pending runs, one at a time, each through a write transaction.
  const storage = new SQLiteStorage(path)
  const store = storage[STORE]()
  const engine = createEngine({ storage, workflows: [noopWorkflow(1)] }) as unknown as Engine
  await storage.initialize()
  const warmUp = 100
  await enqueueMany(engine, warmUp + claims)
  const latencies: number[] = []
  for (let i = 0; i < warmUp + claims; i++) {
    const start = performance.now()
    const claimed = await store.claim({ workflows: [WORKFLOW], limit: 1, now: Date.now(), leaseMs: 30_000, includeExpired: true, owner: 'bench' })
    if (i >= warmUp) latencies.push((performance.now() - start) * 1000)
    if (claimed.length !== 1) throw new Error('scale: claim found nothing')
    await store.finish({ runId: claimed[0]!.id, leaseId: claimed[0]!.leaseId }, 'completed', Date.now())
  }
  const pageMs = await measurePages(createInspector(store))
  storage.close()
  latencies.sort((a, b) => a - b)
  const result = await measureRuns({ steps: 1, concurrency: 16, runs, path })
  return {
    rows,
    pageMs,
    fillMs,
    fileMb,
    claimP50Us: percentile(latencies, 50),
    claimP99Us: percentile(latencies, 99),
    runsPerSec: result.runsPerSec,
  }
}

/**
 * Run-list pages as the dashboard and `reflow runs` ask for them (50 runs, newest first), each
 * query 20 times: the p50 in milliseconds. The file holds completed runs (and the few the claim
 * measurement made); a filter that matches none walks the whole history, the worst case.
 */
async function measurePages(inspector: ReturnType<typeof createInspector>): Promise<Record<string, number>> {
  const first = await inspector.listRuns({ limit: 50 })
  const someId = first.runs.at(-1)!.id
  const queries: Record<string, RunListQuery> = {
    'first page': { limit: 50 },
    'a later page (cursor)': { limit: 50, cursor: first.nextCursor! },
    'one workflow': { limit: 50, workflow: WORKFLOW },
    'completed': { limit: 50, statuses: ['completed'] },
    'failed (none in the file)': { limit: 50, statuses: ['failed'] },
    'id prefix': { limit: 50, idPrefix: someId.slice(0, 8) },
    'id prefix that matches none': { limit: 50, idPrefix: 'ffffffff-' },
    'created in the last hour': { limit: 50, createdAfter: Date.now() - 3_600_000 },
  }
  const result: Record<string, number> = {}
  for (const [name, query] of Object.entries(queries)) {
    const times: number[] = []
    for (let i = 0; i < 20; i++) {
      const start = performance.now()
      await inspector.listRuns(query)
      times.push(performance.now() - start)
    }
    times.sort((a, b) => a - b)
    result[name] = percentile(times, 50)
  }
  return result
}
