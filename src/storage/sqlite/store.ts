/**
 * The store contract (storage/store.ts) on one SQLite connection. Each method is one operation of a
 * group-committed write transaction (or one read), built from the statements in queries.ts; leased
 * writes start with their fenced run update and write nothing else unless it changed exactly one row.
 *
 * Claims: with no write queued, a read first decides whether anything is claimable, so an engine
 * with nothing to do never takes the write lock. Without expired leases wanted, one
 * `update … returning` per run takes the earliest due one; with them, candidates of both kinds are
 * merged by due time and claimed one by one (re-checked in the update). Steps are loaded only for
 * runs that have some, in one query.
 */

import { InvalidArgumentError, StorageError } from '../../core/errors.ts'
import type { AttemptRecord, RunDetails, RunWait, StepResult } from '../../core/types.ts'
import { newRunDetails, type NewEvent, type ParkResult, type StoredEvent, type AttemptWrite, type ChangeSource, type Claim, type ClaimRequest, type Lease, type LeaseState, type NewRun, type Release, type StepWrite, type Store, type PurgeBatchRequest, type PurgeBatchResult, type FinishedStatus, type ScheduleStore, type RunListQuery, type RunPage, type RunStats, type StatsRequest } from '../store.ts'
import type { SqlValue } from './driver.ts'
import type { SqliteConnection } from './connection.ts'
import * as q from './queries.ts'
import { createSqliteSchedules } from './schedules.ts'
import { toAttempt, toClaim, toRun, toStep } from '../rows.ts'
import { selectRunDetail } from './inspect-queries.ts'
import { listRunPage, runStats } from './inspect-reads.ts'
import { LATEST_SCHEMA_VERSION } from './migrations.ts'

interface NamedSql {
  exists: string
  claimNext: string
  due: string
  woken: string
  expired: string
  nextDue: string
  unknown: string
}

export class SQLiteStore implements Store {
  readonly changes: ChangeSource
  readonly schedules: ScheduleStore
  private readonly namedSql = new Map<number, NamedSql>()
  private readonly stepsSql = new Map<number, string>()

  constructor(private readonly db: SqliteConnection) {
    this.changes = {
      version: () => db.dataVersion(),
      watch: (onChange) => db.watchChanges(onChange),
    }
    this.schedules = createSqliteSchedules(db)
  }

  async initialize(): Promise<void> {
    this.db.ready()
  }

  createRun(run: NewRun): Promise<{ run: RunDetails; created: boolean }> {
    return this.db.write(`Creating run ${run.id}`, () => {
      const { changes } = this.db.stmt(q.insertRun).run(
        run.id, run.workflow, run.inputJson, run.idempotencyKey, run.createdAt, run.createdAt, run.availableAt, run.firstStep,
      )
      if (changes === 1) return { run: newRunDetails(run), created: true }
      const existing = this.db.stmt(q.selectRunByIdempotencyKey).get(run.workflow, run.idempotencyKey)
      if (!existing) throw new StorageError(`Run ${run.id} was neither inserted nor found by its idempotency key`)
      return { run: toRun(existing), created: false }
    })
  }

  async claim(request: ClaimRequest): Promise<Claim[]> {
    const { workflows, limit, now } = request
    if (!Number.isInteger(limit) || limit < 0) throw new InvalidArgumentError(`claim limit must be a non-negative integer, got ${String(limit)}`)
    if (workflows.length === 0 || limit === 0) return []
    const sql = this.sql(workflows.length)
    // Expired: expiry passed at now, or a heartbeat more than a lease ahead of now (a clock gone back);
    // with a staleBefore, only a heartbeat older than it.
    const [min, max] = [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]
    const expiry: SqlValue[] = !request.includeExpired
      ? [min, max, min]
      : request.staleBefore === undefined
        ? [now, now + request.leaseMs, min]
        : [min, max, request.staleBefore]
    // With no write queued, a read decides whether there is anything to claim before taking the write
    // lock, so idle engines never contend with busy ones.
    if (!this.db.writesPending) {
      const found = await this.db.read('Claiming runs', () => this.db.stmt(sql.exists).get(now, ...workflows, ...expiry, ...workflows)?.found)
      if (!found) return []
    }
    return this.db.write('Claiming runs', () => this.claimNow(request, sql, expiry))
  }

  heartbeat(leases: readonly Lease[], now: number, leaseMs: number): Promise<LeaseState[]> {
    return this.db.write('Renewing leases', () =>
      leases.map((lease) =>
        this.db.stmt(q.heartbeatRun).run(now + leaseMs, now, now, lease.runId, lease.leaseId).changes === 1 ? 'held' : this.leaseState(lease),
      ),
    )
  }

  recordStep(lease: Lease, step: StepWrite, now: number, next: { nextStep: string | null; complete: boolean }): Promise<boolean> {
    return this.db.write(`Recording step "${step.name}" of run ${lease.runId}`, () => {
      const fenced = next.complete
        ? this.db.stmt(q.finishRun).run('completed', null, now, now, lease.runId, lease.leaseId)
        : this.db.stmt(q.advanceRun).run(next.nextStep, now, lease.runId, lease.leaseId)
      if (fenced.changes !== 1) return false
      this.upsertStep(lease.runId, step)
      return true
    })
  }

  recordFailure(lease: Lease, step: StepWrite, attempt: AttemptWrite, now: number, finish: boolean): Promise<boolean> {
    return this.db.write(`Recording the failure of step "${step.name}" of run ${lease.runId}`, () => {
      const fenced = finish
        ? this.db.stmt(q.finishRun).run('failed', step.name, now, now, lease.runId, lease.leaseId)
        : this.db.stmt(q.touchRun).run(now, lease.runId, lease.leaseId)
      if (fenced.changes !== 1) return false
      this.upsertStep(lease.runId, step)
      this.insertAttempt(lease.runId, attempt)
      return true
    })
  }

  finish(lease: Lease, status: 'completed' | 'failed', now: number): Promise<boolean> {
    return this.db.write(`Finishing run ${lease.runId} as ${status}`, () => {
      const current = status === 'completed' ? null : this.db.stmt(q.selectRun).get(lease.runId)?.current_step ?? null
      return this.db.stmt(q.finishRun).run(status, current as string | null, now, now, lease.runId, lease.leaseId).changes === 1
    })
  }

  release(lease: Lease, release: Release, now: number): Promise<boolean> {
    return this.db.write(`Releasing run ${lease.runId}`, () => {
      const { changes } = this.db.stmt(q.releaseRun).run(
        release.availableAt, release.attempt, release.interruptions, now, lease.runId, lease.leaseId,
      )
      if (changes !== 1) return false
      if (release.attemptRecord) this.insertAttempt(lease.runId, release.attemptRecord)
      return true
    })
  }

  purgeFinished({ statuses, finishedBefore, limit }: PurgeBatchRequest): Promise<PurgeBatchResult> {
    if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError(`purge limit must be a positive integer, got ${String(limit)}`)
    return this.db.write('Purging finished runs', () => {
      const rows = this.db.stmt(q.selectPurgeBatch).all(finishedBefore, JSON.stringify(statuses), limit)
      if (rows.length === 0) return { runs: 0, steps: 0, groups: [] }
      const ids = JSON.stringify(rows.map((row) => row.id as string))
      const steps = this.db.stmt(q.deletePurgeBatchSteps).run(ids).changes
      this.db.stmt(q.deletePurgeBatchAttempts).run(ids)
      const runs = this.db.stmt(q.deletePurgeBatchRuns).run(ids).changes
      const groups = new Map<string, PurgeBatchResult['groups'][number]>()
      for (const row of rows) {
        const key = JSON.stringify([row.workflow, row.status])
        const group = groups.get(key) ?? { workflow: row.workflow as string, status: row.status as FinishedStatus, runs: 0, steps: 0 }
        group.runs++
        group.steps += Number(row.steps)
        groups.set(key, group)
      }
      return { runs, steps, groups: [...groups.values()] }
    })
  }

  purgeEvents(createdBefore: number, limit: number): Promise<number> {
    return this.db.write('Purging old events', () => this.db.stmt(q.deleteOldEvents).run(createdBefore, limit).changes)
  }

  acquireLease(name: string, holder: string, now: number, ttlMs: number): Promise<boolean> {
    return this.db.write(`Taking the ${name} lease`, () => this.db.stmt(q.acquireLease).run(name, holder, now + ttlMs, now).changes === 1)
  }

  releaseLease(name: string, holder: string): Promise<void> {
    return this.db.write(`Releasing the ${name} lease`, () => void this.db.stmt(q.releaseLease).run(name, holder))
  }

  park(lease: Lease, wait: RunWait, now: number): Promise<ParkResult | null> {
    return this.db.write(`Parking run ${lease.runId}`, () => {
      if (wait.kind === 'event') {
        const event = this.unreceivedEvent(lease.runId, wait.event, wait.key)
        if (event) return this.db.stmt(q.touchRun).run(now, lease.runId, lease.leaseId).changes === 1 ? { parked: false, event } : null
      }
      const due = wait.kind === 'sleep' ? wait.until : wait.timeoutAt
      const [event, key] = wait.kind === 'event' ? [wait.event, wait.key] : [null, null]
      const { changes } = this.db.stmt(q.parkRun).run(due, JSON.stringify(wait), event, key, now, lease.runId, lease.leaseId)
      return changes === 1 ? { parked: true } : null
    })
  }

  findEvent(runId: string, name: string, key: string): Promise<StoredEvent | null> {
    return this.db.read(`Looking for event "${name}" for run ${runId}`, () => this.unreceivedEvent(runId, name, key))
  }

  emit(event: NewEvent): Promise<{ id: number; created: boolean; payloadJson: string | null }> {
    return this.db.write(`Emitting event "${event.name}"`, () => {
      const inserted = this.db.stmt(q.insertEvent).get(event.name, event.key, event.payloadJson, event.idempotencyKey, event.now)
      if (!inserted) {
        const existing = this.db.stmt(q.selectEventByIdempotencyKey).get(event.name, event.idempotencyKey)
        if (!existing) throw new StorageError(`Event "${event.name}" was neither stored nor found by its idempotency key`)
        return { id: Number(existing.id), created: false, payloadJson: (existing.payload_json as string | null) ?? null }
      }
      this.db.stmt(q.wakeWaitingRuns).run(event.now, event.now, event.name, event.key)
      return { id: Number(inserted.id), created: true, payloadJson: event.payloadJson }
    })
  }

  cancel(runId: string, now: number): Promise<boolean> {
    return this.db.write(`Cancelling run ${runId}`, () => this.db.stmt(q.cancelRun).run(now, now, runId).changes === 1)
  }

  retry(runId: string, now: number, options: { fromStep?: string } = {}): Promise<boolean> {
    const fromStep = options.fromStep ?? null
    return this.db.write(`Retrying run ${runId}`, () => {
      if (this.db.stmt(q.retryRun).run(now, fromStep, now, runId).changes !== 1) return false
      // From the step first: it may itself be the failed step, which the second delete would remove.
      let deleted = fromStep === null ? 0 : this.db.stmt(q.deleteStepsFrom).run(runId, runId, fromStep).changes
      deleted += this.db.stmt(q.deleteFailedSteps).run(runId).changes
      if (deleted > 0) {
        this.db.stmt(q.selectStepSeqs).all(runId).forEach((step, i) => {
          if (Number(step.seq) !== i + 1) this.db.stmt(q.updateStepSeq).run(i + 1, runId, step.name as string)
        })
      }
      return true
    })
  }

  getRun(runId: string): Promise<RunDetails | null> {
    return this.db.read(`Reading run ${runId}`, () => {
      // A file an older reflow-ts wrote, opened readonly, lacks newer columns: they read as null or 0.
      const sql = this.db.schemaVersion < LATEST_SCHEMA_VERSION ? selectRunDetail : q.selectRun
      const row = this.db.stmt(sql).get(runId)
      return row ? toRun(row) : null
    })
  }

  getSteps(runId: string): Promise<StepResult[]> {
    return this.db.read(`Reading the steps of run ${runId}`, () => this.db.stmt(q.selectSteps).all(runId).map(toStep))
  }

  getAttempts(runId: string): Promise<AttemptRecord[]> {
    // Attempts are recorded from schema version 2 on; an older file opened readonly has none.
    return this.db.read(`Reading the attempts of run ${runId}`, () =>
      this.db.schemaVersion < 2 ? [] : this.db.stmt(q.selectAttempts).all(runId).map(toAttempt),
    )
  }

  listRuns(query: RunListQuery): Promise<RunPage> {
    return listRunPage(this.db, query)
  }

  stats(request: StatsRequest): Promise<RunStats> {
    return runStats(this.db, request)
  }

  leaseStates(leases: readonly Lease[]): Promise<LeaseState[]> {
    return this.db.read('Reading leases', () => leases.map((lease) => this.leaseState(lease)))
  }

  nextDueAt(workflows: readonly string[], now: number): Promise<number | null> {
    if (workflows.length === 0) return Promise.resolve(null)
    return this.db.read('Finding the next due run', () => {
      const row = this.db.stmt(this.sql(workflows.length).nextDue).get(now, ...workflows, now, ...workflows)
      return row?.available_at_ms == null ? null : Number(row.available_at_ms)
    })
  }

  unknownWorkflows(workflows: readonly string[], limit: number): Promise<string[]> {
    return this.db.read('Looking for runs of unregistered workflows', () =>
      this.db.stmt(this.sql(workflows.length).unknown).all(...workflows, limit).map((row) => row.workflow as string),
    )
  }

  verify(): void {
    this.db.verify()
  }

  close(): void {
    this.db.close()
  }

  // Operations: synchronous, run inside the batch transaction.

  private claimNow(request: ClaimRequest, sql: NamedSql, expiry: SqlValue[]): Claim[] {
    const { workflows, limit, now, leaseMs, owner, exclude } = request
    const grant = (): SqlValue[] => [crypto.randomUUID(), owner, now + leaseMs, now, now, now]
    const found: { claim: Claim; hasSteps: boolean }[] = []
    const expired = request.includeExpired
      ? this.db.stmt(sql.expired).all(...expiry, ...workflows, limit + (exclude?.size ?? 0)).filter((row) => !exclude?.has(row.id as string))
      : []
    const woken = request.includeWoken === false ? [] : this.db.stmt(sql.woken).all(now, ...workflows, limit)
    if (expired.length === 0 && woken.length === 0) {
      // The usual case: one statement per run, each taking the earliest due one.
      const claimNext = this.db.stmt(sql.claimNext)
      while (found.length < limit) {
        const row = claimNext.get(...grant(), now, ...workflows)
        if (!row) break
        found.push(toClaim(row))
      }
    } else {
      const due = this.db.stmt(sql.due).all(now, ...workflows, limit)
      const candidates = [...due, ...woken].map((row) => ({ row, expired: false })).concat(expired.map((row) => ({ row, expired: true })))
        // Earliest due first, pending or expired alike, so a crashed run never waits behind a backlog.
        .sort((a, b) => Number(a.row.available_at_ms) - Number(b.row.available_at_ms) || Number(a.row.position) - Number(b.row.position))
      for (let i = 0; i < candidates.length && found.length < limit; i++) {
        const { row: candidate, expired: isExpired } = candidates[i]!
        const row = isExpired
          ? this.db.stmt(q.claimExpiredRun).get(...grant(), candidate.position as number, ...expiry)
          : this.db.stmt(q.claimDueRun).get(...grant(), candidate.position as number, now)
        if (!row) continue
        const claimed = toClaim(row)
        if (isExpired) this.recordInterruption(claimed.claim, Number(candidate.available_at_ms), now)
        found.push(claimed)
      }
    }
    const resumed = found.filter((f) => f.hasSteps)
    if (resumed.length > 0) {
      const byRun = new Map(resumed.map((f): [string, StepResult[]] => [f.claim.id, f.claim.steps]))
      for (const row of this.db.stmt(this.stepsOfRunsSql(resumed.length)).all(...byRun.keys())) {
        byRun.get(row.run_id as string)?.push(toStep(row))
      }
    }
    return found.map((f) => f.claim)
  }

  /** A claim took over an expired lease: the attempt in progress there was cut off. */
  private recordInterruption(claim: Claim, expiredAt: number, now: number): void {
    if (claim.currentStep === null) return
    this.insertAttempt(claim.id, {
      stepName: claim.currentStep,
      attempt: claim.attempt + claim.interruptions,
      status: 'interrupted',
      startedAt: null,
      endedAt: Math.min(expiredAt, now),
      errorName: 'LeaseExpiredError',
      errorMessage: `The worker executing this step stopped renewing its lease (it crashed, was killed, froze or lost the database); ${claim.leaseOwner ?? 'another engine'} took the run over`,
      errorStack: null,
    })
  }

  private unreceivedEvent(runId: string, name: string, key: string): StoredEvent | null {
    const created = this.db.stmt(q.selectRunCreatedAt).get(runId)
    if (!created) return null
    const row = this.db.stmt(q.selectUnreceivedEvent).get(name, key, Number(created.created_at_ms), runId)
    return row ? { id: Number(row.id), payloadJson: (row.payload_json as string | null) ?? null } : null
  }

  private leaseState(lease: Lease): LeaseState {
    const row = this.db.stmt(q.selectLeaseState).get(lease.runId)
    if (row?.status === 'running' && row.lease_id === lease.leaseId) return 'held'
    return row?.status === 'cancelled' ? 'cancelled' : 'lost'
  }

  private upsertStep(runId: string, step: StepWrite): void {
    this.db.stmt(q.upsertStep).run(...stepValues(runId, step))
  }

  private insertAttempt(runId: string, a: AttemptWrite): void {
    this.db.stmt(q.insertAttempt).run(runId, a.stepName, a.attempt, a.status, a.startedAt, a.endedAt, a.errorName, a.errorMessage, a.errorStack)
  }

  private stepsOfRunsSql(count: number): string {
    let sql = this.stepsSql.get(count)
    if (!sql) this.stepsSql.set(count, (sql = q.selectStepsOfRuns(count)))
    return sql
  }

  /** The statements over an engine's list of `count` workflow names. */
  private sql(count: number): NamedSql {
    let sql = this.namedSql.get(count)
    if (!sql) {
      sql = {
        exists: q.selectClaimableExists(count),
        claimNext: q.claimNextDue(count),
        due: q.selectDueCandidates(count),
        woken: q.selectWokenCandidates(count),
        expired: q.selectExpiredCandidates(count),
        nextDue: q.selectNextDue(count),
        unknown: q.selectUnknownWorkflows(count),
      }
      this.namedSql.set(count, sql)
    }
    return sql
  }
}

/** The parameters of a step upsert, in queries.ts order. */
export function stepValues(runId: string, step: StepWrite): SqlValue[] {
  return [runId, step.name, runId, step.status, step.outputJson, step.error, step.attempts, step.startedAt, step.endedAt, step.eventId ?? null]
}
