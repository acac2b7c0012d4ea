/**
 * SQLiteStorage: the public object behind `reflow-ts/sqlite-bun` and `reflow-ts/sqlite-node`. The
 * engine works through its store (store.ts, reached by the STORE symbol); the spec's StorageAdapter
 * methods are here too, for code that drives storage by hand, implemented on the same statements.
 * The runtime entries (sqlite-bun.ts, sqlite-node.ts) supply the driver.
 */

import { SystemClock, type Clock } from '../../core/clock.ts'
import { InvalidArgumentError } from '../../core/errors.ts'
import { jsonTextOf } from '../../core/json.ts'
import { RunStatuses, TERMINAL_STATUSES, workflowRunOf, type ClaimedRun, type CreateRunResult, type RunStatus, type StepResult, type WorkflowRun } from '../../core/types.ts'
import type { StorageAdapter } from '../adapter.ts'
import { describeOwner, STORE, type Store } from '../store.ts'
import { SqliteConnection } from './connection.ts'
import type { SqliteOpener, SqliteStatement } from './driver.ts'
import * as q from './queries.ts'
import { SQLiteStore, stepValues } from './store.ts'
import { claimPublicRun, createPublicRun } from '../public-records.ts'

export interface SQLiteStorageOptions {
  /** Stamps the StorageAdapter methods' writes; the engine passes its own time to the store. Default: SystemClock. */
  clock?: Clock
  /**
   * 'normal' (default): with WAL, committed work survives a process crash. 'full': it also survives
   * power loss, at the cost of an fsync per commit.
   */
  synchronous?: 'normal' | 'full'
  /** How long to wait for another connection's lock before failing. Default: 5000. */
  busyTimeoutMs?: number
  /** Open without write access: the file must exist and is never created, migrated or modified. */
  readonly?: boolean
}


/** StorageAdapter on one SQLite file; bound to a runtime's SQLite module by the entry files. */
export class SQLiteStorageCore implements StorageAdapter {
  readonly path: string
  private readonly clock: Clock
  /** @internal */
  readonly connection: SqliteConnection
  private readonly store: SQLiteStore
  private readonly owner = describeOwner()

  constructor(path: string, open: SqliteOpener, options: SQLiteStorageOptions = {}) {
    this.clock = options.clock ?? SystemClock
    this.connection = new SqliteConnection(path, open, options, () => this.clock.now())
    this.path = path
    this.store = new SQLiteStore(this.connection)
  }

  /** @internal */
  [STORE](): Store {
    return this.store
  }

  /** How many write transactions (group commits) this instance has committed; initialisation excluded. */
  get transactionCount(): number {
    return this.connection.transactionCount
  }

  async initialize(): Promise<void> {
    this.connection.ready()
  }

  async createRun(run: WorkflowRun): Promise<CreateRunResult> {
    return createPublicRun(this.store, run, this.clock.now())
  }

  async claimNextRun(workflowNames: readonly string[], staleBefore?: number): Promise<ClaimedRun | null> {
    return claimPublicRun(this.store, workflowNames, staleBefore, this.clock.now(), this.owner)
  }

  async heartbeatRun(runId: string, leaseId: string): Promise<boolean> {
    return this.connection.write(`Renewing the lease on run ${runId}`, () => {
      const now = this.clock.now()
      return this.connection.stmt(q.heartbeatKeepingLength).run(now, now, now, runId, leaseId).changes === 1
    })
  }

  async getRun(runId: string): Promise<WorkflowRun | null> {
    const run = await this.store.getRun(runId)
    return run ? workflowRunOf(run) : null
  }

  async getStepResults(runId: string): Promise<StepResult[]> {
    return this.store.getSteps(runId)
  }

  async saveStepResult(result: StepResult, leaseId?: string): Promise<boolean> {
    const outputJson = jsonTextOf(result, result.output, `Output of step "${result.name}"`)
    const step = { ...result, outputJson, startedAt: result.createdAt, endedAt: result.updatedAt }
    return this.connection.write(`Saving step "${result.name}" of run ${result.runId}`, () => {
      const values = stepValues(result.runId, step)
      if (leaseId === undefined) return this.connection.stmt(q.upsertStepIfRunExists).run(...values, result.runId).changes === 1
      if (this.connection.stmt(q.touchRun).run(this.clock.now(), result.runId, leaseId).changes !== 1) return false
      this.connection.stmt(q.upsertStep).run(...values)
      return true
    })
  }

  async updateRunStatus(runId: string, status: RunStatus): Promise<boolean> {
    assertRunStatus(status)
    return this.connection.write(`Setting run ${runId} to ${status}`, () => {
      const now = this.clock.now()
      const terminal = TERMINAL_STATUSES.includes(status)
      // Due now when pending; running without a lease, its (absent) lease counts as expired now.
      const availableAt = terminal ? null : now
      return this.connection.stmt(q.setRunStatus).run(status, availableAt, terminal ? now : null, now, runId).changes === 1
    })
  }

  async updateClaimedRunStatus(runId: string, leaseId: string, status: RunStatus): Promise<boolean> {
    assertRunStatus(status)
    return this.connection.write(`Setting run ${runId} to ${status}`, () => {
      const now = this.clock.now()
      if (status === 'running') return this.connection.stmt(q.touchRun).run(now, runId, leaseId).changes === 1
      const terminal = TERMINAL_STATUSES.includes(status)
      return this.connection.stmt(q.setClaimedRunStatus).run(status, null, status === 'pending' ? now : null, terminal ? now : null, now, runId, leaseId)
        .changes === 1
    })
  }

  /** Moves a failed or cancelled run back to pending; it resumes at the step that failed. */
  async retryRun(runId: string): Promise<boolean> {
    return this.store.retry(runId, this.clock.now())
  }

  /**
   * For reflow's own SQLite-only tools (storage/sqlite/vacuum.ts) and tests, not for applications: runs `fn` over this
   * connection's cached statements once the file is open and validated, as a read, or as one
   * operation of a write transaction (refused when opened readonly).
   * @internal
   */
  async withStatements<T>(what: string, mode: 'read' | 'write', fn: (stmt: (sql: string) => SqliteStatement) => T): Promise<T> {
    const run = () => fn((sql) => this.connection.stmt(sql))
    return mode === 'read' ? this.connection.read(what, run) : this.connection.write(what, run)
  }

  /** Releases the database file. Further calls fail. */
  close(): void {
    this.connection.close()
  }
}

function assertRunStatus(status: RunStatus): void {
  if (!Object.hasOwn(RunStatuses, status)) {
    const expected = Object.values(RunStatuses).join(', ')
    throw new InvalidArgumentError(`Run status must be one of ${expected}, got ${JSON.stringify(status)}`)
  }
}
