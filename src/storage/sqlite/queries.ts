/**
 * Every SQL statement SQLiteStorage runs, one named constant each (the schema is in migrations.ts).
 * Parameters are plain `?` (better-sqlite3 rejects numbered ones), so a value used twice is bound
 * twice. Name lists are bound as one JSON array and read with json_each, so one cached statement
 * serves any list, except on the claim path, which runs for every batch of runs: there the workflow
 * names are bound one `?` each (json_each costs a virtual table and a bloom filter per execution),
 * and an engine's statements are cached per list length. Times are bound by the caller from its
 * Clock; SQL never reads the wall clock.
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
/** dataVersion: a number that moves whenever another connection commits (a shared-memory read, no lock wait). */
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

// Runs.

/** createRun: none → pending; a taken idempotency key inserts nothing. (unique reflow_runs_idempotency) */
export const insertRun = `insert into reflow_runs (id, workflow, status, input_json, idempotency_key, created_at_ms, updated_at_ms)
values (?, ?, 'pending', ?, ?, ?, ?)
on conflict (workflow, idempotency_key) where idempotency_key is not null do nothing`

/** createRun, key taken: the run that holds it. (unique reflow_runs_idempotency) */
export const selectRunByIdempotencyKey = `select ${RUN_COLUMNS} from reflow_runs where workflow = ? and idempotency_key = ?`

/** getRun. (reflow_runs primary key) */
export const selectRun = `select ${RUN_COLUMNS} from reflow_runs where id = ?`

/** `?, ?, …`: one parameter per item of a list bound item by item. */
const params = (count: number): string => Array.from({ length: count }, () => '?').join(', ')

/** Claim, with stale leases about, candidates: the oldest pending runs of `names` workflows (one `?` each), then the limit. (reflow_runs_status_created) */
export const selectPendingRunIds = (names: number): string => `select rowid as position, created_at_ms from reflow_runs
where status = 'pending' and workflow in (${params(names)})
order by created_at_ms, rowid limit ?`

/** Claim, candidates: running runs whose lease was last renewed before ?, oldest first; then names, limit. (reflow_runs_status_created) */
export const selectStaleRunIds = (names: number): string => `select rowid as position, created_at_ms from reflow_runs
where status = 'running' and heartbeat_at_ms < ? and workflow in (${params(names)})
order by created_at_ms, rowid limit ?`

/**
 * Claim, before taking the write lock: is any run of `names` workflows pending, or running with a
 * lease last renewed before ? (names first, then the time, then names again). A read, so an engine
 * with nothing to do never contends for the lock. (reflow_runs_status_created)
 */
export const selectClaimableExists = (names: number): string => `select exists (
  select 1 from reflow_runs where status = 'pending' and workflow in (${params(names)})
) or exists (
  select 1 from reflow_runs where status = 'running' and heartbeat_at_ms < ? and workflow in (${params(names)})
) as found`

/** What a claim returns: the run, and whether it has recorded steps to load. (reflow_steps primary key prefix, covering) */
const CLAIMED_COLUMNS = `${RUN_COLUMNS}, exists (select 1 from reflow_steps where run_id = reflow_runs.id) as has_steps`

/**
 * Claim, when no lease is stale (the usual case): the oldest pending run of `names` workflows
 * (one `?` each, after the lease, times) → running under a fresh lease; no row when none is
 * pending. Run once per run claimed. (reflow_runs_status_created, reflow_runs rowid)
 */
export const claimNextPending = (names: number): string => `update reflow_runs
set status = 'running', lease_id = ?, heartbeat_at_ms = ?, updated_at_ms = ?, started_at_ms = coalesce(started_at_ms, ?)
where rowid = (
  select rowid from reflow_runs where status = 'pending' and workflow in (${params(names)})
  order by created_at_ms, rowid limit 1)
returning ${CLAIMED_COLUMNS}`

/** Claim, with stale leases about: a candidate, pending or stale running (re-checked here) → running under a fresh lease. (reflow_runs rowid) */
export const claimRun = `update reflow_runs
set status = 'running', lease_id = ?, heartbeat_at_ms = ?, updated_at_ms = ?, started_at_ms = coalesce(started_at_ms, ?)
where rowid = ? and (status = 'pending' or (status = 'running' and heartbeat_at_ms < ?))
returning ${CLAIMED_COLUMNS}`

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

// Steps. A run's steps are numbered 1, 2, … in recording order with no gaps (retryRun renumbers
// what it keeps), so a new step's seq is the covering-index count + 1: max(seq) would read every row.

/** saveStepResult under a lease, before its upsertStepHeld: is the run running under this lease? (reflow_runs primary key) */
export const selectLeaseHeld = `select 1 as held from reflow_runs where id = ? and lease_id = ? and status = 'running'`

/** saveStepResult without a lease: none|recorded → recorded, only if the run exists. (reflow_steps primary key, reflow_runs primary key) */
export const upsertStep = `insert into reflow_steps (run_id, name, seq, status, output_json, error, attempts, created_at_ms, updated_at_ms)
select ?, ?, (select count(*) + 1 from reflow_steps where run_id = ?), ?, ?, ?, ?, ?, ?
where exists (select 1 from reflow_runs where id = ?)
on conflict (run_id, name) do update set
  status = excluded.status, output_json = excluded.output_json, error = excluded.error,
  attempts = excluded.attempts, updated_at_ms = excluded.updated_at_ms`

/**
 * saveStepResult under a lease and finishRun, once the lease was found held (selectLeaseHeld, or the
 * fenced status update) in this transaction: none|recorded → recorded; keeps seq and created_at.
 * (reflow_steps primary key)
 */
export const upsertStepHeld = `insert into reflow_steps (run_id, name, seq, status, output_json, error, attempts, created_at_ms, updated_at_ms)
values (?, ?, (select count(*) + 1 from reflow_steps where run_id = ?), ?, ?, ?, ?, ?, ?)
on conflict (run_id, name) do update set
  status = excluded.status, output_json = excluded.output_json, error = excluded.error,
  attempts = excluded.attempts, updated_at_ms = excluded.updated_at_ms`

/** retryRun: drop failed step results so the run resumes at the step that failed. (reflow_steps primary key prefix) */
export const deleteFailedSteps = `delete from reflow_steps where run_id = ? and status = 'failed'`

/** retryRun, after dropping failed steps: the seq of the kept steps, in order. (reflow_steps primary key prefix) */
export const selectStepSeqs = `select name, seq from reflow_steps where run_id = ? order by seq`

/** retryRun: renumber one kept step, closing the gaps deletion left. (reflow_steps primary key) */
export const updateStepSeq = `update reflow_steps set seq = ? where run_id = ? and name = ?`

/** getStepResults: one run's steps in recording order. (reflow_steps primary key prefix) */
export const selectSteps = `select ${STEP_COLUMNS} from reflow_steps where run_id = ? order by seq`

/** Claim: the steps of every claimed run (one `?` per run) in one query. (reflow_steps primary key prefix) */
export const selectStepsOfRuns = (runs: number): string => `select ${STEP_COLUMNS} from reflow_steps
where run_id in (${params(runs)}) order by run_id, seq`
