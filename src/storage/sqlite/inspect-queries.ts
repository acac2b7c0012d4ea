/**
 * The SQL behind the inspection reads of the store contract (inspect-reads.ts: listRuns, stats), an
 * older file's run detail, and vacuum (vacuum.ts), one named constant each, in the style of queries.ts: plain `?` parameters (a value used twice is bound
 * twice), lists bound as one JSON array read with json_each, times bound by the caller.
 */

// Listing and reading runs.

/** A run's failed step, or else its last recorded one (reflow_steps primary key prefix per listed run). */
const SUMMARY = `select r.id, r.workflow, r.status, r.created_at_ms, r.updated_at_ms,
  r.started_at_ms, r.finished_at_ms,
  (select count(*) from reflow_steps where run_id = r.id) as steps_recorded,
  s.name as step_name, s.status as step_status, s.attempts as step_attempts, s.error as step_error
from reflow_runs r
left join reflow_steps s on s.run_id = r.id and s.seq = (
  select seq from reflow_steps where run_id = r.id order by status = 'failed' desc, seq desc limit 1)`

/** Which filters a run page has; each present one adds its condition (and its parameters, in this order). */
export interface RunPageFilters {
  /** 'rare': statuses without completed, looked up by the status index; 'common': with it, checked on the walk. */
  statuses: false | 'rare' | 'common'
  workflow: boolean
  createdAfter: boolean
  createdBefore: boolean
  idPrefix: boolean
  idempotencyKey: boolean
  cursor: boolean
}

/**
 * listRuns: a page newest first by (created_at_ms, id), with only the present filters' conditions,
 * then the limit. Unfiltered, and with time or cursor bounds, it walks reflow_runs_created backwards
 * and stops at the limit (no sort). With a workflow, reflow_runs_workflow (the id tie-break is a sort
 * of equal times only). Statuses other than completed come from the claim index (then a sort of
 * those runs); id prefix and idempotency key filters, and statuses with completed, are checked on
 * the rows the walk meets: a rare match means a long walk (an id prefix, which time-ordered ids
 * share widely, matches many or none: a walk bounds both, 70 ms over a million runs).
 */
export const selectRunPage = (f: RunPageFilters): string => {
  const where: string[] = []
  // Finished history is mostly completed runs: a filter that includes them matches most rows the
  // newest-first walk meets (the unary + keeps the planner off the status index, which would read
  // every completed run and sort them). Other statuses are usually few: the status index finds them.
  if (f.statuses) where.push(`${f.statuses === 'common' ? '+' : ''}r.status in (select value from json_each(?))`)
  if (f.workflow) where.push('r.workflow = ?')
  if (f.createdAfter) where.push('r.created_at_ms >= ?')
  if (f.createdBefore) where.push('r.created_at_ms < ?')
  // substr, not like: ids may hold % and _, and like is case-insensitive.
  if (f.idPrefix) where.push('substr(r.id, 1, length(?)) = ?')
  if (f.idempotencyKey) where.push('r.idempotency_key = ?')
  if (f.cursor) where.push('(r.created_at_ms, r.id) < (?, ?)')
  return `${SUMMARY}
${where.length > 0 ? `where ${where.join('\n  and ')}` : ''}
order by r.created_at_ms desc, r.id desc
limit ?`
}

/** getRun on a file an older reflow-ts wrote: every column it has. (reflow_runs primary key) */
export const selectRunDetail = `select * from reflow_runs where id = ?`

// Stats.

/** stats: run counts by workflow and status. (full scan of reflow_runs) */
export const selectRunCounts = `select workflow, status, count(*) as runs from reflow_runs
group by workflow, status order by workflow, status`

/** stats: the oldest pending run, the head of the queue. (reflow_runs_claim by status, then a sort by creation) */
export const selectOldestPending = `select id, workflow, created_at_ms from reflow_runs
where status = 'pending' order by created_at_ms, rowid limit 1`

/** stats: completed and failed runs per workflow that finished at or after ?. (reflow_runs_finished) */
export const selectFinishedSince = `select workflow, sum(status = 'completed') as completed, sum(status = 'failed') as failed
from reflow_runs where finished_at_ms >= ? and status in ('completed', 'failed')
group by workflow order by workflow`

// Vacuum: rewrite the file without its free pages.

/** vacuum: the file's size and how much of it is free pages (deleted rows' space, reused by later writes). */
export const selectFileSpace = `select page_count * page_size as bytes, freelist_count * page_size as free
from pragma_page_count(), pragma_page_size(), pragma_freelist_count()`

/** vacuum: rebuild the file compactly; holds the write lock (and needs as much free disk as the file) while it runs. */
export const vacuum = 'vacuum'
