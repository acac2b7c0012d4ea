/**
 * The SQL behind the `reflow` CLI's inspection and maintenance commands (inspect.ts runs it), one
 * named constant each, in the style of queries.ts: plain `?` parameters (a value used twice is bound
 * twice), lists bound as one JSON array read with json_each, times bound by the caller.
 */

/** Purge never removes a run that can still change: the guard lives in SQL, not only in the CLI. */
const FINISHED = `status in ('completed', 'failed', 'cancelled')`

/** The purge selection: finished runs of the listed statuses (?) that finished before ?. (reflow_runs_claim by status, or reflow_runs_finished by time: the planner picks) */
const PURGEABLE = `${FINISHED} and status in (select value from json_each(?)) and finished_at_ms < ?`

// Listing and reading runs.

/**
 * runs: newest first, filtered by a status list (? null, or ? JSON array) and a workflow (? null, or ?),
 * each with its failed step or else its last recorded step. (a scan of reflow_runs with a top-N sort,
 * as no index orders all runs by creation; reflow_steps primary key prefix per listed run)
 */
export const selectRunSummaries = `select r.id, r.workflow, r.status, r.created_at_ms, r.updated_at_ms,
  r.started_at_ms, r.finished_at_ms,
  (select count(*) from reflow_steps where run_id = r.id) as steps_recorded,
  s.name as step_name, s.status as step_status, s.attempts as step_attempts, s.error as step_error
from reflow_runs r
left join reflow_steps s on s.run_id = r.id and s.seq = (
  select seq from reflow_steps where run_id = r.id order by status = 'failed' desc, seq desc limit 1)
where (? is null or r.status in (select value from json_each(?)))
  and (? is null or r.workflow = ?)
order by r.created_at_ms desc, r.rowid desc
limit ?`

/** show: every column of one run, whichever schema version wrote the file. (reflow_runs primary key) */
export const selectRunDetail = `select * from reflow_runs where id = ?`

/** show, schema version 2 and later: one run's failed and interrupted attempts, oldest first. (reflow_attempts_run) */
export const selectRunAttempts = `select run_id, step_name, attempt, status, started_at_ms, ended_at_ms, error_name, error_message, error_stack
from reflow_attempts where run_id = ? order by id`

/** show: one run's step timeline in recording order. (reflow_steps primary key prefix) */
export const selectStepTimeline = `select seq, name, status, output_json, error, attempts, created_at_ms, updated_at_ms
from reflow_steps where run_id = ? order by seq`

// Purge: finished → gone, steps first, in one transaction.

/** purge, preview and report: what the selection holds, by workflow and status, with step counts. (as the selection; reflow_steps primary key prefix) */
export const selectPurgeable = `select workflow, status, count(*) as runs,
  coalesce(sum((select count(*) from reflow_steps where run_id = reflow_runs.id)), 0) as steps
from reflow_runs where ${PURGEABLE}
group by workflow, status order by workflow, status`

/** purge: delete the selection's steps (before their runs, whether or not foreign keys are on). (as the selection; reflow_steps primary key prefix) */
export const deletePurgeableSteps = `delete from reflow_steps where run_id in (select id from reflow_runs where ${PURGEABLE})`

/** purge: finished → deleted, for the selection. (as the selection) */
export const deletePurgeableRuns = `delete from reflow_runs where ${PURGEABLE}`

// Stats.

/** stats: run counts by workflow and status. (full scan of reflow_runs) */
export const selectRunCounts = `select workflow, status, count(*) as runs from reflow_runs
group by workflow, status order by workflow, status`

/** stats: the oldest pending run, the head of the queue. (reflow_runs_claim by status, then a sort by creation) */
export const selectOldestPending = `select id, workflow, created_at_ms from reflow_runs
where status = 'pending' order by created_at_ms, rowid limit 1`

/** stats: runs completed since ? (a minute ago) and since ? (an hour ago). (reflow_runs_claim by status) */
export const selectCompletedSince = `select coalesce(sum(finished_at_ms >= ?), 0) as last_minute, count(*) as last_hour
from reflow_runs where status = 'completed' and finished_at_ms >= ?`

// Vacuum: rewrite the file without its free pages.

/** vacuum: the file's size and how much of it is free pages (deleted rows' space, reused by later writes). */
export const selectFileSpace = `select page_count * page_size as bytes, freelist_count * page_size as free
from pragma_page_count(), pragma_page_size(), pragma_freelist_count()`

/** vacuum: rebuild the file compactly; holds the write lock (and needs as much free disk as the file) while it runs. */
export const vacuum = 'vacuum'
