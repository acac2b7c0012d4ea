/**
 * Every SQL statement the Postgres store runs, one named constant each (the schema is in
 * migrations.ts), in the notation of sql.ts: `:name` parameters, bare table names, `{now}` for the
 * judging clock and `{at:name}` for a time the engine computed.
 *
 * Most transitions are one statement: the fenced update of the run is a data-modifying CTE, and the
 * writes that belong to it (its step, its attempt) select from it, so they happen only when the
 * fence held, atomically, in one round trip. The exceptions take an explicit transaction: parking
 * on an event and emitting one (an advisory lock on the event's name and key orders them, so no
 * emit slips between a wait's look and its park), retry and schedule slots.
 */

const RUN_COLUMNS = `id, workflow, status, input_json, idempotency_key, lease_id, lease_owner, created_at_ms, updated_at_ms,
  available_at_ms, current_step, attempt, interruptions, heartbeat_at_ms, started_at_ms, finished_at_ms, wait_json,
  schedule_id, schedule_slot_ms`
const STEP_COLUMNS = 'run_id, name, status, output_json, error, attempts, created_at_ms, updated_at_ms'
const ATTEMPT_COLUMNS = 'run_id, step_name, attempt, status, started_at_ms, ended_at_ms, error_name, error_message, error_stack'

/** The fence of every write under a lease. */
const HELD = `id = :runId and lease_id = :leaseId and status = 'running'`

// Schema (initialize).

/** initialize: one process at a time creates or migrates a schema (held until the transaction ends). */
export const lockMigrations = `select pg_advisory_xact_lock(hashtext('reflow-ts migrations'), hashtext(:schema))`
/** initialize: the schema itself (outside the compiler: its name is quoted by the caller). */
export const createSchema = (quoted: string): string => `create schema if not exists ${quoted}`
/** initialize: the version record. */
export const createMigrationsTable = `create table if not exists reflow_migrations (version integer primary key, applied_at_ms bigint not null)`
/** initialize: is there a schema version record at all? (catalog) */
export const selectMigrationsTableExists = `select to_regclass(:qualified) is not null as found`
/** initialize: the recorded schema version. (reflow_migrations primary key) */
export const selectSchemaVersion = 'select coalesce(max(version), 0) as version from reflow_migrations'
/** initialize: record a version in the transaction that applied it. */
export const insertMigration = 'insert into reflow_migrations (version, applied_at_ms) values (:version::integer, {now})'
// Runs: creation and reads.

/** createRun, and a schedule's fire or trigger (naming the schedule and slot): none → pending, due at :availableAt; a taken idempotency key inserts nothing. (unique reflow_runs_idempotency) */
export const insertRun = `insert into reflow_runs
  (id, workflow, status, input_json, idempotency_key, created_at_ms, updated_at_ms, available_at_ms, current_step, schedule_id, schedule_slot_ms)
values (:id, :workflow, 'pending', :inputJson, :idempotencyKey, {at:createdAt}, {at:createdAt}, {at:availableAt}, :firstStep,
  :scheduleId, :slotMs)
on conflict (workflow, idempotency_key) where idempotency_key is not null do nothing
returning created_at_ms, available_at_ms`

/** createRun, key taken: the run that holds it. (unique reflow_runs_idempotency) */
export const selectRunByIdempotencyKey = `select ${RUN_COLUMNS} from reflow_runs where workflow = :workflow and idempotency_key = :idempotencyKey`

/** getRun. (primary key) */
export const selectRun = `select ${RUN_COLUMNS} from reflow_runs where id = :runId`

/** leaseStates, heartbeat of a lost lease: what became of each run. (primary key) */
export const selectLeaseStates = `select id, status, lease_id from reflow_runs where id = any(:ids)`

// Claims.

/**
 * A lease expired at {now}: its expiry passed, or its heartbeat is more than a lease ahead of now
 * (only an engine clock that jumped back writes that); with a staleBefore, only a heartbeat older
 * than it (the public claimNextRun).
 */
const EXPIRED = `(available_at_ms <= {now} or heartbeat_at_ms > {now} + :leaseMs)`
const STALE = `coalesce(heartbeat_at_ms, -1) < {at:staleBefore}`

/**
 * A parked wait's deadline (`until` of a sleep, `timeoutAt` of an event wait) is stored like its due
 * time, on the judging clock (WAIT_JSON_AT_DUE); a claim hands it back on the claiming engine's
 * clock, which the executor compares it with. (Kept on the parking engine's clock, a resumer whose
 * clock is behind found the sleep not over and parked it again for the difference.)
 */
const WAIT_JSON_ON_ENGINE_CLOCK = `(select jsonb_object_agg(k, case when k in ('until', 'timeoutAt') and jsonb_typeof(v) = 'number'
    then to_jsonb((v #>> '{}')::numeric - {now} + :now) else v end)::text
  from jsonb_each(wait_json::jsonb) as w(k, v))`
const CLAIMED_RUN_COLUMNS = RUN_COLUMNS.replace(/\bwait_json\b/, `${WAIT_JSON_ON_ENGINE_CLOCK} as wait_json`)

/** Which runs a claim considers, beyond the due pending ones. */
export interface ClaimKinds {
  woken: boolean
  expired: 'no' | 'lease' | 'stale'
}

/**
 * Claim: up to :limit due runs of :workflows → running under fresh leases, earliest due first, in
 * one statement. Each kind of candidate is an index range of its own partial index, locked with
 * `skip locked` so concurrent claimers pass over each other's rows instead of waiting; an expired
 * lease counts one interruption and records it as an interrupted attempt. Returns the claimed runs
 * and whether each has recorded steps to load. (reflow_runs_pending, _woken, _leased)
 */
export function claimRuns(kinds: ClaimKinds): string {
  const kindsSql = [
    `pending as (select id, available_at_ms, position, false as expired from reflow_runs
  where status = 'pending' and available_at_ms <= {now} and workflow = any(:workflows)
  order by available_at_ms, position limit :limit for update skip locked)`,
  ]
  if (kinds.woken) {
    kindsSql.push(`woken as (select id, available_at_ms, position, false as expired from reflow_runs
  where status = 'waiting' and available_at_ms <= {now} and workflow = any(:workflows)
  order by available_at_ms, position limit :limit for update skip locked)`)
  }
  if (kinds.expired !== 'no') {
    kindsSql.push(`expired as (select id, available_at_ms, position, true as expired from reflow_runs
  where status = 'running' and ${kinds.expired === 'lease' ? EXPIRED : STALE} and workflow = any(:workflows)
    and not (id = any(:exclude))
  order by available_at_ms, position limit :limit for update skip locked)`)
  }
  const names = kindsSql.map((sql) => sql.slice(0, sql.indexOf(' ')))
  const picked = names.length === 1
    ? names[0]
    : `(select * from (${names.map((n) => `select * from ${n}`).join(' union all ')}) c order by available_at_ms, position limit :limit)`
  return `with ${kindsSql.join(',\n')},
claimed as (
  update reflow_runs r set status = 'running', lease_id = gen_random_uuid()::text, lease_owner = :owner,
    available_at_ms = {now} + :leaseMs, heartbeat_at_ms = {now}, updated_at_ms = {now}, started_at_ms = coalesce(r.started_at_ms, {now}),
    interruptions = r.interruptions + (case when p.expired then 1 else 0 end)
  from ${picked} p
  where r.id = p.id
  returning r.*, p.expired, p.available_at_ms as expired_at_ms, p.position as due_position
),
interrupted as (
  insert into reflow_attempts (${ATTEMPT_COLUMNS})
  select id, current_step, attempt + interruptions, 'interrupted', null, least(expired_at_ms, {now}), 'LeaseExpiredError',
    'The worker executing this step stopped renewing its lease (it crashed, was killed, froze or lost the database); '
      || :owner || ' took the run over', null
  from claimed where expired and current_step is not null
)
select ${CLAIMED_RUN_COLUMNS}, exists (select 1 from reflow_steps s where s.run_id = claimed.id) as has_steps
from claimed order by expired_at_ms, due_position`
}

/** Claim: the steps of the claimed runs that have some, in one query. (reflow_steps primary key prefix) */
export const selectStepsOfRuns = `select ${STEP_COLUMNS} from reflow_steps where run_id = any(:ids) order by run_id, seq`

/**
 * nextDueAt: the earliest due time after now (less :graceMs) of a pending or waiting run of
 * :workflows, as a time on the engine's clock. (reflow_runs_pending, reflow_runs_woken)
 */
export const selectNextDue = `select min(available_at_ms) - {now} + :now as due from (
  (select available_at_ms from reflow_runs where status = 'pending' and available_at_ms > {now} - :graceMs
    and workflow = any(:workflows) order by available_at_ms limit 1)
  union all
  (select available_at_ms from reflow_runs where status = 'waiting' and available_at_ms > {now} - :graceMs
    and workflow = any(:workflows) order by available_at_ms limit 1)
) t`

/** unknownWorkflows: workflows outside :workflows with pending runs. (reflow_runs_pending) */
export const selectUnknownWorkflows = `select distinct workflow from reflow_runs
where status = 'pending' and not (workflow = any(:workflows)) limit :limit`

// Transitions under a lease: the fence is in the statement, and what it writes besides selects from it.

/** heartbeat: running → running, expiry and heartbeat moved on, for each (id, lease) held. Fenced. (primary key) */
export const heartbeatRuns = `update reflow_runs r set available_at_ms = {now} + :leaseMs, heartbeat_at_ms = {now}, updated_at_ms = {now}
from unnest(:ids, :leaseIds) as l(id, lease_id)
where r.id = l.id and r.lease_id = l.lease_id and r.status = 'running'
returning r.id`

/** The upsert of one step result, from the rows of `fenced`: none|recorded → recorded, keeping seq and created_at. */
const UPSERT_STEP = `insert into reflow_steps (run_id, name, seq, status, output_json, error, attempts, created_at_ms, updated_at_ms, event_id)
select id, :name, (select count(*) + 1 from reflow_steps where run_id = :runId), :stepStatus, :outputJson, :error, :attempts,
  {at:startedAt}, {at:endedAt}, :eventId
from fenced
on conflict (run_id, name) do update set status = excluded.status, output_json = excluded.output_json, error = excluded.error,
  attempts = excluded.attempts, updated_at_ms = excluded.updated_at_ms, event_id = excluded.event_id`

/** The insert of one failed or interrupted attempt, from the rows of `fenced`. */
const INSERT_ATTEMPT = `insert into reflow_attempts (${ATTEMPT_COLUMNS})
select id, :attemptStep, :attempt, :attemptStatus, {at:attemptStartedAt}, {at:attemptEndedAt}, :errorName, :errorMessage, :errorStack
from fenced`

/** running → completed | failed under the lease, lease released, current step set to `step` (an expression). */
const finishFenced = (step: string): string => `update reflow_runs
  set status = :status, lease_id = null, available_at_ms = null, current_step = ${step}, wait_json = null, wait_event = null,
    wait_key = null, finished_at_ms = {now}, updated_at_ms = {now}
  where ${HELD} returning id`

/** recordStep: running → running with :nextStep current and attempt state and wait reset, and the step upserted. Fenced. */
export const advanceWithStep = `with fenced as (
  update reflow_runs set current_step = :nextStep, attempt = 0, interruptions = 0, wait_json = null, wait_event = null,
    wait_key = null, updated_at_ms = {now}
  where ${HELD} returning id
)
${UPSERT_STEP}`

/** recordStep(complete): running → completed with the step upserted, lease released. Fenced. */
export const completeWithStep = `with fenced as (${finishFenced('null')})
${UPSERT_STEP}`

/**
 * recordStep for several runs at once (a group commit's step records as one statement): each row of
 * the arrays is one recordStep, advancing its run or completing it, fenced by its own lease; the
 * step upserted only where its fence held. Returns the ids of the runs written. (primary keys)
 */
export const recordSteps = `with i as (
  select * from unnest(:runIds, :leaseIds, :nextSteps, :completes, :stepNames, :stepStatuses, :outputs, :errors, :attemptCounts,
    :nows, :startedAts, :endedAts, :eventIds)
    as i(run_id, lease_id, next_step, complete, name, step_status, output_json, error, attempts, now, started_at, ended_at, event_id)
),
fenced as (
  update reflow_runs r
  set status = case when i.complete then 'completed' else r.status end,
    lease_id = case when i.complete then null else r.lease_id end,
    available_at_ms = case when i.complete then null else r.available_at_ms end,
    current_step = case when i.complete then null else i.next_step end,
    attempt = case when i.complete then r.attempt else 0 end,
    interruptions = case when i.complete then r.interruptions else 0 end,
    wait_json = null, wait_event = null, wait_key = null,
    finished_at_ms = case when i.complete then {row.now} else r.finished_at_ms end,
    updated_at_ms = {row.now}
  from i
  where r.id = i.run_id and r.lease_id = i.lease_id and r.status = 'running'
  returning r.id
),
steps as (
  insert into reflow_steps (run_id, name, seq, status, output_json, error, attempts, created_at_ms, updated_at_ms, event_id)
  select i.run_id, i.name, (select count(*) + 1 from reflow_steps s where s.run_id = i.run_id), i.step_status, i.output_json, i.error,
    i.attempts, {row.at:started_at}, {row.at:ended_at}, i.event_id
  from i join fenced f on f.id = i.run_id
  on conflict (run_id, name) do update set status = excluded.status, output_json = excluded.output_json, error = excluded.error,
    attempts = excluded.attempts, updated_at_ms = excluded.updated_at_ms, event_id = excluded.event_id
)
select id from fenced`

/** recordFailure: the failed step and its last attempt, and the run touched (or failed, :finish). Fenced. */
export const recordFailure = `with fenced as (
  update reflow_runs
  set status = case when :finish then 'failed' else status end,
    lease_id = case when :finish then null else lease_id end,
    available_at_ms = case when :finish then null else available_at_ms end,
    current_step = case when :finish then :name else current_step end,
    finished_at_ms = case when :finish then {now} else finished_at_ms end,
    updated_at_ms = {now}
  where ${HELD} returning id
),
step as (${UPSERT_STEP}),
attempt as (${INSERT_ATTEMPT})
select count(*)::integer as applied from fenced`

/** finish: running → completed | failed under the lease, keeping the current step of a failed run. Fenced. (primary key) */
export const finishRun = finishFenced(`case when :status = 'completed' then null else current_step end`)

/** release: running → pending due at :availableAt with the attempt state given, lease released; with its attempt. Fenced. */
export const releaseRun = (withAttempt: boolean): string => `with fenced as (
  update reflow_runs
  set status = 'pending', lease_id = null, lease_owner = null, heartbeat_at_ms = null, available_at_ms = {at:availableAt},
    attempt = :attempt, interruptions = :interruptions, updated_at_ms = {now}
  where ${HELD} returning id
)${withAttempt ? `,\nattempt as (${INSERT_ATTEMPT})` : ''}
select count(*)::integer as applied from fenced`

/** The wait to store: its deadline (:waitTimeKey) replaced by :due on the judging clock (see WAIT_JSON_ON_ENGINE_CLOCK). */
const WAIT_JSON_AT_DUE = `case when :due is null then :waitJson
  else jsonb_set(:waitJson::jsonb, array[:waitTimeKey], to_jsonb({at:due}))::text end`

/** park for a sleep: running → waiting due at :due, lease released. Fenced. (primary key) */
export const parkRun = `update reflow_runs
set status = 'waiting', lease_id = null, lease_owner = null, heartbeat_at_ms = null, available_at_ms = {at:due},
  wait_json = ${WAIT_JSON_AT_DUE}, wait_event = :waitEvent, wait_key = :waitKey, updated_at_ms = {now}
where ${HELD}`

/**
 * The earliest event of :name and :key emitted since run :runId was created that no step of the run
 * has received. (reflow_events_lookup; reflow_steps primary key prefix)
 */
const UNRECEIVED_EVENT = `select e.id, e.payload_json from reflow_events e join reflow_runs r on r.id = :runId
where e.name = :name and e.key = :key and e.created_at_ms >= r.created_at_ms
  and not exists (select 1 from reflow_steps s where s.run_id = :runId and s.event_id = e.id)
order by e.created_at_ms, e.id limit 1`

/** findEvent. */
export const selectUnreceivedEvent = UNRECEIVED_EVENT

/** park and emit: orders the two for one event name and key (held until the transaction ends). */
export const lockEvent = `select pg_advisory_xact_lock(hashtext(:scope), hashtext(json_build_array(:name, :key)::text))`

/**
 * park for an event, under lockEvent: the event already there → the run touched and the event
 * returned; else running → waiting (due at :due, the timeout, or never), lease released. Fenced:
 * `applied` is 0 when the lease is gone.
 */
export const parkForEvent = `with event as (${UNRECEIVED_EVENT}),
touched as (
  update reflow_runs set updated_at_ms = {now} where ${HELD} and exists (select 1 from event) returning id
),
parked as (
  update reflow_runs
  set status = 'waiting', lease_id = null, lease_owner = null, heartbeat_at_ms = null, available_at_ms = {at:due},
    wait_json = ${WAIT_JSON_AT_DUE}, wait_event = :name, wait_key = :key, updated_at_ms = {now}
  where ${HELD} and not exists (select 1 from event) returning id
)
select (select id from event) as event_id, (select payload_json from event) as payload_json,
  ((select count(*) from touched) + (select count(*) from parked))::integer as applied`

/**
 * emit, under lockEvent: stores the event and makes every run waiting for its name and key due now;
 * a used idempotency key for the name stores and wakes nothing. (unique reflow_events_idempotency, reflow_runs_waiting)
 */
export const insertEventAndWake = `with event as (
  insert into reflow_events (name, key, payload_json, idempotency_key, created_at_ms)
  values (:name, :key, :payloadJson, :idempotencyKey, {now})
  on conflict (name, idempotency_key) where idempotency_key is not null do nothing
  returning id
),
woken as (
  update reflow_runs set available_at_ms = {now}, updated_at_ms = {now}
  where status = 'waiting' and wait_event = :name and wait_key = :key and exists (select 1 from event)
)
select id from event`

/** emit, idempotency key used: the event that holds it. (unique reflow_events_idempotency) */
export const selectEventByIdempotencyKey = `select id, payload_json from reflow_events where name = :name and idempotency_key = :idempotencyKey`

// Transitions without a lease.

/** cancel: pending | running | waiting → cancelled, lease released. (primary key) */
export const cancelRun = `update reflow_runs
set status = 'cancelled', lease_id = null, available_at_ms = null, wait_event = null, wait_key = null, finished_at_ms = {now},
  updated_at_ms = {now}
where id = :runId and status in ('pending', 'running', 'waiting')`

/** retry: failed | cancelled → pending due now, attempt state reset, current step :fromStep (or kept). (primary key) */
export const retryRun = `update reflow_runs
set status = 'pending', lease_id = null, lease_owner = null, heartbeat_at_ms = null, finished_at_ms = null,
  available_at_ms = {now}, attempt = 0, interruptions = 0, current_step = coalesce(:fromStep, current_step), wait_json = null,
  updated_at_ms = {now}
where id = :runId and status in ('failed', 'cancelled')`

/** retry from a step: drop that step's result and every one recorded after it. (reflow_steps primary key prefix) */
export const deleteStepsFrom = `delete from reflow_steps
where run_id = :runId and seq >= (select seq from reflow_steps where run_id = :runId and name = :fromStep)`

/** retry: drop failed step results so the run resumes at the step that failed. (reflow_steps primary key prefix) */
export const deleteFailedSteps = `delete from reflow_steps where run_id = :runId and status = 'failed'`

/** retry, after deleting: number the kept steps 1, 2, … again in their order. (reflow_steps primary key prefix) */
export const renumberSteps = `update reflow_steps s set seq = n.position
from (select name, row_number() over (order by seq) as position from reflow_steps where run_id = :runId) n
where s.run_id = :runId and s.name = n.name and s.seq <> n.position`

// Reads.

/** getSteps: one run's steps in recording order. (reflow_steps primary key prefix) */
export const selectSteps = `select ${STEP_COLUMNS} from reflow_steps where run_id = :runId order by seq`

/** getAttempts: a run's attempts, oldest first. (reflow_attempts_run) */
export const selectAttempts = `select ${ATTEMPT_COLUMNS} from reflow_attempts where run_id = :runId order by id`

// Retention and purge.

/**
 * purgeFinished: one batch of finished runs of :statuses that finished before :before, oldest first,
 * deleted with their steps and attempts (cascade); never a run that can still change. Returns each
 * deleted run's workflow, status and step count. (reflow_runs_finished)
 */
export const purgeFinishedBatch = `with batch as (
  select id, workflow, status, (select count(*) from reflow_steps s where s.run_id = r.id)::integer as steps
  from reflow_runs r
  where finished_at_ms < {at:before} and status = any(:statuses) and status in ('completed', 'failed', 'cancelled')
  order by finished_at_ms limit :limit
  for update skip locked
),
deleted as (
  delete from reflow_runs where id in (select id from batch) and status in ('completed', 'failed', 'cancelled') returning id
)
select b.workflow, b.status, b.steps from batch b join deleted d on d.id = b.id`

/** purgeEvents: events created before :before, oldest first, at most :limit. (reflow_events_created) */
export const deleteOldEvents = `delete from reflow_events where id in (
  select id from reflow_events where created_at_ms < {at:before} order by created_at_ms limit :limit)`

/** acquireLease: take the named lease when free, expired or already ours. (reflow_leases primary key) */
export const acquireLease = `insert into reflow_leases as l (name, holder, expires_at_ms) values (:name, :holder, {now} + :ttlMs)
on conflict (name) do update set holder = excluded.holder, expires_at_ms = excluded.expires_at_ms
where l.expires_at_ms <= {now} or l.holder = excluded.holder`

/** releaseLease: give the named lease up if :holder still holds it. (reflow_leases primary key) */
export const releaseLease = `delete from reflow_leases where name = :name and holder = :holder`

// The public StorageAdapter methods that have no transition of their own (adapter.ts).

/** heartbeatRun: expiry moved on by the lease's own length. Fenced. (primary key) */
export const heartbeatKeepingLength = `update reflow_runs
set available_at_ms = {now} + coalesce(available_at_ms - heartbeat_at_ms, 30000), heartbeat_at_ms = {now}, updated_at_ms = {now}
where ${HELD}`

/** saveStepResult under a lease: the run touched (fenced) and the step upserted. */
export const saveStepUnderLease = `with fenced as (update reflow_runs set updated_at_ms = {now} where ${HELD} returning id)
${UPSERT_STEP}`

/** saveStepResult without a lease: the step upserted if the run exists. */
export const saveStep = `with fenced as (select id from reflow_runs where id = :runId)
${UPSERT_STEP}`

/** updateRunStatus: pending | running → any, lease released; due now when pending, finish time when terminal. (primary key) */
export const setRunStatus = `update reflow_runs
set status = :status, lease_id = null, lease_owner = null, heartbeat_at_ms = null,
  available_at_ms = case when :terminal then null else {now} end, finished_at_ms = case when :terminal then {now} else null end,
  updated_at_ms = {now}
where id = :runId and status in ('pending', 'running')`

/** updateClaimedRunStatus: running → another status under the lease, lease released. Fenced. (primary key) */
export const setClaimedRunStatus = `update reflow_runs
set status = :status, lease_id = null, available_at_ms = case when :status = 'pending' then {now} else null end,
  finished_at_ms = case when :terminal then {now} else null end, updated_at_ms = {now}
where ${HELD}`

/** updateClaimedRunStatus to running: the run touched. Fenced. (primary key) */
export const touchRun = `update reflow_runs set updated_at_ms = {now} where ${HELD}`
