/**
 * The SQL behind the store's inspection reads on Postgres (listRuns, stats), in the notation of
 * sql.ts. Run lists walk reflow_runs_created (or reflow_runs_workflow) newest first and stop at the
 * limit; other filters are checked on the rows the walk meets.
 */

/** A run's failed step, or else its last recorded one (reflow_steps primary key prefix per listed run). */
const SUMMARY = `select r.id, r.workflow, r.status, r.created_at_ms, r.updated_at_ms, r.started_at_ms, r.finished_at_ms,
  (select count(*) from reflow_steps where run_id = r.id) as steps_recorded,
  s.name as step_name, s.status as step_status, s.attempts as step_attempts, s.error as step_error
from reflow_runs r
left join lateral (
  select name, status, attempts, error from reflow_steps where run_id = r.id order by (status = 'failed') desc, seq desc limit 1
) s on true`

/** Which filters a run page has; each present one adds its condition. */
export interface RunPageFilters {
  statuses: boolean
  workflow: boolean
  createdAfter: boolean
  createdBefore: boolean
  idPrefix: boolean
  idempotencyKey: boolean
  cursor: boolean
}

/** listRuns: a page newest first by (created_at_ms, id), with only the present filters' conditions. */
export const selectRunPage = (f: RunPageFilters): string => {
  const where: string[] = []
  if (f.statuses) where.push('r.status = any(:statuses)')
  if (f.workflow) where.push('r.workflow = :workflow')
  if (f.createdAfter) where.push('r.created_at_ms >= :after')
  if (f.createdBefore) where.push('r.created_at_ms < :before')
  // starts_with, not like: ids may hold % and _.
  if (f.idPrefix) where.push('starts_with(r.id, :idPrefix)')
  if (f.idempotencyKey) where.push('r.idempotency_key = :idempotencyKey')
  if (f.cursor) where.push('(r.created_at_ms, r.id) < (:cursorAt, :cursorId)')
  return `${SUMMARY}
${where.length > 0 ? `where ${where.join('\n  and ')}` : ''}
order by r.created_at_ms desc, r.id desc
limit :limit`
}

/** stats: run counts by workflow and status. (full scan of reflow_runs) */
export const selectRunCounts = `select workflow, status, count(*) as runs from reflow_runs group by workflow, status order by workflow, status`

/** stats: the oldest pending run, the head of the queue. (reflow_runs_pending, then a sort by creation) */
export const selectOldestPending = `select id, workflow, created_at_ms from reflow_runs
where status = 'pending' order by created_at_ms, id limit 1`

/** stats: completed and failed runs per workflow that finished at or after :windowStart. (reflow_runs_finished) */
export const selectFinishedSince = `select workflow, count(*) filter (where status = 'completed') as completed,
  count(*) filter (where status = 'failed') as failed
from reflow_runs where finished_at_ms >= {at:windowStart} and status in ('completed', 'failed')
group by workflow order by workflow`
