/**
 * Every SQL statement SQLiteStorage runs, one named constant each (the schema is in migrations.ts).
 * Parameters are plain `?` (better-sqlite3 rejects numbered ones), so a value used twice is bound
 * twice. Name lists are bound as one JSON array and read with json_each, so one cached statement
 * serves any list. Times are bound by the caller from its Clock; SQL never reads the wall clock.
 */

const RUN_COLUMNS = 'id, workflow, status, input_json, idempotency_key, lease_id, created_at_ms, updated_at_ms'
const STEP_COLUMNS = 'run_id, name, status, output_json, error, attempts, created_at_ms, updated_at_ms'

// Connection setup and transactions.

/** Open: wait instead of failing with SQLITE_BUSY while another connection holds a lock. */
export const pragmaBusyTimeout = (ms: number): string => `pragma busy_timeout = ${Math.trunc(ms)}`
/** Open: WAL lets readers run beside the single writer; the one setup pragma that writes the file. */
export const pragmaJournalModeWal = 'pragma journal_mode = wal'
/** Open: normal survives a process crash in WAL mode, full also survives power loss. */
export const pragmaSynchronous = (level: 'normal' | 'full'): string => `pragma synchronous = ${level}`
/** Open: makes `on delete cascade` from reflow_runs to reflow_steps effective. */
export const pragmaForeignKeysOn = 'pragma foreign_keys = on'
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

// Runs.

/** createRun: none → pending; a taken idempotency key inserts nothing. (unique reflow_runs_idempotency) */
export const insertRun = `insert into reflow_runs (id, workflow, status, input_json, idempotency_key, created_at_ms, updated_at_ms)
values (?, ?, 'pending', ?, ?, ?, ?)
on conflict (workflow, idempotency_key) where idempotency_key is not null do nothing`

/** createRun, key taken: the run that holds it. (unique reflow_runs_idempotency) */
export const selectRunByIdempotencyKey = `select ${RUN_COLUMNS} from reflow_runs where workflow = ? and idempotency_key = ?`

/** getRun. (reflow_runs primary key) */
export const selectRun = `select ${RUN_COLUMNS} from reflow_runs where id = ?`

/** Claim, candidates: pending runs of the named workflows, oldest first. (reflow_runs_status_created) */
export const selectPendingRunIds = `select id, created_at_ms, rowid as position from reflow_runs
where status = 'pending' and workflow in (select value from json_each(?))
order by created_at_ms, rowid limit ?`

/** Claim, candidates: running runs whose lease was last renewed before ?, oldest first. (reflow_runs_status_created) */
export const selectStaleRunIds = `select id, created_at_ms, rowid as position from reflow_runs
where status = 'running' and heartbeat_at_ms < ? and workflow in (select value from json_each(?))
order by created_at_ms, rowid limit ?`

/** Claim: pending or stale running → running under a fresh lease, re-checked in the update. (reflow_runs primary key) */
export const claimRun = `update reflow_runs
set status = 'running', lease_id = ?, heartbeat_at_ms = ?, updated_at_ms = ?, started_at_ms = coalesce(started_at_ms, ?)
where id = ? and (status = 'pending' or (status = 'running' and heartbeat_at_ms < ?))
returning ${RUN_COLUMNS}`

/** heartbeatRun: running → running, renewal time = now; fenced by lease. (reflow_runs primary key) */
export const heartbeatRun = `update reflow_runs set heartbeat_at_ms = ?, updated_at_ms = ?
where id = ? and lease_id = ? and status = 'running'`

/** updateRunStatus: pending|running → any, lease released; finished_at set for a terminal status. (reflow_runs primary key) */
export const updateRunStatus = `update reflow_runs set status = ?, lease_id = null, finished_at_ms = ?, updated_at_ms = ?
where id = ? and status in ('pending', 'running')`

/** updateClaimedRunStatus, finishRun: running → any under the lease; caller binds lease null when terminal. (reflow_runs primary key) */
export const updateClaimedRunStatus = `update reflow_runs set status = ?, lease_id = ?, finished_at_ms = ?, updated_at_ms = ?
where id = ? and lease_id = ? and status = 'running'`

/** retryRun: failed|cancelled → pending, lease and finish time cleared. (reflow_runs primary key) */
export const retryRun = `update reflow_runs
set status = 'pending', lease_id = null, heartbeat_at_ms = null, finished_at_ms = null, updated_at_ms = ?
where id = ? and status in ('failed', 'cancelled')`

// Steps.

/** saveStepResult under a lease: none|recorded → recorded, only while the run is running under it; keeps seq and created_at. (reflow_steps primary key, reflow_runs primary key) */
export const upsertStepFenced = `insert into reflow_steps (run_id, name, seq, status, output_json, error, attempts, created_at_ms, updated_at_ms)
select ?, ?, (select coalesce(max(seq), 0) + 1 from reflow_steps where run_id = ?), ?, ?, ?, ?, ?, ?
where exists (select 1 from reflow_runs where id = ? and lease_id = ? and status = 'running')
on conflict (run_id, name) do update set
  status = excluded.status, output_json = excluded.output_json, error = excluded.error,
  attempts = excluded.attempts, updated_at_ms = excluded.updated_at_ms`

/** saveStepResult without a lease: none|recorded → recorded, only if the run exists. (reflow_steps primary key, reflow_runs primary key) */
export const upsertStep = `insert into reflow_steps (run_id, name, seq, status, output_json, error, attempts, created_at_ms, updated_at_ms)
select ?, ?, (select coalesce(max(seq), 0) + 1 from reflow_steps where run_id = ?), ?, ?, ?, ?, ?, ?
where exists (select 1 from reflow_runs where id = ?)
on conflict (run_id, name) do update set
  status = excluded.status, output_json = excluded.output_json, error = excluded.error,
  attempts = excluded.attempts, updated_at_ms = excluded.updated_at_ms`

/** retryRun: drop failed step results so the run resumes at the step that failed. (reflow_steps primary key prefix) */
export const deleteFailedSteps = `delete from reflow_steps where run_id = ? and status = 'failed'`

/** getStepResults: one run's steps in recording order. (reflow_steps primary key prefix) */
export const selectSteps = `select ${STEP_COLUMNS} from reflow_steps where run_id = ? order by seq`

/** Claim: the steps of every claimed run in one query. (reflow_steps primary key prefix) */
export const selectStepsOfRuns = `select ${STEP_COLUMNS} from reflow_steps
where run_id in (select value from json_each(?)) order by run_id, seq`
