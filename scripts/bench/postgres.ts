/**
 * The `postgres` bench section: PostgresStorage against what raw `pg` does on the same tables, on
 * the same server, in the same run. Every measurement gets a fresh schema (reflow's tables created
 * by PostgresStorage.initialize()), dropped afterwards.
 *
 * - floor: the bare skip-locked job queue on reflow's own table shape: N pending runs inserted with
 *   plain SQL, then 16 loops on a pg Pool of 16 connections, each claiming a batch of 16
 *   (`update … where id in (select id … where status = 'pending' and available_at_ms <= now order
 *   by available_at_ms, position limit 16 for update skip locked) returning id`) and completing it
 *   with one more update. Jobs/s from the first claim to the last completion. A second floor completes
 *   each job with an update of its own, as the engine records each run's step: one commit per job.
 * - engine runs: 1-step and 5-step no-op runs, concurrency 16 per engine, one and four worker
 *   processes (postgres-worker.ts, each `createEngine({ storage: new PostgresStorage(url) })`). The
 *   workers start idle; the runs are inserted in one transaction with a notification on the store's
 *   channel, and the clock runs from that commit to the last completion any worker reports.
 *   Statements/run are what the workers' pg clients sent (claims, step writes, notifications).
 * - dispatch: an idle started engine in a worker process; this process enqueues one run at a time
 *   (one every 40-80 ms) and the worker's first step reports enqueue → step start.
 * - events: runs waiting for an event; emits one at a time (every 20-40 ms) from another engine in
 *   this process (its own pool: the wake-up travels by NOTIFY), then from the waiting runs' own
 *   engine: emit → the woken run's next step. Each phase stops after `budgetMs` (and `minSamples`).
 * - idle: a started engine with nothing to do, in a fresh worker process: its CPU and the statements
 *   its pg clients send per second (counted in the client: the server's counters in pg_stat_database
 *   are database-wide, and other sessions share the database).
 */

import path from 'node:path'
import pg from 'pg'
import { createEngine, createWorkflow, defineEvent } from '../../src/index.ts'
import { PostgresStorage } from '../../src/postgres.ts'
import { redact } from '../../src/storage/postgres/storage.ts'
import type { StandardSchemaV1 } from '../../src/workflow/schema.ts'
import { WORKFLOW, noopWorkflow, type Engine } from './engine-runs.ts'
import { anyInput, epochMs, percentile, sleepMs } from './harness.ts'

export const DEFAULT_POSTGRES_URL = process.env.REFLOW_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test'

// Schemas.

const made = new Set<string>()

/** A schema no other bench run or test suite uses. */
function freshSchema(): string {
  const schema = `reflow_bench_${process.pid}_${made.size}_${Math.random().toString(36).slice(2, 8)}`
  made.add(schema)
  return schema
}

function withSchema(url: string, schema: string): string {
  const u = new URL(url)
  u.searchParams.set('schema', schema)
  return u.toString()
}

function withoutSchema(url: string): string {
  const u = new URL(url)
  u.searchParams.delete('schema')
  return u.toString()
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: withoutSchema(url) })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/** A fresh schema with reflow's tables, made by PostgresStorage itself. */
async function tables(url: string): Promise<{ schema: string; url: string; q: string }> {
  const schema = freshSchema()
  const storage = new PostgresStorage(withSchema(url, schema))
  await storage.initialize()
  await storage.close()
  return { schema, url: withSchema(url, schema), q: `"${schema}"` }
}

async function dropSchema(url: string, schema: string): Promise<void> {
  await withClient(url, (c) => c.query(`drop schema if exists "${schema}" cascade`))
  made.delete(schema)
}

/** Drops every schema this process made that is still there (after a failure). */
export async function dropPostgresSchemas(url: string): Promise<void> {
  if (made.size === 0) return
  const schemas = [...made]
  made.clear()
  await withClient(url, (c) => c.query(schemas.map((s) => `drop schema if exists "${s}" cascade`).join('; '))).catch(() => {})
}

/** The server's version and the settings that bound commit latency. */
export async function postgresSettings(url: string): Promise<{ version: string; synchronousCommit: string; maxConnections: number }> {
  return withClient(url, async (c) => {
    const { rows } = await c.query(`select current_setting('server_version') as version, current_setting('synchronous_commit') as sync,
      current_setting('max_connections')::integer as max`)
    return { version: rows[0].version, synchronousCommit: rows[0].sync, maxConnections: rows[0].max }
  })
}

export { redact }

const SERVER_NOW = `(extract(epoch from now()) * 1000)::bigint`

/** `count` pending runs of the bench workflow, due now on the server's clock, in one statement of `client`'s transaction. */
function insertRuns(client: pg.Client | pg.PoolClient, q: string, count: number, firstStep = 's0') {
  return client.query(
    `insert into ${q}.reflow_runs (id, workflow, status, input_json, created_at_ms, updated_at_ms, available_at_ms, current_step)
     select 'bench-' || g, $1, 'pending', '{"i":' || g || '}', ${SERVER_NOW}, ${SERVER_NOW}, ${SERVER_NOW}, $3
     from generate_series(1, $2::integer) g`,
    [WORKFLOW, count, firstStep],
  )
}

// Child processes.

interface Child {
  proc: ReturnType<typeof Bun.spawn>
  /** Resolves with the next line that starts with `prefix`. */
  next(prefix: string, timeoutMs?: number): Promise<string>
  onLine(listener: (line: string) => void): void
  /** SIGTERM, then its `cpu` line (µs of CPU since it was ready) and its statements by kind. */
  stop(): Promise<{ cpuMicros: number; kinds: Record<string, number> }>
}

function spawnWorker(args: string[]): Child {
  const proc = Bun.spawn(['bun', path.join(import.meta.dir, 'postgres-worker.ts'), ...args], { stdout: 'pipe', stderr: 'inherit' })
  const listeners: Array<(line: string) => void> = []
  const waiting: Array<{ prefix: string; resolve: (line: string) => void }> = []
  let exited = false
  void (async () => {
    const decoder = new TextDecoder()
    let buffered = ''
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true })
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        const w = waiting.findIndex((x) => line.startsWith(x.prefix))
        if (w >= 0) waiting.splice(w, 1)[0]!.resolve(line)
        for (const l of listeners) l(line)
      }
    }
    exited = true
  })()
  return {
    proc,
    next(prefix, timeoutMs = 30_000) {
      return new Promise<string>((resolve, reject) => {
        if (exited) return reject(new Error(`postgres-worker ${args[0]} exited before "${prefix}"`))
        const timer = setTimeout(() => reject(new Error(`postgres-worker ${args[0]}: no "${prefix}" within ${timeoutMs} ms`)), timeoutMs)
        waiting.push({ prefix, resolve: (line) => (clearTimeout(timer), resolve(line)) })
        void proc.exited.then(() => setTimeout(() => reject(new Error(`postgres-worker ${args[0]} exited before "${prefix}"`)), 100))
      })
    },
    onLine(listener) {
      listeners.push(listener)
    },
    async stop() {
      const kinds = this.next('k ', 30_000)
      const cpu = this.next('cpu ', 30_000)
      proc.kill('SIGTERM')
      const [k, line] = await Promise.all([kinds, cpu])
      await proc.exited
      return { cpuMicros: Number(line.split(' ')[1]), kinds: JSON.parse(k.slice(2)) as Record<string, number> }
    },
  }
}

function killAll(children: readonly Child[]): void {
  for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL')
}

// The floor.

export interface PgFloorResult {
  jobs: number
  jobsPerSec: number
  elapsedMs: number
  /** Claim statements that found work, per job: 1/16 when every batch is full. */
  claimsPerJob: number
}

/**
 * Claim-then-complete with skip locked, `loops` loops of batches of `batch` on a pool of `loops`
 * connections. `each`: every job of a batch completed by a statement (and commit) of its own, as
 * the engine records a run's step, instead of one update for the batch.
 */
export async function pgClaimCompleteFloor(url: string, jobs: number, options: { loops?: number; batch?: number; each?: boolean } = {}): Promise<PgFloorResult> {
  const { loops = 16, batch = 16, each = false } = options
  const t = await tables(url)
  const pool = new pg.Pool({ connectionString: withoutSchema(url), max: loops })
  try {
    await withClient(url, async (c) => {
      await insertRuns(c, t.q, jobs)
      await c.query(`analyze ${t.q}.reflow_runs`)
    })
    // Every connection open before the clock starts.
    const clients = await Promise.all(Array.from({ length: loops }, () => pool.connect()))
    for (const c of clients) c.release()
    const claim = `update ${t.q}.reflow_runs set status = 'running', lease_id = gen_random_uuid()::text, lease_owner = 'floor',
      available_at_ms = ${SERVER_NOW} + 30000, heartbeat_at_ms = ${SERVER_NOW}, updated_at_ms = ${SERVER_NOW}, started_at_ms = ${SERVER_NOW}
      where id in (select id from ${t.q}.reflow_runs where status = 'pending' and available_at_ms <= ${SERVER_NOW}
        order by available_at_ms, position limit ${batch} for update skip locked)
      returning id`
    const complete = `update ${t.q}.reflow_runs set status = 'completed', lease_id = null, available_at_ms = null,
      finished_at_ms = ${SERVER_NOW}, updated_at_ms = ${SERVER_NOW}
      where id = any($1::text[]) and status = 'running'`
    const completeOne = `update ${t.q}.reflow_runs set status = 'completed', lease_id = null, available_at_ms = null,
      finished_at_ms = ${SERVER_NOW}, updated_at_ms = ${SERVER_NOW}
      where id = $1 and status = 'running'`
    let done = 0
    let claims = 0
    const start = performance.now()
    let end = start
    await Promise.all(
      Array.from({ length: loops }, async () => {
        for (;;) {
          const { rows } = await pool.query(claim)
          if (rows.length === 0) return
          claims++
          if (each) for (const row of rows) await pool.query(completeOne, [row.id])
          else await pool.query(complete, [rows.map((r) => r.id)])
          done += rows.length
          end = performance.now()
        }
      }),
    )
    if (done !== jobs) throw new Error(`postgres floor: completed ${done} of ${jobs} jobs`)
    return { jobs, jobsPerSec: jobs / ((end - start) / 1000), elapsedMs: end - start, claimsPerJob: claims / jobs }
  } finally {
    await pool.end()
    await dropSchema(url, t.schema)
  }
}

// Engine runs.

export interface PgRunsResult {
  runs: number
  workers: number
  runsPerSec: number
  elapsedMs: number
  /** Statements the workers' pg clients sent per run (claims, step writes, notifications). */
  statementsPerRun: number
  /** The workers' CPU over the measurement, summed, as a share of one core. */
  workerCpuPercent: number
  /** statementsPerRun by kind of statement (its first words). */
  statementsPerRunByKind: Record<string, number>
}

/** `runs` runs of a `steps`-step no-op workflow through `workers` worker processes at `concurrency` each. */
export async function measurePgRuns(url: string, options: { steps: number; workers: number; concurrency: number; runs: number }): Promise<PgRunsResult> {
  const { steps, workers, concurrency, runs } = options
  const t = await tables(url)
  const children: Child[] = []
  try {
    for (let w = 0; w < workers; w++) children.push(spawnWorker(['run', t.url, String(steps), String(concurrency)]))
    await Promise.all(children.map((c) => c.next('ready', 60_000)))
    const progress = children.map(() => ({ completed: 0, lastAt: 0, statements: 0 }))
    let allDone!: () => void
    const finished = new Promise<void>((resolve) => (allDone = resolve))
    children.forEach((child, i) =>
      child.onLine((line) => {
        if (!line.startsWith('c ')) return
        const [, completed, lastAt, statements] = line.split(' ').map(Number)
        progress[i] = { completed: completed!, lastAt: lastAt!, statements: statements! }
        if (progress.reduce((n, p) => n + p.completed, 0) >= runs) allDone()
      }),
    )
    let t0 = 0
    await withClient(url, async (c) => {
      await c.query('begin')
      await insertRuns(c, t.q, runs)
      // What every store's createRun sends after a commit: the workers' listeners wake their engines.
      await c.query('select pg_notify($1, $2)', [`reflow ${t.schema}`, 'bench'])
      t0 = epochMs()
      await c.query('commit')
    })
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(60_000, runs * steps * 5))))
    const outcome = await Promise.race([finished, timeout])
    clearTimeout(timer)
    if (outcome === 'timeout') throw new Error(`postgres runs: ${progress.reduce((n, p) => n + p.completed, 0)} of ${runs} completed before the timeout`)
    const end = Math.max(...progress.map((p) => p.lastAt))
    const elapsedMs = end - t0
    const stopped = await Promise.all(children.map((c) => c.stop()))
    const cpuMicros = stopped.reduce((n, s) => n + s.cpuMicros, 0)
    const byKind: Record<string, number> = {}
    for (const { kinds } of stopped) for (const [kind, n] of Object.entries(kinds)) byKind[kind] = (byKind[kind] ?? 0) + n / runs
    const statements = progress.reduce((n, p) => n + p.statements, 0)
    const check = await withClient(url, (c) => c.query(`select count(*)::integer as n from ${t.q}.reflow_runs where status = 'completed'`))
    if (check.rows[0].n !== runs) throw new Error(`postgres runs: ${check.rows[0].n} of ${runs} runs completed in the database`)
    return {
      runs,
      workers,
      runsPerSec: runs / (elapsedMs / 1000),
      elapsedMs,
      statementsPerRun: statements / runs,
      // CPU is counted from each worker's ready to its stop: a little idle time on either side.
      workerCpuPercent: (cpuMicros / 1000 / elapsedMs) * 100,
      statementsPerRunByKind: byKind,
    }
  } finally {
    killAll(children)
    await dropSchema(url, t.schema)
  }
}

// Dispatch.

export interface PgLatency {
  samples: number
  p50Ms: number
  p99Ms: number
}

function latency(values: number[]): PgLatency {
  const sorted = [...values].sort((a, b) => a - b)
  return { samples: sorted.length, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) }
}

/** Enqueue (this process) → first step start (a started idle engine in a worker process), one run every `gapMs` to 2 × `gapMs`. */
export async function pgCrossProcessDispatch(url: string, samples: number, gapMs = 40): Promise<PgLatency & { cpuPercent: number }> {
  const t = await tables(url)
  const child = spawnWorker(['dispatch', t.url])
  const storage = new PostgresStorage(t.url)
  try {
    await child.next('ready', 60_000)
    await storage.initialize()
    const engine = createEngine({ storage, workflows: [noopWorkflow(1)] }) as unknown as Engine
    // One unmeasured run first: the worker's first claim plans its statements.
    await engine.enqueue(WORKFLOW, { i: -1, t: epochMs() })
    await child.next('s ', 10_000)
    const latencies: number[] = []
    const wall0 = performance.now()
    for (let i = 0; i < samples; i++) {
      await sleepMs(gapMs + Math.random() * gapMs)
      const started = child.next('s ', 10_000)
      await engine.enqueue(WORKFLOW, { i, t: epochMs() })
      latencies.push(Number((await started).split(' ')[1]))
    }
    const wallMs = performance.now() - wall0
    const { cpuMicros } = await child.stop()
    return { ...latency(latencies), cpuPercent: (cpuMicros / 1000 / wallMs) * 100 }
  } finally {
    killAll([child])
    await storage.close()
    await dropSchema(url, t.schema)
  }
}

// Events.

const tickSchema: StandardSchemaV1<unknown, { t: number }> = {
  '~standard': { version: 1, vendor: 'bench', validate: (value) => ({ value: value as { t: number } }) },
}
const tick = defineEvent('bench.tick', tickSchema)

/**
 * `samples` runs waiting for an event each; emits, one every `gapMs` to 2 × `gapMs`: emit → the
 * woken run's next step. First from another engine on its own storage (the waiting runs' engine
 * hears of it by NOTIFY), then from the waiting runs' own engine.
 */
export async function pgEventLatency(
  url: string,
  samples: number,
  options: { gapMs?: number; budgetMs?: number; minSamples?: number } = {},
): Promise<{ other: PgLatency; same: PgLatency }> {
  const { gapMs = 20, budgetMs = 5_000, minSamples = 10 } = options
  const t = await tables(url)
  let onMark: ((ms: number) => void) | undefined
  const waiter = createWorkflow({ name: 'waiter', input: anyInput })
    .waitForEvent('e', tick, { key: ({ input }) => `k${input.i}` })
    .step('mark', ({ prev }) => onMark?.(epochMs() - prev.t))
  const storage = new PostgresStorage(t.url)
  const emitterStorage = new PostgresStorage(t.url)
  try {
    const engine = createEngine({ storage, workflows: [waiter], concurrency: 16 })
    await engine.start()
    await emitterStorage.initialize()
    const emitter = createEngine({ storage: emitterStorage, workflows: [] })
    const total = samples * 2
    for (let i = 0; i < total; i += 500) {
      await Promise.all(Array.from({ length: Math.min(500, total - i) }, (_, j) => engine.enqueue('waiter', { i: i + j })))
    }
    await withClient(url, async (c) => {
      const deadline = performance.now() + 60_000
      while (Number((await c.query(`select count(*) as n from ${t.q}.reflow_runs where status = 'waiting'`)).rows[0].n) < total) {
        if (performance.now() > deadline) throw new Error('postgres events: the runs did not all park')
        await sleepMs(20)
      }
    })
    const measure = async (by: { emit: typeof engine.emit }, first: number): Promise<PgLatency> => {
      const latencies: number[] = []
      const until = performance.now() + budgetMs
      // At least `minSamples`, then as many as fit in the budget: a wake-up that waits for the poll
      // (1 s) must not stretch the section to minutes.
      for (let i = 0; i < samples && (i < minSamples || performance.now() < until); i++) {
        await sleepMs(gapMs + Math.random() * gapMs)
        const marked = new Promise<number>((resolve) => (onMark = resolve))
        await by.emit(tick, { key: `k${first + i}`, payload: { t: epochMs() } })
        latencies.push(await marked)
      }
      return latency(latencies)
    }
    const other = await measure(emitter, 0)
    const same = await measure(engine, samples)
    await engine.stop()
    return { other, same }
  } finally {
    await storage.close()
    await emitterStorage.close()
    await dropSchema(url, t.schema)
  }
}

// Idle.

export interface PgIdleResult {
  cpuPercent: number
  statementsPerSec: number
  seconds: number
  /** Statements sent over `seconds` by kind (their first words). */
  statementsByKind: Record<string, number>
}

/** A started engine with nothing to do, in a fresh worker process, over `seconds`. */
export async function pgIdle(url: string, seconds: number, parked = 0, waitFor: 'sleep' | 'event' = 'sleep'): Promise<PgIdleResult> {
  const t = await tables(url)
  const child = spawnWorker(['idle', t.url, String(seconds), String(parked), waitFor])
  try {
    const line = await child.next('{', 60_000 + seconds * 1000)
    const r = JSON.parse(line) as { cpuPercent: number; statements: number; seconds: number; kinds: Record<string, number> }
    return { cpuPercent: r.cpuPercent, statementsPerSec: r.statements / r.seconds, seconds: r.seconds, statementsByKind: r.kinds }
  } finally {
    killAll([child])
    await dropSchema(url, t.schema)
  }
}
