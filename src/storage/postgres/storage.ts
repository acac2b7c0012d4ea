/**
 * PostgresStorage: the public object behind `reflow-ts/postgres`. The engine works through its
 * store (store.ts, reached by the STORE symbol); the spec's StorageAdapter methods are here too, for
 * code that drives storage by hand. The entry file (src/postgres.ts) supplies the `pg` module.
 */

import { SystemClock, type Clock } from '../../core/clock.ts'
import { InvalidArgumentError } from '../../core/errors.ts'
import { jsonTextOf } from '../../core/json.ts'
import { RunStatuses, TERMINAL_STATUSES, workflowRunOf, type ClaimedRun, type CreateRunResult, type RunStatus, type StepResult, type WorkflowRun } from '../../core/types.ts'
import type { StorageAdapter } from '../adapter.ts'
import { claimPublicRun, createPublicRun } from '../public-records.ts'
import { describeOwner, STORE, type Store } from '../store.ts'
import { PostgresConnection, type PgModule, type PgPool } from './connection.ts'
import * as q from './queries.ts'
import type { ClockSource } from './sql.ts'
import { PostgresStore } from './store.ts'
import { stepValues } from './values.ts'

export type { PgPool }

export interface PostgresStorageOptions {
  /** The schema reflow's tables live in (created if missing). Default: the URL's `schema` parameter, else `reflow`. */
  schema?: string
  /**
   * Whose clock judges due times (sleeps, delays, backoffs) and lease expiry. 'database' (default):
   * the server's, so machines whose clocks disagree still agree on every deadline. 'engine': the
   * engine's Clock, as on SQLite: for tests that drive time with a ManualClock.
   */
  timeSource?: ClockSource
  /** Stamps the StorageAdapter methods' writes on the 'engine' time source. Default: SystemClock. */
  clock?: Clock
  /** Connections in the pool reflow makes from a URL (not used with your own pool). Default: 10. */
  maxConnections?: number
  /** Every statement runs in a read-only transaction: nothing is created, migrated or written. */
  readonly?: boolean
  /**
   * Named prepared statements: each statement is parsed and planned once per connection (a step's
   * record costs the server about 40% less). Default: true; a pooler that refuses them (PgBouncer
   * in transaction mode without `max_prepared_statements`) turns them off by itself at the first
   * refusal. Pass false to never send them.
   */
  preparedStatements?: boolean
}

export interface PostgresPoolOptions extends PostgresStorageOptions {
  /** Your own `pg` Pool; reflow never ends it. One of its connections is held for change notifications. */
  pool: PgPool
}

/** Splits reflow's own `schema` parameter off a connection string. */
export function parsePostgresUrl(url: string): { url: string; schema: string | undefined } {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new InvalidArgumentError(`Not a Postgres connection string: ${JSON.stringify(redact(url))} (expected postgres://user@host:5432/database)`)
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new InvalidArgumentError(`Not a Postgres connection string: ${JSON.stringify(redact(url))} (expected postgres:// or postgresql://)`)
  }
  const schema = parsed.searchParams.get('schema') ?? undefined
  parsed.searchParams.delete('schema')
  return { url: parsed.toString(), schema }
}

/** A connection string without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@')
}

/** StorageAdapter on a Postgres database; bound to the `pg` module by the entry file. */
export class PostgresStorageCore implements StorageAdapter {
  /** Where the tables are, for messages: the connection string without its password, and the schema. */
  readonly location: string
  readonly schema: string
  readonly #clock: Clock
  readonly #connection: PostgresConnection
  readonly #store: PostgresStore
  readonly #owner = describeOwner()

  constructor(target: string | PostgresPoolOptions, options: PostgresStorageOptions, pg: PgModule) {
    const fromUrl = typeof target === 'string' ? parsePostgresUrl(target) : undefined
    const all = typeof target === 'string' ? options : { ...target, ...options }
    if (fromUrl?.schema !== undefined && all.schema !== undefined && fromUrl.schema !== all.schema) {
      throw new InvalidArgumentError(`Two schemas given: "${fromUrl.schema}" in the URL and "${all.schema}" in the options`)
    }
    this.schema = all.schema ?? fromUrl?.schema ?? 'reflow'
    const timeSource = all.timeSource ?? 'database'
    if (timeSource !== 'database' && timeSource !== 'engine') {
      throw new InvalidArgumentError(`timeSource must be 'database' or 'engine', got ${JSON.stringify(timeSource)}`)
    }
    const maxConnections = all.maxConnections ?? 10
    if (!Number.isInteger(maxConnections) || maxConnections < 2) {
      throw new InvalidArgumentError(`maxConnections must be an integer of at least 2, got ${String(maxConnections)}`)
    }
    this.#clock = all.clock ?? SystemClock
    this.location = `${fromUrl ? redact(fromUrl.url) : 'your pool'} (schema ${this.schema})`
    this.#connection = new PostgresConnection(
      pg,
      fromUrl ? { url: fromUrl.url } : { pool: (target as PostgresPoolOptions).pool },
      { schema: this.schema, clock: timeSource, readonly: all.readonly ?? false, maxConnections, preparedStatements: all.preparedStatements ?? true },
    )
    this.#store = new PostgresStore(this.#connection)
  }

  /** @internal */
  [STORE](): Store {
    return this.#store
  }

  async initialize(): Promise<void> {
    await this.#store.initialize()
  }

  async createRun(run: WorkflowRun): Promise<CreateRunResult> {
    return createPublicRun(this.#store, run, this.#clock.now())
  }

  async claimNextRun(workflowNames: readonly string[], staleBefore?: number): Promise<ClaimedRun | null> {
    return claimPublicRun(this.#store, workflowNames, staleBefore, this.#clock.now(), this.#owner)
  }

  async heartbeatRun(runId: string, leaseId: string): Promise<boolean> {
    const result = await this.#connection.query(`Renewing the lease on run ${runId}`, q.heartbeatKeepingLength, { runId, leaseId, now: this.#clock.now() })
    return result.rowCount === 1
  }

  async getRun(runId: string): Promise<WorkflowRun | null> {
    const run = await this.#store.getRun(runId)
    return run ? workflowRunOf(run) : null
  }

  async getStepResults(runId: string): Promise<StepResult[]> {
    return this.#store.getSteps(runId)
  }

  async saveStepResult(result: StepResult, leaseId?: string): Promise<boolean> {
    const outputJson = jsonTextOf(result, result.output, `Output of step "${result.name}"`)
    const values = {
      ...stepValues({ ...result, outputJson, startedAt: result.createdAt, endedAt: result.updatedAt }),
      runId: result.runId,
      now: this.#clock.now(),
    }
    const what = `Saving step "${result.name}" of run ${result.runId}`
    const saved = leaseId === undefined
      ? await this.#connection.query(what, q.saveStep, values)
      : await this.#connection.query(what, q.saveStepUnderLease, { ...values, leaseId })
    return saved.rowCount === 1
  }

  async updateRunStatus(runId: string, status: RunStatus): Promise<boolean> {
    assertRunStatus(status)
    const terminal = TERMINAL_STATUSES.includes(status)
    const result = await this.#connection.query(`Setting run ${runId} to ${status}`, q.setRunStatus, { runId, status, terminal, now: this.#clock.now() })
    if (result.rowCount === 1) this.#connection.notifyChanged()
    return result.rowCount === 1
  }

  async updateClaimedRunStatus(runId: string, leaseId: string, status: RunStatus): Promise<boolean> {
    assertRunStatus(status)
    const now = this.#clock.now()
    const what = `Setting run ${runId} to ${status}`
    if (status === 'running') return (await this.#connection.query(what, q.touchRun, { runId, leaseId, now })).rowCount === 1
    const terminal = TERMINAL_STATUSES.includes(status)
    const result = await this.#connection.query(what, q.setClaimedRunStatus, { runId, leaseId, status, terminal, now })
    if (result.rowCount === 1) this.#connection.notifyChanged()
    return result.rowCount === 1
  }

  /** Moves a failed or cancelled run back to pending; it resumes at the step that failed. */
  async retryRun(runId: string): Promise<boolean> {
    return this.#store.retry(runId, this.#clock.now())
  }

  /** Closes reflow's connections (the pool it made, or the connection it held from yours). Further calls fail. */
  close(): Promise<void> {
    return this.#connection.close()
  }
}

function assertRunStatus(status: RunStatus): void {
  if (!Object.hasOwn(RunStatuses, status)) {
    const expected = Object.values(RunStatuses).join(', ')
    throw new InvalidArgumentError(`Run status must be one of ${expected}, got ${JSON.stringify(status)}`)
  }
}
