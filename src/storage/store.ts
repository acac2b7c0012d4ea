/**
 * THE internal contract between the engine and storage: one method per state transition of a run.
 * The engine (engine/*) sees storage only through this interface. SQLite and memory implement it
 * directly; a user's own `StorageAdapter` (adapter.ts) is wrapped into it once (wrap-adapter.ts).
 *
 * Ground rules for every method:
 * - One call is one transaction performing one transition: all of it happens, or none of it.
 * - `now` is an argument: the engine's one Clock decides every time stored and every due or expiry
 *   judgement (a backend with a shared server clock may judge on that instead; it says so).
 * - Fencing is in the statement: a write made under a lease changes the run only while the run is
 *   `running` under exactly that lease id, checked by the same statement that writes, and reports
 *   whether it applied. A worker that lost its lease can never record a result or move the run.
 * - Values arrive serialised (`*Json` fields, core/json.ts); stores never serialise user values.
 * - Terminal statuses (completed, failed, cancelled) are final except through `retry`.
 *
 * The run's execution state lives on the run: `currentStep` (the step it will run next), `attempt`
 * (failed attempts of that step) and `interruptions` (attempts of that step cut off by a crash).
 * Recording a completed step resets both counters and names the next step; a release stores the
 * counters the engine hands it; a claim of an expired lease counts one interruption and records it
 * as an interrupted attempt, so crash loops are visible and bounded without an extra write per step.
 */

import { hostname } from 'node:os'
import { InvalidArgumentError } from '../core/errors.ts'
import type { AttemptRecord, AttemptStatus, RunDetails, RunStatus, RunWait, StepResult } from '../core/types.ts'

/** A lease the engine holds: only its holder may record the run's progress. */
export interface Lease {
  readonly runId: string
  readonly leaseId: string
}

/** A run to create, pending from `availableAt` on. */
export interface NewRun {
  id: string
  workflow: string
  inputJson: string | null
  /** The input as steps will see it (the parse of `inputJson`), handed back in the result. */
  input: unknown
  idempotencyKey: string | null
  createdAt: number
  availableAt: number
  /** The workflow's first step (null for a workflow without steps). */
  firstStep: string | null
  /** The schedule and slot that made the run, if a schedule did. */
  schedule?: RunSchedule | null
}

/** A schedule as stored (reflow_schedules): its definition and its high-water mark. */
export interface ScheduleRow {
  id: string
  workflow: string
  /** The spec as the engine wrote it: `{"cron":"0 3 * * *","timezone":"Europe/Paris"}` or `{"everyMs":900000}`, with catchup and overlap. */
  specJson: string
  inputJson: string | null
  /** Declared in createEngine's `schedules` (an engine that starts removes declared rows it no longer declares), or made by engine.schedule(). */
  declared: boolean
  /** The newest slot fired or skipped: the high-water mark. No slot at or before it fires again. */
  lastSlotMs: number | null
  /** The first slot not yet fired or skipped. */
  nextSlotMs: number
  paused: boolean
  lastRunId: string | null
  /** Slots skipped so far (missed beyond the catch-up window, or overlapping an unfinished run). */
  skippedCount: number
  lastSkippedSlotMs: number | null
  updatedAt: number
}

/** What an engine writes when it starts or registers a schedule. */
export interface ScheduleDefinition {
  id: string
  workflow: string
  specJson: string
  inputJson: string | null
  declared: boolean
  /** The first slot after now, under this spec: stored for a new or changed schedule. */
  nextSlotMs: number
}

/** One due slot to fire: advance the high-water mark to `slotMs` and create `run` (whose key names the slot). */
export interface SlotFire {
  scheduleId: string
  slotMs: number
  nextSlotMs: number
  /** Older slots skipped on the way (beyond the catch-up window). */
  skipped: { count: number; lastSlotMs: number } | null
  /** skip: create nothing while the schedule's last run is unfinished (the slot counts as skipped). */
  overlap: 'skip' | 'allow'
  /** null: skip this slot (the catch-up window is 0). */
  run: NewRun | null
  now: number
}

/** created: this call made the slot's run; skipped: the slot was recorded as skipped; taken: another engine had it (or the schedule is paused or gone). */
export type SlotOutcome = { outcome: 'created'; runId: string } | { outcome: 'skipped' | 'taken' }

/** Persisted schedules: every method is one transaction. */
export interface ScheduleStore {
  list(): Promise<ScheduleRow[]>
  get(id: string): Promise<ScheduleRow | null>
  /** Inserts the schedule, or updates it when its workflow, spec or input changed (taking `nextSlotMs`); else writes nothing. */
  upsert(definition: ScheduleDefinition, now: number): Promise<ScheduleRow>
  /**
   * Deletes the declared schedules of `workflows` not in `keep` (an engine speaks only for the
   * workflows it registers); returns their ids. Writes nothing when there is nothing to delete.
   */
  removeDeclared(keep: readonly string[], workflows: readonly string[]): Promise<string[]>
  /**
   * Fires one slot: only when the schedule exists, is not paused and its high-water mark is older
   * than the slot, advances the mark and creates the run, in one transaction (the run's
   * idempotency key, unique per workflow, is the second guard). Of several engines firing the same
   * slot, one gets `created`.
   */
  fire(fire: SlotFire): Promise<SlotOutcome>
  /** Pauses or resumes; resuming moves the next slot to `nextSlotMs` (slots while paused never fire). False for an unknown id. */
  setPaused(id: string, paused: boolean, now: number, nextSlotMs?: number): Promise<boolean>
  /**
   * Makes one run outside the slots (`reflow schedules trigger`), in one transaction: pending at
   * `now`, with the schedule's workflow and input, at no recorded step, naming the schedule with
   * `now` as its slot, under `run.idempotencyKey`; it becomes the schedule's last run. The
   * high-water mark and next slot are untouched, and a paused schedule triggers too. Null for an
   * unknown schedule id or a taken key.
   */
  trigger(id: string, run: { id: string; idempotencyKey: string }, now: number): Promise<string | null>
}

/** Which schedule slot made a run. */
export interface RunSchedule {
  id: string
  slotMs: number
}

export interface ClaimRequest {
  workflows: readonly string[]
  limit: number
  now: number
  /** The lease each claimed run gets: it expires at `now + leaseMs` unless renewed. */
  leaseMs: number
  /** Also take runs whose lease has expired (a crashed or frozen engine's). */
  includeExpired: boolean
  /**
   * Also take waiting runs that are due (a sleep ended, an event came, a wait timed out). Default:
   * true. An engine refilling its slots in a busy stretch passes false, and true after any wake-up
   * that may have made one due (a timer, a change notification, an emit, the poll).
   */
  includeWoken?: boolean
  /**
   * With `includeExpired`, judge staleness by the last renewal instead of the lease's expiry: take
   * the running runs last renewed before this time, and only those (the public adapter's
   * `claimNextRun(names, staleBefore)`, whose caller decides how long a lease lasts).
   */
  staleBefore?: number
  /** Written on the run for people reading it (process id and host). */
  owner: string
  /**
   * Runs this engine is still executing: never taken over when their lease looks expired. A due
   * pending run is taken even when listed (it was cancelled and retried elsewhere while this engine
   * still executes it): the engine starts it once the older execution has settled.
   */
  exclude?: { has(runId: string): boolean; keys(): Iterable<string>; readonly size: number }
}

/** A claimed run: its details under the new lease, with its recorded steps in recording order. */
export interface Claim extends RunDetails {
  leaseId: string
  steps: StepResult[]
}

/** A step result to record: the output already serialised. */
export interface StepWrite {
  name: string
  status: StepResult['status']
  outputJson: string | null
  error: string | null
  attempts: number
  startedAt: number
  endedAt: number
  /** The event a wait step received, so no later step of the run receives it again. */
  eventId?: number | null
}

/** A failed or interrupted attempt to record. */
export type AttemptWrite = Omit<AttemptRecord, 'runId'>

export interface Release {
  /** When the run may be claimed again. */
  availableAt: number
  /** The execution state to keep: failed and interrupted attempts of `currentStep`. */
  attempt: number
  interruptions: number
  /** The attempt that ended this execution, if it failed or was cut off. */
  attemptRecord?: AttemptWrite
}

/** The statuses a purge may delete. */
export type FinishedStatus = 'completed' | 'failed' | 'cancelled'

export interface PurgeBatchRequest {
  statuses: readonly FinishedStatus[]
  /** Runs that finished strictly before this time. */
  finishedBefore: number
  /** At most this many runs in this transaction. */
  limit: number
}

/** What one purge batch deleted, with runs and steps by workflow and status. */
export interface PurgeBatchResult {
  runs: number
  steps: number
  groups: { workflow: string; status: FinishedStatus; runs: number; steps: number }[]
}

/** A run as run lists show it (`reflow runs`, the dashboard). Times are epoch milliseconds. */
export interface RunSummary {
  id: string
  workflow: string
  status: RunStatus
  /** The run's failed step, or else its last recorded one; null before any step is recorded. */
  step: { name: string; status: StepResult['status']; attempts: number } | null
  /** The failed step's error, if the run has one. */
  error: string | null
  stepsRecorded: number
  createdAt: number
  updatedAt: number
  startedAt: number | null
  finishedAt: number | null
}

/** Which runs a list shows; every filter is optional and they combine with "and". */
export interface RunListQuery {
  statuses?: readonly RunStatus[]
  workflow?: string
  /** Created at or after this time. */
  createdAfter?: number
  /** Created strictly before this time. */
  createdBefore?: number
  /** Run ids starting with this text. */
  idPrefix?: string
  idempotencyKey?: string
  /** At most this many runs in the page (a positive integer). */
  limit: number
  /** The `nextCursor` of the previous page; absent for the first page. */
  cursor?: string
}

/** One page of runs, newest first; `nextCursor` is null on the last page. */
export interface RunPage {
  runs: RunSummary[]
  nextCursor: string | null
}

export interface StatsRequest {
  now: number
  /** Window lengths: completed and failed runs that finished within `now - windowMs` are counted per window. */
  windowsMs: readonly number[]
}

export interface RunStats {
  /** Runs by workflow and status, sorted by workflow then status; only non-zero groups. */
  counts: { workflow: string; status: RunStatus; runs: number }[]
  oldestPending: { id: string; workflow: string; createdAt: number } | null
  /** One entry per requested window, in request order; `byWorkflow` sorted by workflow, only workflows with some. */
  windows: { windowMs: number; byWorkflow: { workflow: string; completed: number; failed: number }[] }[]
}

/** An emitted event, as a wait step receives it. */
export interface StoredEvent {
  id: number
  payloadJson: string | null
}

export interface NewEvent {
  name: string
  key: string
  payloadJson: string | null
  idempotencyKey: string | null
  now: number
}

/** What a park did: parked, or (a wait for an event) found the event already there. */
export type ParkResult = { parked: true } | { parked: false; event: StoredEvent }

/** What became of a lease: still ours, the run was cancelled, or the lease is gone otherwise. */
export type LeaseState = 'held' | 'cancelled' | 'lost'

/** Change notification: how an engine hears of writes made through other connections. */
export interface ChangeSource {
  /**
   * A number that differs from an earlier one whenever another connection committed a write in
   * between (this connection's own writes may or may not move it). Synchronous and cheap: it never
   * waits for a lock.
   */
  version(): number
  /**
   * Calls `onChange` soon after a write may have been committed by any connection, best effort
   * (late or twice), until the returned function is called. Returns undefined when no notification
   * can come (a file system without them): callers then check `version()` on a timer. Never called
   * synchronously from inside a store method.
   */
  watch(onChange: () => void): (() => void) | undefined
}

export interface Store {
  /** Creates or migrates the schema. Idempotent, safe when several processes call it at once. */
  initialize(): Promise<void>

  /**
   * none → pending. With an idempotency key already used by a run of the same workflow, writes
   * nothing and returns that run with `created: false`; of several racing creators one creates.
   */
  createRun(run: NewRun): Promise<{ run: RunDetails; created: boolean }>

  /**
   * pending or waiting (due: `availableAt <= now`) → running, and with `includeExpired` also running (lease
   * expired) → running under a new lease, which counts one interruption of its current step and
   * records it as an interrupted attempt. Up to `limit` runs, those due earliest first, each with a
   * fresh lease id, in one transaction: of several concurrent claimers exactly one gets each run.
   */
  claim(request: ClaimRequest): Promise<Claim[]>

  /** running → running with the lease extended to `now + leaseMs`, for each lease still held. */
  heartbeat(leases: readonly Lease[], now: number, leaseMs: number): Promise<LeaseState[]>

  /**
   * Records a completed step under the lease, resets the attempt state and names `nextStep` as the
   * current step; with `complete`, the run also becomes completed (lease released) in the same
   * transaction. False (nothing written) when the lease is not held.
   */
  recordStep(lease: Lease, step: StepWrite, now: number, next: { nextStep: string | null; complete: boolean }): Promise<boolean>

  /**
   * Records a step that failed for good and its last attempt; with `finish`, the run also becomes
   * failed. Without it the run stays running under the lease (onFailure runs next, then `finish`).
   */
  recordFailure(lease: Lease, step: StepWrite, attempt: AttemptWrite, now: number, finish: boolean): Promise<boolean>

  /** running → completed or failed under the lease; the lease is released. */
  finish(lease: Lease, status: 'completed' | 'failed', now: number): Promise<boolean>

  /**
   * running → pending under the lease, due at `release.availableAt`, keeping the given attempt
   * state and recording `release.attemptRecord`: a backoff, a stop, a storage fault. The run holds
   * no lease while it waits.
   */
  release(lease: Lease, release: Release, now: number): Promise<boolean>

  /**
   * running → waiting under the lease, the lease released: a sleep (claimable at `until`) or a wait
   * for an event (claimable when it is emitted, or at `timeoutAt`). For an event, the same
   * transaction first looks for a matching event the run has not received yet (as `findEvent`)
   * and, when there is one, parks nothing and returns it, so no emit is lost between a look and
   * the park. Fenced: `null` when the lease is gone.
   */
  park(lease: Lease, wait: RunWait, now: number): Promise<ParkResult | null>

  /**
   * The earliest event of `name` and `key` emitted since run `runId` was created that no step of
   * the run has received (recorded with its `eventId`), or null. A read.
   */
  findEvent(runId: string, name: string, key: string): Promise<StoredEvent | null>

  /**
   * Stores an event and, in the same transaction, makes every run waiting for its name and key due
   * at once. With an idempotency key already used for this event name, stores nothing and returns
   * the first event (`created: false`); the caller compares payloads.
   */
  emit(event: NewEvent): Promise<{ id: number; created: boolean; payloadJson: string | null }>

  /** pending | running | waiting → cancelled, whoever holds it. False when unknown or already finished. */
  cancel(runId: string, now: number): Promise<boolean>

  /**
   * failed | cancelled → pending, due now, attempt state reset. Its failed step result is removed
   * so the run resumes at that step (attempt records stay: the history is kept). With `fromStep`,
   * that step and every step recorded after it are removed too, so they run again.
   */
  retry(runId: string, now: number, options?: { fromStep?: string }): Promise<boolean>

  getRun(runId: string): Promise<RunDetails | null>
  /** A run's step results in recording order, in one query. */
  getSteps(runId: string): Promise<StepResult[]>
  /** A run's failed and interrupted attempts, oldest first. */
  getAttempts(runId: string): Promise<AttemptRecord[]>

  /**
   * Optional (inspection): one page of runs newest first (by creation time, then id), filtered.
   * Keyset paging: runs created while a reader pages never shift a later page, so following
   * `nextCursor` gives no run twice and skips none that existed at the first page. A read.
   */
  listRuns?(query: RunListQuery): Promise<RunPage>

  /** Optional (inspection): counts by workflow and status, the oldest pending run, finished runs per window. A read. */
  stats?(request: StatsRequest): Promise<RunStats>

  /** Reads what became of each lease (no write): how cancellation from elsewhere reaches a step. */
  leaseStates(leases: readonly Lease[]): Promise<LeaseState[]>

  /** The earliest due time of a pending or waiting run of `workflows` that is not due at `now`, or null. */
  nextDueAt(workflows: readonly string[], now: number): Promise<number | null>

  /** Names of workflows outside `workflows` that have pending runs (at most `limit`). */
  unknownWorkflows(workflows: readonly string[], limit: number): Promise<string[]>

  /**
   * Optional (retention and `reflow purge`): finished → deleted, for at most `limit` runs of
   * `statuses` (a subset of completed, failed, cancelled) that finished strictly before
   * `finishedBefore`, oldest first, with their steps and attempts, in one transaction. Pending,
   * running and waiting runs are never deleted (the guard is in the statement). Returns what this
   * batch deleted; fewer than `limit` runs means nothing more is selected. Callers loop, so each
   * transaction holds the write lock only briefly.
   */
  purgeFinished?(request: PurgeBatchRequest): Promise<PurgeBatchResult>

  /** Optional (retention): deletes at most `limit` events created strictly before `createdBefore`, oldest first. Returns how many. */
  purgeEvents?(createdBefore: number, limit: number): Promise<number>

  /**
   * Optional (retention): takes or renews the named lease for `holder` until `now + ttlMs`, when it
   * is free, expired (`expires <= now`) or already held by `holder`, in one fenced statement: of
   * several holders racing, at most one has it at any time. True when `holder` now holds it.
   */
  acquireLease?(name: string, holder: string, now: number, ttlMs: number): Promise<boolean>

  /** Optional (retention): gives the named lease up, if `holder` still holds it. */
  releaseLease?(name: string, holder: string): Promise<void>

  /**
   * Optional: throws a StorageError when the storage can no longer keep what it acknowledges (its
   * database file was deleted or replaced under it). The started engine calls it once per poll
   * interval and stops taking work when it throws.
   */
  verify?(): void

  /** Present when other connections' writes can be noticed cheaply. */
  readonly changes?: ChangeSource | undefined

  /** Persisted schedules; absent for a user's own StorageAdapter (the engine then keeps them in memory). */
  readonly schedules?: ScheduleStore | undefined

  /** Releases the store's resources; later calls fail. */
  close?(): void
}

/** Implemented by the built-in storages: the store behind the public adapter object. */
export const STORE: unique symbol = Symbol.for('reflow.store')

export interface HasStore {
  [STORE](): Store
}

export function hasStore(storage: object): storage is HasStore {
  return typeof (storage as Partial<HasStore>)[STORE] === 'function'
}

export type { AttemptStatus }

/** Who holds a lease, for people reading a run: `pid 1234 on host`. */
export function describeOwner(): string {
  let host = 'unknown host'
  try {
    host = hostname()
  } catch {
    // Some sandboxes refuse it; the pid alone still tells processes on one machine apart.
  }
  return `pid ${process.pid} on ${host}`
}

/** A run just created, as the store returns it without reading it back. */
export function newRunDetails(run: NewRun): RunDetails {
  return {
    id: run.id,
    workflow: run.workflow,
    input: run.input,
    status: 'pending',
    idempotencyKey: run.idempotencyKey,
    createdAt: run.createdAt,
    updatedAt: run.createdAt,
    availableAt: run.availableAt,
    currentStep: run.firstStep,
    wait: null,
    attempt: 0,
    interruptions: 0,
    leaseId: null,
    leaseOwner: null,
    heartbeatAt: null,
    startedAt: null,
    finishedAt: null,
    schedule: run.schedule ? { ...run.schedule } : null,
  }
}


/** The opaque cursor of a run page: the last run's creation time and id. */
export function encodeRunCursor(run: { createdAt: number; id: string }): string {
  return Buffer.from(JSON.stringify([run.createdAt, run.id])).toString('base64url')
}

/** Reads a cursor back; an InvalidArgumentError for anything `encodeRunCursor` did not make. */
export function decodeRunCursor(cursor: string): { createdAt: number; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown[]
    if (Number.isSafeInteger(createdAt) && typeof id === 'string') return { createdAt: createdAt as number, id }
  } catch {
    // falls through to the error below
  }
  throw new InvalidArgumentError(`not a run list cursor: ${JSON.stringify(cursor)}`)
}

/**
 * A run page from the rows a list read fetched: up to `limit + 1`, newest first (the one more tells
 * whether a next page exists without a second query). The first `limit` are summarised.
 */
export function runPage<R>(rows: readonly R[], limit: number, summarise: (row: R) => RunSummary): RunPage {
  const runs = rows.slice(0, limit).map(summarise)
  const last = runs.at(-1)
  return { runs, nextCursor: rows.length > limit && last ? encodeRunCursor(last) : null }
}

/** Checks a list query's limit (a positive integer). */
export function assertListLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError(`limit must be a positive integer, got ${String(limit)}`)
}
