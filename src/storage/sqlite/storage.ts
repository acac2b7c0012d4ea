/**
 * SQLite storage over a SqliteDriver: one file, WAL mode, every SQL statement from queries.ts,
 * prepared once per connection. The runtime entries (sqlite-bun.ts, sqlite-node.ts) supply the driver.
 *
 * Every write goes through group commit (group-commit.ts): writes issued in the same turn share one
 * `begin immediate` transaction, and each promise settles only after that transaction's COMMIT.
 * Claims take the same path, so their transaction is the batch's. Reads bypass the queue and see
 * every write whose promise has resolved. `close()` flushes the queue synchronously, then closes.
 *
 * Claims: with no write queued, a read first decides whether anything is claimable, so an engine
 * with nothing to do never takes the write lock. A claim runs one `update … returning` per run (the
 * oldest pending one, through the status index) and loads steps only for runs that have some.
 * Change detection for idle engines: `dataVersion()` is SQLite's `data_version` (it moves only when
 * another connection commits) and `watchChanges()` a file-system watch on the WAL file.
 */

import { existsSync, watch } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { StorageAdapter, StorageAdapterExtensions } from '../adapter.ts'
import { SystemClock, type Clock } from '../../core/clock.ts'
import { InvalidArgumentError, ReflowError, StorageError } from '../../core/errors.ts'
import { deserialize, errorMessage, hasJsonText, jsonTextOf } from '../../core/json.ts'
import {
  RunStatuses,
  TERMINAL_STATUSES,
  type ClaimedRun,
  type CreateRunResult,
  type RunStatus,
  type StepResult,
  type WorkflowRun,
} from '../../core/types.ts'
import type { SqlValue, SqliteDriver, SqliteOpener, SqliteStatement } from './driver.ts'
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from './migrations.ts'
import { GroupCommit } from './group-commit.ts'
import * as q from './queries.ts'
import { toClaimed, toRun, toStep } from './rows.ts'

export interface SQLiteStorageOptions {
  /** Stamps claims, heartbeats and status changes. Default: SystemClock. */
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

const MEMORY = ':memory:'

interface ClaimSql {
  claimNext: string
  pending: string
  stale: string
  exists: string
}

/** StorageAdapter on one SQLite file; bound to a runtime's SQLite module by the entry files. */
export class SQLiteStorageCore implements StorageAdapter, StorageAdapterExtensions {
  readonly path: string
  private readonly clock: Clock
  private readonly synchronous: 'normal' | 'full'
  private readonly busyTimeoutMs: number
  private readonly readonly: boolean
  private driver: SqliteDriver | null
  private readonly statements = new Map<string, SqliteStatement>()
  private initialized = false
  private refusal: StorageError | null = null
  private readonly writes = new GroupCommit({
    begin: () => this.stmt(q.beginImmediate).run(),
    commit: () => this.stmt(q.commit).run(),
    rollback: () => this.rollbackQuietly(),
    wrap: (what, error) => this.wrap(what, error),
  })
  private readonly claimSqlByCount = new Map<number, ClaimSql>()
  private readonly stepsSqlByCount = new Map<number, string>()

  constructor(path: string, open: SqliteOpener, options: SQLiteStorageOptions = {}) {
    if (typeof path !== 'string' || path === '') {
      throw new InvalidArgumentError(`SQLiteStorage path must be a file path or ":memory:", got ${JSON.stringify(path)}`)
    }
    const { clock = SystemClock, synchronous = 'normal', busyTimeoutMs = 5000, readonly = false } = options
    if (synchronous !== 'normal' && synchronous !== 'full') {
      throw new InvalidArgumentError(`synchronous must be "normal" or "full", got ${JSON.stringify(synchronous)}`)
    }
    if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
      throw new InvalidArgumentError(`busyTimeoutMs must be a non-negative integer, got ${String(busyTimeoutMs)}`)
    }
    this.path = path
    this.clock = clock
    this.synchronous = synchronous
    this.busyTimeoutMs = busyTimeoutMs
    this.readonly = readonly
    if (path !== MEMORY) {
      const dir = dirname(resolve(path))
      if (!existsSync(dir)) throw new StorageError(`Cannot open database "${path}": directory "${dir}" does not exist`)
      if (readonly && !existsSync(path)) throw new StorageError(`Database "${path}" does not exist`)
    }
    try {
      this.driver = open(path, { readonly })
    } catch (error) {
      throw new StorageError(`Cannot open database "${path}": ${errorMessage(error)}`, { cause: error })
    }
  }

  /** How many write transactions (group commits) this instance has committed; initialisation excluded. */
  get transactionCount(): number {
    return this.writes.transactionCount
  }

  async initialize(): Promise<void> {
    this.ready()
  }

  async createRun(run: WorkflowRun): Promise<CreateRunResult> {
    const inputJson = jsonTextOf(run, run.input, `Input of workflow "${run.workflow}"`)
    // Input the engine serialised moments ago is already its own round trip: no need to parse it back.
    const input = hasJsonText(run) ? run.input : undefined
    return this.enqueue(`Creating run ${run.id}`, () => {
      const key = run.idempotencyKey ?? null
      const { changes } = this.stmt(q.insertRun).run(run.id, run.workflow, inputJson, key, run.createdAt, run.updatedAt)
      if (changes === 1) {
        const created: WorkflowRun = {
          id: run.id,
          workflow: run.workflow,
          input: input ?? deserialize(inputJson),
          status: RunStatuses.pending,
          idempotencyKey: key,
          createdAt: run.createdAt,
          updatedAt: run.updatedAt,
        }
        return { run: created, created: true }
      }
      const existing = this.stmt(q.selectRunByIdempotencyKey).get(run.workflow, key)
      if (!existing) throw new StorageError(`Run ${run.id} was neither inserted nor found by its idempotency key`)
      return { run: toRun(existing), created: false }
    })
  }

  async claimNextRun(workflowNames: readonly string[], staleBefore?: number): Promise<ClaimedRun | null> {
    const [run] = await this.claimRuns(workflowNames, staleBefore, 1)
    return run ?? null
  }

  async claimRuns(workflowNames: readonly string[], staleBefore: number | undefined, limit: number): Promise<ClaimedRun[]> {
    if (!Number.isInteger(limit) || limit < 0) {
      throw new InvalidArgumentError(`claimRuns limit must be a non-negative integer, got ${String(limit)}`)
    }
    if (workflowNames.length === 0 || limit === 0) return this.read('Claiming runs', () => [])
    const names = [...workflowNames]
    const sql = this.claimSql(names.length)
    const stale = staleBefore ?? null
    // With no write queued, a read decides whether there is anything to claim before taking the write
    // lock, so idle engines never contend with busy ones. (A queued write may create claimable work:
    // then the claim joins its batch, which takes the lock anyway.)
    if (!this.writes.pending) {
      const found = await this.read('Claiming runs', () => this.stmt(sql.exists).get(...names, stale, ...names)?.found)
      if (!found) return []
    }
    return this.enqueue('Claiming runs', () => this.claimNow(sql, names, stale, limit))
  }

  async heartbeatRun(runId: string, leaseId: string): Promise<boolean> {
    return this.enqueue(`Renewing the lease on run ${runId}`, () => {
      const now = this.clock.now()
      return this.stmt(q.heartbeatRun).run(now, now, runId, leaseId).changes === 1
    })
  }

  async getRun(runId: string): Promise<WorkflowRun | null> {
    return this.read(`Reading run ${runId}`, () => {
      const row = this.stmt(q.selectRun).get(runId)
      return row ? toRun(row) : null
    })
  }

  async getStepResults(runId: string): Promise<StepResult[]> {
    return this.read(`Reading the steps of run ${runId}`, () => this.stmt(q.selectSteps).all(runId).map(toStep))
  }

  async saveStepResult(result: StepResult, leaseId?: string): Promise<boolean> {
    const outputJson = jsonTextOf(result, result.output, `Output of step "${result.name}"`)
    return this.enqueue(`Saving step "${result.name}" of run ${result.runId}`, () =>
      this.saveStepNow(result, outputJson, leaseId),
    )
  }

  async updateRunStatus(runId: string, status: RunStatus): Promise<boolean> {
    assertRunStatus(status)
    return this.enqueue(`Setting run ${runId} to ${status}`, () => {
      const now = this.clock.now()
      const finishedAt = isTerminal(status) ? now : null
      return this.stmt(q.updateRunStatus).run(status, finishedAt, now, runId).changes === 1
    })
  }

  async updateClaimedRunStatus(runId: string, leaseId: string, status: RunStatus): Promise<boolean> {
    assertRunStatus(status)
    return this.enqueue(`Setting run ${runId} to ${status}`, () => this.setClaimedStatusNow(runId, leaseId, status))
  }

  async finishRun(runId: string, leaseId: string, status: 'completed' | 'failed', step?: StepResult): Promise<boolean> {
    if (status !== 'completed' && status !== 'failed') {
      throw new InvalidArgumentError(`finishRun status must be "completed" or "failed", got ${JSON.stringify(status)}`)
    }
    if (step && step.runId !== runId) {
      throw new InvalidArgumentError(`finishRun step belongs to run ${step.runId}, expected run ${runId}`)
    }
    const outputJson = step ? jsonTextOf(step, step.output, `Output of step "${step.name}"`) : null
    return this.enqueue(`Finishing run ${runId} as ${status}`, () => {
      // The fenced status update decides; the step then needs no lease check of its own, since both
      // writes commit together or not at all.
      if (!this.setClaimedStatusNow(runId, leaseId, status)) return false
      if (step) this.stmt(q.upsertStepHeld).run(...stepValues(step, outputJson))
      return true
    })
  }

  async retryRun(runId: string): Promise<boolean> {
    return this.enqueue(`Retrying run ${runId}`, () => {
      if (this.stmt(q.retryRun).run(this.clock.now(), runId).changes !== 1) return false
      if (this.stmt(q.deleteFailedSteps).run(runId).changes > 0) {
        const kept = this.stmt(q.selectStepSeqs).all(runId)
        kept.forEach((step, i) => {
          if (Number(step.seq) !== i + 1) this.stmt(q.updateStepSeq).run(i + 1, runId, step.name as string)
        })
      }
      return true
    })
  }

  /**
   * For reflow's own tools (storage/sqlite/inspect.ts), not for applications: runs `fn` over this
   * connection's cached statements once the file is open and validated, as a read, or as one
   * operation of a write transaction (refused when opened readonly).
   * @internal
   */
  async withStatements<T>(what: string, mode: 'read' | 'write', fn: (stmt: (sql: string) => SqliteStatement) => T): Promise<T> {
    const run = () => fn((sql) => this.stmt(sql))
    return mode === 'read' ? this.read(what, run) : this.enqueue(what, run)
  }

  dataVersion(): number {
    this.ready()
    return Number(this.stmt(q.pragmaDataVersion).get()!.data_version)
  }

  watchChanges(onChange: () => void): () => void {
    this.ready()
    if (this.path === MEMORY) return () => {}
    try {
      // Every commit, by any connection, writes the WAL file: its modifications are the news.
      const watcher = watch(`${resolve(this.path)}-wal`, { persistent: false }, () => onChange())
      watcher.on('error', () => watcher.close())
      return () => watcher.close()
    } catch {
      // No WAL file yet, or no notifications on this file system: callers poll dataVersion() instead.
      return () => {}
    }
  }

  close(): void {
    if (!this.driver) return
    if (this.writes.pending) this.writes.flush()
    const driver = this.driver
    this.driver = null
    this.statements.clear()
    try {
      driver.close()
    } catch (error) {
      throw new StorageError(`Cannot close database "${this.path}": ${errorMessage(error)}`, { cause: error })
    }
  }

  // Operations: synchronous, run inside the batch transaction.

  private claimNow(sql: ClaimSql, names: string[], staleBefore: number | null, limit: number): ClaimedRun[] {
    const now = this.clock.now()
    const claimed: ClaimedRun[] = []
    const stale = staleBefore === null ? [] : this.stmt(sql.stale).all(staleBefore, ...names, limit)
    if (stale.length === 0) {
      // The usual case: one statement per run, each taking the oldest pending run.
      const claimNext = this.stmt(sql.claimNext)
      while (claimed.length < limit) {
        const leaseId = crypto.randomUUID()
        const row = claimNext.get(leaseId, now, now, now, ...names)
        if (!row) break
        claimed.push(toClaimed(row, leaseId))
      }
    } else {
      const candidates = this.stmt(sql.pending).all(...names, limit).concat(stale)
      // Oldest claimable first, pending or stale alike, so a crashed run never waits behind a backlog.
      candidates.sort((a, b) => Number(a.created_at_ms) - Number(b.created_at_ms) || Number(a.position) - Number(b.position))
      const claim = this.stmt(q.claimRun)
      for (let i = 0; i < candidates.length && claimed.length < limit; i++) {
        const leaseId = crypto.randomUUID()
        const row = claim.get(leaseId, now, now, now, candidates[i]!.position as number, staleBefore)
        if (row) claimed.push(toClaimed(row, leaseId))
      }
    }
    // Steps exist only for runs that ran before (retried, reclaimed, released): load theirs in one query.
    const resumed = claimed.filter((run) => run.steps === undefined)
    if (resumed.length > 0) {
      const byRun = new Map(resumed.map((run): [string, StepResult[]] => [run.id, (run.steps = [])]))
      for (const row of this.stmt(this.stepsOfRunsSql(resumed.length)).all(...byRun.keys())) {
        byRun.get(row.run_id as string)?.push(toStep(row))
      }
    }
    return claimed
  }

  private stepsOfRunsSql(count: number): string {
    let sql = this.stepsSqlByCount.get(count)
    if (!sql) this.stepsSqlByCount.set(count, (sql = q.selectStepsOfRuns(count)))
    return sql
  }

  /** The claim statements for an engine's list of `count` workflow names. */
  private claimSql(count: number): ClaimSql {
    let sql = this.claimSqlByCount.get(count)
    if (!sql) {
      sql = {
        claimNext: q.claimNextPending(count),
        pending: q.selectPendingRunIds(count),
        stale: q.selectStaleRunIds(count),
        exists: q.selectClaimableExists(count),
      }
      this.claimSqlByCount.set(count, sql)
    }
    return sql
  }

  private saveStepNow(step: StepResult, outputJson: string | null, leaseId: string | undefined): boolean {
    const values = stepValues(step, outputJson)
    if (leaseId === undefined) return this.stmt(q.upsertStep).run(...values, step.runId).changes === 1
    // Check, then write: inside the batch's transaction nothing can come between the two.
    if (!this.stmt(q.selectLeaseHeld).get(step.runId, leaseId)) return false
    this.stmt(q.upsertStepHeld).run(...values)
    return true
  }

  private setClaimedStatusNow(runId: string, leaseId: string, status: RunStatus): boolean {
    const now = this.clock.now()
    const terminal = isTerminal(status)
    const { changes } = this.stmt(q.updateClaimedRunStatus).run(
      status, terminal ? null : leaseId, terminal ? now : null, now, runId, leaseId,
    )
    return changes === 1
  }

  private enqueue<T>(what: string, run: () => T): Promise<T> {
    this.ready()
    if (this.readonly) throw new StorageError(`${what} failed: "${this.path}" is opened readonly`)
    return this.writes.enqueue(what, run)
  }

  private rollbackQuietly(): void {
    try {
      this.driver?.exec(q.rollback)
    } catch {
      // SQLite already rolled back (some errors end the transaction themselves).
    }
  }

  // Connection state and initialisation.

  private async read<T>(what: string, fn: () => T): Promise<T> {
    this.ready()
    try {
      return fn()
    } catch (error) {
      throw this.wrap(what, error)
    }
  }

  private stmt(sql: string): SqliteStatement {
    let statement = this.statements.get(sql)
    if (!statement) {
      if (!this.driver) throw this.closedError()
      statement = this.driver.prepare(sql)
      this.statements.set(sql, statement)
    }
    return statement
  }

  /** Opens the schema on first use: synchronous, so it runs inside whichever call comes first. */
  private ready(): void {
    if (this.initialized) {
      if (!this.driver) throw this.closedError()
      return
    }
    if (this.refusal) throw this.refusal
    const driver = this.driver
    if (!driver) throw this.closedError()
    try {
      // 1. Read only, so a file that must be refused is never modified.
      driver.exec(q.pragmaBusyTimeout(this.busyTimeoutMs))
      const version = this.readVersion()
      if (this.readonly) {
        if (!this.stmt(q.selectRunsTableExists).get()) this.refuse(`"${this.path}" is not a reflow database`)
        if (version < LATEST_SCHEMA_VERSION) {
          this.refuse(
            `"${this.path}" has schema version ${version}, this version of reflow-ts needs ${LATEST_SCHEMA_VERSION}; open it once without readonly to upgrade it`,
          )
        }
        this.initialized = true
        return
      }
      // 2. Connection settings; journal_mode is the only one that writes (the file header).
      driver.exec(q.pragmaJournalModeWal)
      driver.exec(q.pragmaSynchronous(this.synchronous))
      driver.exec(q.pragmaForeignKeysOn)
      // 3. Migrate under the write lock, re-reading the version another process may have advanced.
      if (version < LATEST_SCHEMA_VERSION) this.migrate()
      this.initialized = true
    } catch (error) {
      if (error instanceof ReflowError) throw error
      if ((error as { code?: unknown }).code === 'SQLITE_NOTADB' || /not a database/.test(errorMessage(error))) {
        this.refuse(`"${this.path}" is not a SQLite database`, error)
      }
      throw this.wrap('Initializing the database', error)
    }
  }

  private readVersion(): number {
    if (!this.stmt(q.selectMigrationsTableExists).get()) return 0
    const version = Number(this.stmt(q.selectSchemaVersion).get()?.version ?? 0)
    if (version > LATEST_SCHEMA_VERSION) {
      this.refuse(
        `"${this.path}" was written by a newer reflow-ts: schema version ${version}, this version supports up to ${LATEST_SCHEMA_VERSION}; upgrade reflow-ts`,
      )
    }
    return version
  }

  private migrate(): void {
    const driver = this.driver!
    driver.exec(q.beginImmediate)
    try {
      const current = this.readVersion()
      for (const migration of MIGRATIONS) {
        if (migration.version <= current) continue
        driver.exec(migration.sql)
        this.stmt(q.insertMigration).run(migration.version, this.clock.now())
      }
      driver.exec(q.commit)
    } catch (error) {
      this.rollbackQuietly()
      throw error
    }
  }

  /** Refuses the file for good: closes the connection untouched and fails every later call the same way. */
  private refuse(message: string, cause?: unknown): never {
    this.refusal = new StorageError(message, cause === undefined ? undefined : { cause })
    this.rollbackQuietly()
    this.statements.clear()
    try {
      this.driver?.close()
    } catch {
      // The refusal is the error worth reporting.
    }
    this.driver = null
    throw this.refusal
  }

  private closedError(): StorageError {
    return new StorageError(`SQLite storage "${this.path}" is closed`)
  }

  private wrap(what: string, error: unknown): unknown {
    if (error instanceof ReflowError) return error
    return new StorageError(`${what} failed on "${this.path}": ${errorMessage(error)}`, { cause: error })
  }
}

/** The parameters every step upsert starts with, in queries.ts order. */
function stepValues(step: StepResult, outputJson: string | null): SqlValue[] {
  return [step.runId, step.name, step.runId, step.status, outputJson, step.error ?? null, step.attempts, step.createdAt, step.updatedAt]
}

function isTerminal(status: RunStatus): boolean {
  return TERMINAL_STATUSES.includes(status)
}

function assertRunStatus(status: RunStatus): void {
  if (!Object.hasOwn(RunStatuses, status)) {
    const expected = Object.values(RunStatuses).join(', ')
    throw new InvalidArgumentError(`Run status must be one of ${expected}, got ${JSON.stringify(status)}`)
  }
}
