/**
 * Every SQL statement the SQLite store runs, one named constant each (the schema is in
 * migrations.ts). Parameters are plain `?` (better-sqlite3 rejects numbered ones), so a value used
 * twice is bound twice. Workflow name lists are bound one `?` each (json_each costs a virtual table
 * per execution on the claim path) and the statements are cached per list length. Times are bound
 * by the caller from the engine's Clock; SQL never reads the wall clock.
 *
 * `available_at_ms` is the run's next moment of interest: for a pending run, when it becomes due;
 * for a running run, when its lease expires. One index over (status, available_at_ms) serves both
 * the claim of due runs and the search for expired leases.
 */

const RUN_COLUMNS = `id, workflow, status, input_json, idempotency_key, lease_id, lease_owner, created_at_ms, updated_at_ms,
  available_at_ms, current_step, attempt, interruptions, heartbeat_at_ms, started_at_ms, finished_at_ms, wait_json,
  schedule_id, schedule_slot_ms`
const STEP_COLUMNS = 'run_id, name, status, output_json, error, attempts, created_at_ms, updated_at_ms'
const ATTEMPT_COLUMNS = `run_id, step_name, attempt, status, started_at_ms, ended_at_ms, error_name, error_message, error_stack`

/** `?, ?, …`: one parameter per item of a list bound item by item. */
const params = (count: number): string => Array.from({ length: count }, () => '?').join(', ')

// Connection setup and transactions.

/** Open: wait instead of failing with SQLITE_BUSY while another connection holds a lock. */
export const pragmaBusyTimeout = (ms: number): string => `pragma busy_timeout = ${Math.trunc(ms)}`
/** Open: WAL lets readers run beside the single writer; the one setup pragma that writes the file. */
export const pragmaJournalModeWal = 'pragma journal_mode = wal'
/** Open: normal survives a process crash in WAL mode, full also survives power loss. */
export const pragmaSynchronous = (level: 'normal' | 'full'): string => `pragma synchronous = ${level}`
/** Open: makes `on delete cascade` from reflow_runs to reflow_steps and reflow_attempts effective. */
export const pragmaForeignKeysOn = 'pragma foreign_keys = on'
/** Change source: a number that moves whenever another connection commits (a shared-memory read). */
export const pragmaDataVersion = 'pragma data_version'
/** Every write batch and the migration: take the write lock up front so nothing upgrades mid-way. */
export const beginImmediate = 'begin immediate'
export const commit = 'commit'
export const rollback = 'rollback'

// Schema version (initialize).

/** Initialize, first read: is there a schema version record at all? (sqlite_master scan) */
export const selectMigrationsTableExists = `select 1 as found from sqlite_master where type = 'table' and name = 'reflow_migrations'`
/** Initialize, readonly: is this a reflow database? (sqlite_master scan) */
export const selectRunsTableExists = `select 1 as found from sqlite_master where type = 'table' and name = 'reflow_runs'`
/** Initialize: the recorded schema version. (reflow_migrations primary key) */
export const selectSchemaVersion = 'select coalesce(max(version), 0) as version from reflow_migrations'
/** Migrate: record a version in the transaction that applied it. (reflow_migrations primary key) */
export const insertMigration = 'insert into reflow_migrations (version, applied_at_ms) values (?, ?)'

// Runs: creation and reads.

/** createRun: none → pending, due at ?; a taken idempotency key inserts nothing. (unique reflow_runs_idempotency) */
export const insertRun = `insert into reflow_runs
  (id, workflow, status, input_json, idempotency_key, created_at_ms, updated_at_ms, available_at_ms, current_step)
values (?, ?, 'pending', ?, ?, ?, ?, ?, ?)
on conflict (workflow, idempotency_key) where idempotency_key is not null do nothing`

/** createRun, key taken: the run that holds it. (unique reflow_runs_idempotency) */
export const selectRunByIdempotencyKey = `select ${RUN_COLUMNS} from reflow_runs where workflow = ? and idempotency_key = ?`

/** getRun. (reflow_runs primary key) */
export const selectRun = `select ${RUN_COLUMNS} from reflow_runs where id = ?`

/** leaseStates, heartbeat of a lost lease: what became of the run. (reflow_runs primary key) */
export const selectLeaseState = `select status, lease_id from reflow_runs where id = ?`

// Claims.

/** What a claim returns: the run, and whether it has recorded steps to load. (reflow_steps primary key prefix, covering) */
const CLAIMED_COLUMNS = `${RUN_COLUMNS}, exists (select 1 from reflow_steps where run_id = reflow_runs.id) as has_steps`

/** The lease a claim grants: lease id, owner, expiry, heartbeat, updated, started-if-first. */
const GRANT_LEASE = `status = 'running', lease_id = ?, lease_owner = ?, available_at_ms = ?, heartbeat_at_ms = ?, updated_at_ms = ?,
  started_at_ms = coalesce(started_at_ms, ?)`

/**
 * An expired lease, judged at ? (now): its expiry has passed, or its last heartbeat is more than a
 * lease beyond now (?: now + lease), which only a clock that jumped back can produce, or it was last
 * renewed before ? (the public claimNextRun's staleBefore, which binds the first two so they never hold;
 * a running run without any heartbeat, which only updateRunStatus can make, is stale for it at once).
 */
const EXPIRED = `status = 'running' and (available_at_ms <= ? or heartbeat_at_ms > ? or ifnull(heartbeat_at_ms, -1) < ?)`

/**
 * Claim, before taking the write lock: is any run of `names` workflows due at ? (pending, or waiting
 * and woken), or expired (EXPIRED
 * binds)? A read, so an engine with nothing to do never contends for the lock. (reflow_runs_claim)
 */
export const selectClaimableExists = (names: number): string => `select exists (
  select 1 from reflow_runs where status in ('pending', 'waiting') and available_at_ms <= ? and workflow in (${params(names)})
) or exists (
  select 1 from reflow_runs where ${EXPIRED} and workflow in (${params(names)})
) as found`

/**
 * Claim, no expired leases wanted (the usual case): the earliest due pending run of `names` → running
 * under a fresh lease (GRANT_LEASE binds, then now, then the names); no row when none is due. Run once
 * per run claimed. (reflow_runs_claim, reflow_runs rowid)
 */
export const claimNextDue = (names: number): string => `update reflow_runs set ${GRANT_LEASE}
where rowid = (
  select rowid from reflow_runs where status = 'pending' and available_at_ms <= ? and workflow in (${params(names)})
  order by available_at_ms, rowid limit 1)
returning ${CLAIMED_COLUMNS}`

/** Claim, candidates: waiting runs of `names` due at ? (a sleep ended, an event came, a timeout), then names, limit. (reflow_runs_claim) */
export const selectWokenCandidates = (names: number): string => `select rowid as position, id, available_at_ms from reflow_runs
where status = 'waiting' and available_at_ms <= ? and workflow in (${params(names)})
order by available_at_ms, rowid limit ?`

/** Claim with expired leases or woken runs about, candidates: due pending runs of `names` at ?, then names, limit. (reflow_runs_claim) */
export const selectDueCandidates = (names: number): string => `select rowid as position, id, available_at_ms from reflow_runs
where status = 'pending' and available_at_ms <= ? and workflow in (${params(names)})
order by available_at_ms, rowid limit ?`

/** Claim, candidates: running runs with an expired lease (EXPIRED binds), then names, limit. (reflow_runs_claim) */
export const selectExpiredCandidates = (names: number): string => `select rowid as position, id, available_at_ms from reflow_runs
where ${EXPIRED} and workflow in (${params(names)})
order by available_at_ms, rowid limit ?`

/** Claim: a due pending or woken waiting candidate (re-checked at ?) → running under a fresh lease (GRANT_LEASE binds first). (reflow_runs rowid) */
export const claimDueRun = `update reflow_runs set ${GRANT_LEASE}
where rowid = ? and status in ('pending', 'waiting') and available_at_ms <= ?
returning ${CLAIMED_COLUMNS}`

/**
 * Claim: an expired candidate (re-checked, EXPIRED binds) → running under a fresh lease, one more
 * interruption of its current step. Returns the old heartbeat for the interrupted attempt's record.
 * (reflow_runs rowid)
 */
export const claimExpiredRun = `update reflow_runs set ${GRANT_LEASE}, interruptions = interruptions + 1
where rowid = ? and ${EXPIRED}
returning ${CLAIMED_COLUMNS}`

/** nextDueAt: the earliest due time after ? of a pending run of `names`, and after ? of a waiting one. (reflow_runs_claim) */
export const selectNextDue = (names: number): string => `select min(t) as available_at_ms from (
  select (select available_at_ms from reflow_runs where status = 'pending' and available_at_ms > ? and workflow in (${params(names)})
    order by available_at_ms limit 1) as t
  union all
  select (select available_at_ms from reflow_runs where status = 'waiting' and available_at_ms > ? and workflow in (${params(names)})
    order by available_at_ms limit 1)
)`

/** unknownWorkflows: pending runs' workflows outside `names`, then the limit. (reflow_runs_claim, covering) */
export const selectUnknownWorkflows = (names: number): string => `select distinct workflow from reflow_runs
where status = 'pending' and workflow not in (${params(names)}) limit ?`

// Transitions under a lease: each statement carries the fence and its changed-row count decides.

const HELD = `id = ? and lease_id = ? and status = 'running'`

/** heartbeat: running → running, lease expiry and heartbeat moved on. Fenced. (reflow_runs primary key) */
export const heartbeatRun = `update reflow_runs set available_at_ms = ?, heartbeat_at_ms = ?, updated_at_ms = ? where ${HELD}`

/** recordStep: running → running, the next step current, attempt state and wait reset. Fenced. (reflow_runs primary key) */
export const advanceRun = `update reflow_runs set current_step = ?, attempt = 0, interruptions = 0, wait_json = null, wait_event = null,
  wait_key = null, updated_at_ms = ? where ${HELD}`

/** recordFailure before onFailure: running → running (touched). Fenced. (reflow_runs primary key) */
export const touchRun = `update reflow_runs set updated_at_ms = ? where ${HELD}`

/** finish, recordStep(complete), recordFailure(finish): running → completed | failed, lease released. Fenced. (reflow_runs primary key) */
export const finishRun = `update reflow_runs
set status = ?, lease_id = null, available_at_ms = null, current_step = ?, wait_json = null, wait_event = null, wait_key = null,
  finished_at_ms = ?, updated_at_ms = ?
where ${HELD}`

/** release: running → pending due at ?, with the attempt state given, lease released. Fenced. (reflow_runs primary key) */
export const releaseRun = `update reflow_runs
set status = 'pending', lease_id = null, lease_owner = null, heartbeat_at_ms = null, available_at_ms = ?, attempt = ?,
  interruptions = ?, updated_at_ms = ?
where ${HELD}`

// Transitions without a lease.

/** cancel: pending | running | waiting → cancelled, lease released. (reflow_runs primary key) */
export const cancelRun = `update reflow_runs
set status = 'cancelled', lease_id = null, available_at_ms = null, wait_event = null, wait_key = null, finished_at_ms = ?, updated_at_ms = ?
where id = ? and status in ('pending', 'running', 'waiting')`

/** retry: failed | cancelled → pending due at ?, attempt state reset, current step ? (or kept). (reflow_runs primary key) */
export const retryRun = `update reflow_runs
set status = 'pending', lease_id = null, lease_owner = null, heartbeat_at_ms = null, finished_at_ms = null,
  available_at_ms = ?, attempt = 0, interruptions = 0, current_step = coalesce(?, current_step), wait_json = null,
  updated_at_ms = ?
where id = ? and status in ('failed', 'cancelled')`

// Steps. A run's steps are numbered 1, 2, … in recording order with no gaps (retry renumbers what it
// keeps), so a new step's seq is the covering-index count + 1: max(seq) would read every row.

/**
 * recordStep, recordFailure, after their fenced run update in the same transaction:
 * none|recorded → recorded; keeps seq and created_at. (reflow_steps primary key)
 */
export const upsertStep = `insert into reflow_steps (run_id, name, seq, status, output_json, error, attempts, created_at_ms, updated_at_ms, event_id)
values (?, ?, (select count(*) + 1 from reflow_steps where run_id = ?), ?, ?, ?, ?, ?, ?, ?)
on conflict (run_id, name) do update set
  status = excluded.status, output_json = excluded.output_json, error = excluded.error,
  attempts = excluded.attempts, updated_at_ms = excluded.updated_at_ms, event_id = excluded.event_id`

/** The public adapter's saveStepResult without a lease: the same upsert, only if the run exists. (reflow_steps, reflow_runs primary keys) */
export const upsertStepIfRunExists = `insert into reflow_steps (run_id, name, seq, status, output_json, error, attempts, created_at_ms, updated_at_ms, event_id)
select ?, ?, (select count(*) + 1 from reflow_steps where run_id = ?), ?, ?, ?, ?, ?, ?, ?
where exists (select 1 from reflow_runs where id = ?)
on conflict (run_id, name) do update set
  status = excluded.status, output_json = excluded.output_json, error = excluded.error,
  attempts = excluded.attempts, updated_at_ms = excluded.updated_at_ms`

/** retry: drop failed step results so the run resumes at the step that failed. (reflow_steps primary key prefix) */
export const deleteFailedSteps = `delete from reflow_steps where run_id = ? and status = 'failed'`

/** retry from a step: drop that step's result and every one recorded after it. (reflow_steps primary key prefix) */
export const deleteStepsFrom = `delete from reflow_steps
where run_id = ? and seq >= (select seq from reflow_steps where run_id = ? and name = ?)`

/** retry, after dropping failed steps: the seq of the kept steps, in order. (reflow_steps primary key prefix) */
export const selectStepSeqs = `select name, seq from reflow_steps where run_id = ? order by seq`

/** retry: renumber one kept step, closing the gaps deletion left. (reflow_steps primary key) */
export const updateStepSeq = `update reflow_steps set seq = ? where run_id = ? and name = ?`

/** getSteps: one run's steps in recording order. (reflow_steps primary key prefix) */
export const selectSteps = `select ${STEP_COLUMNS} from reflow_steps where run_id = ? order by seq`

/** Claim: the steps of every claimed run (one `?` per run) in one query. (reflow_steps primary key prefix) */
export const selectStepsOfRuns = (runs: number): string => `select ${STEP_COLUMNS} from reflow_steps
where run_id in (${params(runs)}) order by run_id, seq`

// Attempts.

/** recordFailure, release, claim of an expired lease: one failed or interrupted attempt. (reflow_attempts rowid) */
export const insertAttempt = `insert into reflow_attempts (${ATTEMPT_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?)`

/** getAttempts: a run's attempts, oldest first. (reflow_attempts_run) */
export const selectAttempts = `select ${ATTEMPT_COLUMNS} from reflow_attempts where run_id = ? order by id`

// The public StorageAdapter methods that have no transition of their own (adapter.ts).

/** heartbeatRun: running → running, heartbeat now, expiry moved by the lease's own length. Fenced. (reflow_runs primary key) */
export const heartbeatKeepingLength = `update reflow_runs
set available_at_ms = ? + coalesce(available_at_ms - heartbeat_at_ms, 30000), heartbeat_at_ms = ?, updated_at_ms = ?
where ${HELD}`

/**
 * updateRunStatus: pending | running → any, lease released; due now when pending, lease expired now
 * when running, finish time when terminal. (reflow_runs primary key)
 */
export const setRunStatus = `update reflow_runs
set status = ?, lease_id = null, lease_owner = null, heartbeat_at_ms = null, available_at_ms = ?, finished_at_ms = ?, updated_at_ms = ?
where id = ? and status in ('pending', 'running')`

/** updateClaimedRunStatus: running → any under the lease; the caller binds lease and due time for the new status. Fenced. (reflow_runs primary key) */
export const setClaimedRunStatus = `update reflow_runs
set status = ?, lease_id = ?, available_at_ms = ?, finished_at_ms = ?, updated_at_ms = ?
where ${HELD}`

// Waiting and events.

/**
 * park: running → waiting under the lease, the lease released; due at ? (a sleep's end, a wait's
 * timeout, or null: only an emit wakes it), with the wait (JSON, event, key). Fenced. (reflow_runs primary key)
 */
export const parkRun = `update reflow_runs
set status = 'waiting', lease_id = null, lease_owner = null, heartbeat_at_ms = null, available_at_ms = ?, wait_json = ?,
  wait_event = ?, wait_key = ?, updated_at_ms = ?
where ${HELD}`

/**
 * findEvent, park: the earliest event of name ? and key ? emitted at or after ? (the run's creation)
 * that run ? has not received. (reflow_events_lookup; reflow_steps primary key prefix)
 */
export const selectUnreceivedEvent = `select id, payload_json from reflow_events e
where e.name = ? and e.key = ? and e.created_at_ms >= ?
  and not exists (select 1 from reflow_steps s where s.run_id = ? and s.event_id = e.id)
order by e.created_at_ms, e.id limit 1`

/** findEvent, park: when run ? was created. (reflow_runs primary key) */
export const selectRunCreatedAt = `select created_at_ms from reflow_runs where id = ?`

/** emit: none → stored; a used idempotency key for the name inserts nothing. (unique reflow_events_idempotency) */
export const insertEvent = `insert into reflow_events (name, key, payload_json, idempotency_key, created_at_ms) values (?, ?, ?, ?, ?)
on conflict (name, idempotency_key) where idempotency_key is not null do nothing
returning id`

/** emit, idempotency key used: the event that holds it. (unique reflow_events_idempotency) */
export const selectEventByIdempotencyKey = `select id, payload_json from reflow_events where name = ? and idempotency_key = ?`

/** emit: waiting for name ? and key ? → due now (?), in the transaction that stored the event. (reflow_runs_waiting) */
export const wakeWaitingRuns = `update reflow_runs set available_at_ms = ?, updated_at_ms = ?
where status = 'waiting' and wait_event = ? and wait_key = ?`

// Retention and purge: finished → deleted in batches; old events; the retention lease.

/**
 * The statuses a purge may ever delete: the guard every purge statement repeats. The unary `+` keeps
 * the planner off the (status, available_at_ms) index, which would read every finished run per batch.
 */
const FINISHED_GUARD = `+status in ('completed', 'failed', 'cancelled')`

/** purgeFinished: one batch of finished runs of the statuses in the JSON list (?) that finished before ?, oldest first, with step counts. (reflow_runs_finished; reflow_steps primary key prefix) */
export const selectPurgeBatch = `select id, workflow, status, (select count(*) from reflow_steps where run_id = reflow_runs.id) as steps
from reflow_runs
where finished_at_ms < ? and +status in (select value from json_each(?)) and ${FINISHED_GUARD}
order by finished_at_ms limit ?`

/** purgeFinished: the batch's steps (JSON list of run ids). (reflow_steps primary key prefix) */
export const deletePurgeBatchSteps = `delete from reflow_steps where run_id in (select value from json_each(?))`

/** purgeFinished: the batch's attempts (JSON list of run ids). (reflow_attempts_run) */
export const deletePurgeBatchAttempts = `delete from reflow_attempts where run_id in (select value from json_each(?))`

/** purgeFinished: finished → deleted for the batch (JSON list of run ids), never a run that can still change. (primary key) */
export const deletePurgeBatchRuns = `delete from reflow_runs where id in (select value from json_each(?)) and ${FINISHED_GUARD}`

/** purgeEvents: events created before ?, oldest first, at most ?. (reflow_events_created) */
export const deleteOldEvents = `delete from reflow_events where id in (
  select id from reflow_events where created_at_ms < ? order by created_at_ms limit ?)`

/** acquireLease: take the named lease (name, holder, expires) when free, expired at ? or already ours. (primary key) */
export const acquireLease = `insert into reflow_leases (name, holder, expires_at_ms) values (?, ?, ?)
on conflict (name) do update set holder = excluded.holder, expires_at_ms = excluded.expires_at_ms
where reflow_leases.expires_at_ms <= ? or reflow_leases.holder = excluded.holder`

/** releaseLease: give the named lease up if ? still holds it. (primary key) */
export const releaseLease = `delete from reflow_leases where name = ? and holder = ?`

// Schedules.

const SCHEDULE_COLUMNS = `id, workflow, spec_json, input_json, declared, last_slot_ms, next_slot_ms, paused, last_run_id,
  skipped_count, last_skipped_slot_ms, updated_at_ms`

/** Schedules list: every schedule by id. (reflow_schedules primary key) */
export const selectSchedules = `select ${SCHEDULE_COLUMNS} from reflow_schedules order by id`

/** Schedules get. (reflow_schedules primary key) */
export const selectSchedule = `select ${SCHEDULE_COLUMNS} from reflow_schedules where id = ?`

/** Schedule upsert: a new schedule, or a changed workflow, spec or input with its recomputed next slot. (reflow_schedules primary key) */
export const upsertSchedule = `insert into reflow_schedules
  (id, workflow, spec_json, input_json, declared, next_slot_ms, created_at_ms, updated_at_ms)
values (?, ?, ?, ?, ?, ?, ?, ?)
on conflict (id) do update set workflow = excluded.workflow, spec_json = excluded.spec_json, input_json = excluded.input_json,
  declared = excluded.declared, next_slot_ms = excluded.next_slot_ms, updated_at_ms = excluded.updated_at_ms
where workflow is not excluded.workflow or spec_json is not excluded.spec_json or input_json is not excluded.input_json
  or declared is not excluded.declared`

/** Schedule removal: one declared schedule. (reflow_schedules primary key) */
export const deleteDeclaredSchedule = `delete from reflow_schedules where id = ? and declared = 1`

/** Declared schedule ids, for removal of those no longer declared. (reflow_schedules scan) */
export const selectDeclaredSchedules = `select id, workflow from reflow_schedules where declared = 1`

/**
 * Fire a slot, the first guard: advance the high-water mark to ? only while it is older (and the
 * schedule is not paused), adding skipped slots. (reflow_schedules primary key)
 */
export const advanceSchedule = `update reflow_schedules set last_slot_ms = ?, next_slot_ms = ?,
  skipped_count = skipped_count + ?, last_skipped_slot_ms = coalesce(?, last_skipped_slot_ms), updated_at_ms = ?
where id = ? and paused = 0 and (last_slot_ms is null or last_slot_ms < ?)`

/** Fire a slot with overlap skip: is the schedule's last run unfinished? (reflow_schedules, reflow_runs primary keys) */
export const selectScheduleLastRunOpen = `select 1 as open from reflow_schedules s join reflow_runs r on r.id = s.last_run_id
where s.id = ? and r.status in ('pending', 'running', 'waiting')`

/** Fire a slot: the run it made. (reflow_schedules primary key) */
export const setScheduleLastRun = `update reflow_schedules set last_run_id = ? where id = ?`

/** Fire a slot, overlap: record the slot as skipped. (reflow_schedules primary key) */
export const skipScheduleSlot = `update reflow_schedules set skipped_count = skipped_count + 1, last_skipped_slot_ms = ? where id = ?`

/** createRun by a schedule: none → pending, naming the schedule and slot; a taken key inserts nothing. (unique reflow_runs_idempotency) */
export const insertScheduledRun = `insert into reflow_runs
  (id, workflow, status, input_json, idempotency_key, created_at_ms, updated_at_ms, available_at_ms, current_step, schedule_id, schedule_slot_ms)
values (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)
on conflict (workflow, idempotency_key) where idempotency_key is not null do nothing`

/** Pause or resume (resume takes a new next slot, else it is kept). (reflow_schedules primary key) */
export const setSchedulePaused = `update reflow_schedules set paused = ?, next_slot_ms = coalesce(?, next_slot_ms), updated_at_ms = ? where id = ?`
