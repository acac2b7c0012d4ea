/**
 * The chaos run on Postgres (see chaos.ts): workers under Bun (src/) and Node (the built dist/),
 * alternating, on one schema; the verdict reads the tables with `pg` directly, never through the
 * code under test.
 */

import { join } from 'node:path'
import pg from 'pg'
import { PostgresStorage } from '../../src/postgres.ts'
import { neverExecuted } from './fixtures/child.ts'
import {
  PG_CHAOS_LEASE_MS,
  PG_CHAOS_RETRY_DELAY_MS,
  PG_CHAOS_SLEEP_MS,
  PG_CHAOS_STEPS,
  pgChaosWorkflow,
} from './fixtures/pg-chaos.mjs'
import type { ChaosBackend, ChaosRecords } from './chaos.ts'
import { FIXTURES, Worker, type AttemptRow, type RunRow, type StepRow } from './harness.ts'

export type Runtime = 'bun' | 'node'

/** The Node binary the Node workers run under (PATH's, or REFLOW_TEST_NODE). */
export const NODE = process.env.REFLOW_TEST_NODE || 'node'

/** Starts `pg-chaos-worker.mjs` under a runtime. */
export function spawnPgWorker(name: string, runtime: Runtime, url: string, logPath: string, env: Record<string, string> = {}): Worker {
  const binary = runtime === 'bun' ? process.execPath : NODE
  return Worker.command(`${name} (${runtime})`, [binary, join(FIXTURES, 'pg-chaos-worker.mjs'), url, logPath], env)
}

/**
 * The Postgres chaos backend on `schema` (fresh: the parent creates the tables). Worker `i` runs
 * under `runtimeOf(i)`.
 */
export function postgresChaos(
  serverUrl: string,
  schema: string,
  logPath: string,
  runtimeOf: (index: number) => Runtime,
): ChaosBackend {
  const url = new URL(serverUrl)
  url.searchParams.set('schema', schema)
  const storage = new PostgresStorage(url.toString(), { maxConnections: 2 })
  const reader = new pg.Client({ connectionString: serverUrl })
  let connected: Promise<unknown> | undefined
  const query = async <T>(text: string): Promise<T[]> => {
    await (connected ??= reader.connect())
    return (await reader.query(text.replaceAll('reflow_', `"${schema}".reflow_`))).rows as T[]
  }
  const steps = () =>
    query<StepRow>(
      `select s.run_id, r.idempotency_key as key, s.name, s.status, s.output_json, s.attempts, s.seq,
         s.created_at_ms::float8 as created_at_ms, s.updated_at_ms::float8 as updated_at_ms
       from reflow_steps s join reflow_runs r on r.id = s.run_id order by s.run_id, s.seq`,
    )
  const attempts = () =>
    query<AttemptRow>(
      `select a.run_id, r.idempotency_key as key, a.step_name, a.attempt, a.status
       from reflow_attempts a join reflow_runs r on r.id = a.run_id order by a.id`,
    )
  const runs = () =>
    query<RunRow>(
      `select id, idempotency_key as key, status, lease_id, heartbeat_at_ms::float8 as heartbeat_at_ms,
         available_at_ms::float8 as available_at_ms, updated_at_ms::float8 as updated_at_ms, finished_at_ms::float8 as finished_at_ms
       from reflow_runs order by created_at_ms, position`,
    )
  return {
    storage,
    workflow: pgChaosWorkflow(neverExecuted),
    steps: PG_CHAOS_STEPS,
    leaseMs: PG_CHAOS_LEASE_MS,
    sleepMs: PG_CHAOS_SLEEP_MS,
    retryDelayMs: PG_CHAOS_RETRY_DELAY_MS,
    exactTimes: false,
    spawn: (index) => spawnPgWorker(`postgres chaos worker ${index}`, runtimeOf(index), url.toString(), logPath),
    recordedSteps: async () => {
      const rows = await query<{ id: string }>(
        `select r.idempotency_key || ' ' || s.name as id from reflow_steps s join reflow_runs r on r.id = s.run_id`,
      )
      return new Set(rows.map((row) => row.id))
    },
    failedSteps: async () => {
      const rows = await query<{ id: string }>(
        `select r.idempotency_key || ' ' || a.step_name as id from reflow_attempts a join reflow_runs r on r.id = a.run_id
         where a.status = 'failed'`,
      )
      return new Set(rows.map((row) => row.id))
    },
    completedRuns: async () =>
      Number((await query<{ n: string }>(`select count(*) as n from reflow_runs where status = 'completed'`))[0]?.n ?? 0),
    records: async (): Promise<ChaosRecords> => ({ runs: await runs(), steps: await steps(), attempts: await attempts() }),
    close: async () => {
      await storage.close()
      if (connected) await reader.end()
    },
  }
}
