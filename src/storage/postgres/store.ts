/**
 * The store contract (storage/store.ts) on Postgres, shared by any number of engines on any number
 * of machines. Each method is one statement where it can be (see queries.ts) or one transaction.
 * Claims take a batch with `for update skip locked`; every leased write carries its fence in the
 * statement and reports whether it applied.
 *
 * Time: on the default 'database' clock, due times and lease expiry are judged on the server's
 * clock (sql.ts), and times handed back to the engine (nextDueAt) are translated to its clock, so an
 * engine whose clock is off can neither take over a live run nor wake a sleeping one early.
 */

import { InvalidArgumentError, StorageError } from '../../core/errors.ts'
import type { AttemptRecord, RunDetails, RunStatus, RunWait, StepResult } from '../../core/types.ts'
import { optionalNumber, toAttempt, toClaim, toRun, toStep, toSummary } from '../rows.ts'
import {
  assertListLimit,
  decodeRunCursor,
  runPage,
  newRunDetails,
  type AttemptWrite,
  type ChangeSource,
  type Claim,
  type ClaimRequest,
  type FinishedStatus,
  type Lease,
  type LeaseState,
  type NewEvent,
  type NewRun,
  type ParkResult,
  type PurgeBatchRequest,
  type PurgeBatchResult,
  type Release,
  type RunListQuery,
  type RunPage,
  type RunStats,
  type ScheduleStore,
  type StatsRequest,
  type StepWrite,
  type Store,
  type StoredEvent,
} from '../store.ts'
import type { PostgresConnection, WriteGroup } from './connection.ts'
import * as q from './queries.ts'
import * as iq from './inspect-queries.ts'
import { createPostgresSchedules } from './schedules.ts'
import { attemptValues, leaseValues, newRunValues, stepValues } from './values.ts'

/** How long after a run fell due on the server nextDueAt still answers it (see nextDueAt). */
const DUE_GRACE_MS = 1_000

export class PostgresStore implements Store {
  readonly changes: ChangeSource
  readonly schedules: ScheduleStore
  private readonly claimSql = new Map<string, string>()

  constructor(private readonly db: PostgresConnection) {
    this.changes = { version: () => db.version(), watch: (onChange) => db.watch(onChange) }
    this.schedules = createPostgresSchedules(db)
  }

  async initialize(): Promise<void> {
    await this.db.ready()
  }

  async createRun(run: NewRun): Promise<{ run: RunDetails; created: boolean }> {
    const inserted = await this.db.write(`Creating run ${run.id}`, q.insertRun, {
      ...newRunValues(run),
      scheduleId: run.schedule?.id ?? null,
      slotMs: run.schedule?.slotMs ?? null,
    })
    const row = inserted.rows[0]
    if (row) {
      this.db.notifyChanged()
      return {
        run: { ...newRunDetails(run), createdAt: Number(row.created_at_ms), updatedAt: Number(row.created_at_ms), availableAt: Number(row.available_at_ms) },
        created: true,
      }
    }
    const existing = await this.db.query(`Creating run ${run.id}`, q.selectRunByIdempotencyKey, {
      workflow: run.workflow,
      idempotencyKey: run.idempotencyKey,
    })
    if (!existing.rows[0]) throw new StorageError(`Run ${run.id} was neither inserted nor found by its idempotency key`)
    return { run: toRun(existing.rows[0]), created: false }
  }

  async claim(request: ClaimRequest): Promise<Claim[]> {
    const { workflows, limit, now } = request
    if (!Number.isInteger(limit) || limit < 0) throw new InvalidArgumentError(`claim limit must be a non-negative integer, got ${String(limit)}`)
    if (workflows.length === 0 || limit === 0) return []
    const kinds: q.ClaimKinds = {
      woken: request.includeWoken !== false,
      expired: !request.includeExpired ? 'no' : request.staleBefore === undefined ? 'lease' : 'stale',
    }
    const values: Record<string, unknown> = { workflows, limit, now, leaseMs: request.leaseMs, owner: request.owner }
    if (kinds.expired !== 'no') values.exclude = request.exclude ? [...request.exclude.keys()] : []
    if (kinds.expired === 'stale') values.staleBefore = request.staleBefore
    const { rows } = await this.db.write('Claiming runs', this.claimStatement(kinds), values)
    if (rows.length === 0) return []
    const found = rows.map(toClaim)
    const resumed = found.filter((f) => f.hasSteps)
    if (resumed.length > 0) {
      const byRun = new Map(resumed.map((f): [string, StepResult[]] => [f.claim.id, f.claim.steps]))
      const steps = await this.db.query('Loading the steps of claimed runs', q.selectStepsOfRuns, { ids: [...byRun.keys()] })
      for (const row of steps.rows) byRun.get(row.run_id as string)?.push(toStep(row))
    }
    return found.map((f) => f.claim)
  }

  async heartbeat(leases: readonly Lease[], now: number, leaseMs: number): Promise<LeaseState[]> {
    if (leases.length === 0) return []
    const { rows } = await this.db.write('Renewing leases', q.heartbeatRuns, {
      ids: leases.map((l) => l.runId),
      leaseIds: leases.map((l) => l.leaseId),
      now,
      leaseMs,
    })
    const renewed = new Set(rows.map((row) => row.id as string))
    if (renewed.size === leases.length) return leases.map(() => 'held')
    const lost = leases.filter((l) => !renewed.has(l.runId))
    const states = new Map((await this.leaseStates(lost)).map((state, i) => [lost[i]!, state]))
    return leases.map((lease) => (renewed.has(lease.runId) ? 'held' : states.get(lease)!))
  }

  async recordStep(lease: Lease, step: StepWrite, now: number, next: { nextStep: string | null; complete: boolean }): Promise<boolean> {
    const values = { ...leaseValues(lease), ...stepValues(step), now, nextStep: next.nextStep, complete: next.complete }
    const what = `Recording step "${step.name}" of run ${lease.runId}`
    const result = next.complete
      ? await this.db.write(what, q.completeWithStep, { ...values, status: 'completed' }, STEP_RECORDS)
      : await this.db.write(what, q.advanceWithStep, values, STEP_RECORDS)
    if (result.rowCount !== 1) return false
    if (next.complete) this.db.notifyChanged()
    return true
  }

  async recordFailure(lease: Lease, step: StepWrite, attempt: AttemptWrite, now: number, finish: boolean): Promise<boolean> {
    const { rows } = await this.db.write(`Recording the failure of step "${step.name}" of run ${lease.runId}`, q.recordFailure, {
      ...leaseValues(lease),
      ...stepValues(step),
      ...attemptValues(attempt),
      finish,
      now,
    })
    if (rows[0]?.applied !== 1) return false
    if (finish) this.db.notifyChanged()
    return true
  }

  async finish(lease: Lease, status: 'completed' | 'failed', now: number): Promise<boolean> {
    const result = await this.db.write(`Finishing run ${lease.runId} as ${status}`, q.finishRun, { ...leaseValues(lease), status, now })
    if (result.rowCount !== 1) return false
    this.db.notifyChanged()
    return true
  }

  async release(lease: Lease, release: Release, now: number): Promise<boolean> {
    const withAttempt = release.attemptRecord !== undefined
    const { rows } = await this.db.write(`Releasing run ${lease.runId}`, q.releaseRun(withAttempt), {
      ...leaseValues(lease),
      availableAt: release.availableAt,
      attempt: release.attempt,
      interruptions: release.interruptions,
      ...(release.attemptRecord && attemptValues(release.attemptRecord)),
      now,
    })
    if (rows[0]?.applied !== 1) return false
    this.db.notifyChanged()
    return true
  }

  async park(lease: Lease, wait: RunWait, now: number): Promise<ParkResult | null> {
    const what = `Parking run ${lease.runId}`
    const waitJson = JSON.stringify(wait)
    if (wait.kind === 'sleep') {
      const result = await this.db.write(what, q.parkRun, { ...leaseValues(lease), due: wait.until, waitJson, waitTimeKey: 'until', waitEvent: null, waitKey: null, now })
      return result.rowCount === 1 ? { parked: true } : null
    }
    return this.db.transaction(what, async (tx) => {
      await tx.query(q.lockEvent, { scope: this.eventLockScope(), name: wait.event, key: wait.key })
      const { rows } = await tx.query(q.parkForEvent, {
        ...leaseValues(lease),
        name: wait.event,
        key: wait.key,
        due: wait.timeoutAt,
        waitJson,
        waitTimeKey: 'timeoutAt',
        now,
      })
      const row = rows[0]
      if (row?.applied !== 1) return null
      return row.event_id == null ? { parked: true } : { parked: false, event: toEvent(row.event_id, row.payload_json) }
    })
  }

  async findEvent(runId: string, name: string, key: string): Promise<StoredEvent | null> {
    const { rows } = await this.db.query(`Looking for event "${name}" for run ${runId}`, q.selectUnreceivedEvent, { runId, name, key })
    return rows[0] ? toEvent(rows[0].id, rows[0].payload_json) : null
  }

  async emit(event: NewEvent): Promise<{ id: number; created: boolean; payloadJson: string | null }> {
    const what = `Emitting event "${event.name}"`
    const inserted = await this.db.transaction(what, async (tx) => {
      await tx.query(q.lockEvent, { scope: this.eventLockScope(), name: event.name, key: event.key })
      const { rows } = await tx.query(q.insertEventAndWake, {
        name: event.name,
        key: event.key,
        payloadJson: event.payloadJson,
        idempotencyKey: event.idempotencyKey,
        now: event.now,
      })
      return rows[0]
    })
    if (inserted) {
      this.db.notifyChanged()
      return { id: Number(inserted.id), created: true, payloadJson: event.payloadJson }
    }
    const { rows } = await this.db.query(what, q.selectEventByIdempotencyKey, { name: event.name, idempotencyKey: event.idempotencyKey })
    if (!rows[0]) throw new StorageError(`Event "${event.name}" was neither stored nor found by its idempotency key`)
    return { id: Number(rows[0].id), created: false, payloadJson: (rows[0].payload_json as string | null) ?? null }
  }

  async cancel(runId: string, now: number): Promise<boolean> {
    const result = await this.db.write(`Cancelling run ${runId}`, q.cancelRun, { runId, now })
    if (result.rowCount !== 1) return false
    this.db.notifyChanged()
    return true
  }

  async retry(runId: string, now: number, options: { fromStep?: string } = {}): Promise<boolean> {
    const fromStep = options.fromStep ?? null
    const retried = await this.db.transaction(`Retrying run ${runId}`, async (tx) => {
      if ((await tx.query(q.retryRun, { runId, fromStep, now })).rowCount !== 1) return false
      // From the step first: it may itself be the failed step, which the second delete would remove.
      let deleted = fromStep === null ? 0 : ((await tx.query(q.deleteStepsFrom, { runId, fromStep })).rowCount ?? 0)
      deleted += (await tx.query(q.deleteFailedSteps, { runId })).rowCount ?? 0
      if (deleted > 0) await tx.query(q.renumberSteps, { runId })
      return true
    })
    if (retried) this.db.notifyChanged()
    return retried
  }

  async getRun(runId: string): Promise<RunDetails | null> {
    const { rows } = await this.db.query(`Reading run ${runId}`, q.selectRun, { runId })
    return rows[0] ? toRun(rows[0]) : null
  }

  async getSteps(runId: string): Promise<StepResult[]> {
    return (await this.db.query(`Reading the steps of run ${runId}`, q.selectSteps, { runId })).rows.map(toStep)
  }

  async getAttempts(runId: string): Promise<AttemptRecord[]> {
    return (await this.db.query(`Reading the attempts of run ${runId}`, q.selectAttempts, { runId })).rows.map(toAttempt)
  }

  async listRuns(query: RunListQuery): Promise<RunPage> {
    assertListLimit(query.limit)
    const cursor = query.cursor === undefined ? null : decodeRunCursor(query.cursor)
    const statuses = query.statuses && query.statuses.length > 0 ? query.statuses : null
    const source = iq.selectRunPage({
      statuses: statuses !== null,
      workflow: query.workflow !== undefined,
      createdAfter: query.createdAfter !== undefined,
      createdBefore: query.createdBefore !== undefined,
      idPrefix: query.idPrefix !== undefined,
      idempotencyKey: query.idempotencyKey !== undefined,
      cursor: cursor !== null,
    })
    const { rows } = await this.db.query('Listing runs', source, {
      statuses,
      workflow: query.workflow,
      after: query.createdAfter,
      before: query.createdBefore,
      idPrefix: query.idPrefix,
      idempotencyKey: query.idempotencyKey,
      cursorAt: cursor?.createdAt,
      cursorId: cursor?.id,
      // One more than the page: whether a next page exists without a second query.
      limit: query.limit + 1,
    })
    return runPage(rows, query.limit, toSummary)
  }

  async stats({ now, windowsMs }: StatsRequest): Promise<RunStats> {
    const [counts, oldest, ...windows] = await Promise.all([
      this.db.query('Counting runs', iq.selectRunCounts),
      this.db.query('Counting runs', iq.selectOldestPending),
      ...windowsMs.map((windowMs) => this.db.query('Counting runs', iq.selectFinishedSince, { windowStart: now - windowMs, now })),
    ])
    const head = oldest.rows[0]
    return {
      counts: counts.rows.map((row) => ({ workflow: row.workflow as string, status: row.status as RunStatus, runs: Number(row.runs) })),
      oldestPending: head ? { id: head.id as string, workflow: head.workflow as string, createdAt: Number(head.created_at_ms) } : null,
      windows: windowsMs.map((windowMs, i) => ({
        windowMs,
        byWorkflow: windows[i]!.rows.map((row) => ({
          workflow: row.workflow as string,
          completed: Number(row.completed),
          failed: Number(row.failed),
        })),
      })),
    }
  }

  async leaseStates(leases: readonly Lease[]): Promise<LeaseState[]> {
    if (leases.length === 0) return []
    const { rows } = await this.db.query('Reading leases', q.selectLeaseStates, { ids: leases.map((l) => l.runId) })
    const byId = new Map(rows.map((row) => [row.id as string, row]))
    return leases.map((lease) => {
      const row = byId.get(lease.runId)
      if (row?.status === 'running' && row.lease_id === lease.leaseId) return 'held'
      return row?.status === 'cancelled' ? 'cancelled' : 'lost'
    })
  }

  async nextDueAt(workflows: readonly string[], now: number): Promise<number | null> {
    if (workflows.length === 0) return null
    // On the database clock an engine's timer and the server disagree by up to a round trip: a
    // timer can fire (and its claim find nothing) just before the run falls due on the server, and
    // the look for the next due time come just after. Runs that fell due within the last second
    // are still answered then (as a time already past: the engine claims at once), or the engine
    // would sit until its poll. The answer errs late by the round trip, never early.
    const database = this.db.clock === 'database'
    const sent = performance.now()
    const { rows } = await this.db.query('Finding the next due run', q.selectNextDue, { workflows, now, graceMs: database ? DUE_GRACE_MS : 0 })
    const due = optionalNumber(rows[0]?.due)
    return due === null || !database ? due : due + Math.ceil(performance.now() - sent) + 1
  }

  async unknownWorkflows(workflows: readonly string[], limit: number): Promise<string[]> {
    const { rows } = await this.db.query('Looking for runs of unregistered workflows', q.selectUnknownWorkflows, { workflows, limit })
    return rows.map((row) => row.workflow as string)
  }

  async purgeFinished({ statuses, finishedBefore, limit }: PurgeBatchRequest): Promise<PurgeBatchResult> {
    if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError(`purge limit must be a positive integer, got ${String(limit)}`)
    // The request's time is on this machine's clock: "now" for the translation is this machine's too.
    const { rows } = await this.db.query('Purging finished runs', q.purgeFinishedBatch, { statuses, before: finishedBefore, limit, now: Date.now() })
    const groups = new Map<string, PurgeBatchResult['groups'][number]>()
    let steps = 0
    for (const row of rows) {
      const key = JSON.stringify([row.workflow, row.status])
      const group = groups.get(key) ?? { workflow: row.workflow as string, status: row.status as FinishedStatus, runs: 0, steps: 0 }
      group.runs++
      group.steps += Number(row.steps)
      steps += Number(row.steps)
      groups.set(key, group)
    }
    return { runs: rows.length, steps, groups: [...groups.values()] }
  }

  async purgeEvents(createdBefore: number, limit: number): Promise<number> {
    return (await this.db.query('Purging old events', q.deleteOldEvents, { before: createdBefore, limit, now: Date.now() })).rowCount ?? 0
  }

  async acquireLease(name: string, holder: string, now: number, ttlMs: number): Promise<boolean> {
    return (await this.db.query(`Taking the ${name} lease`, q.acquireLease, { name, holder, now, ttlMs })).rowCount === 1
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.db.query(`Releasing the ${name} lease`, q.releaseLease, { name, holder })
  }

  close(): void {
    void this.db.close()
  }

  private eventLockScope(): string {
    return `reflow-ts events ${this.db.schema}`
  }

  private claimStatement(kinds: q.ClaimKinds): string {
    const key = `${kinds.woken}/${kinds.expired}`
    let sql = this.claimSql.get(key)
    if (!sql) this.claimSql.set(key, (sql = q.claimRuns(kinds)))
    return sql
  }
}

/** Step records of several runs in one group commit: one statement (queries.ts recordSteps). */
const STEP_RECORDS: WriteGroup = {
  merge: (all) => ({
    source: q.recordSteps,
    values: {
      runIds: all.map((v) => v.runId),
      leaseIds: all.map((v) => v.leaseId),
      nextSteps: all.map((v) => v.nextStep),
      completes: all.map((v) => v.complete),
      stepNames: all.map((v) => v.name),
      stepStatuses: all.map((v) => v.stepStatus),
      outputs: all.map((v) => v.outputJson),
      errors: all.map((v) => v.error),
      attemptCounts: all.map((v) => v.attempts),
      nows: all.map((v) => v.now),
      startedAts: all.map((v) => v.startedAt),
      endedAts: all.map((v) => v.endedAt),
      eventIds: all.map((v) => v.eventId),
    },
  }),
  split: (merged, values) => {
    const written = merged.rows.some((row) => row.id === values.runId)
    return { rows: [], rowCount: written ? 1 : 0 }
  },
}

function toEvent(id: unknown, payload: unknown): StoredEvent {
  return { id: Number(id), payloadJson: (payload as string | null) ?? null }
}
