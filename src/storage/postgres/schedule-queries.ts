/** The SQL of persisted schedules on Postgres (schedules.ts), in the notation of sql.ts. */

const SCHEDULE_COLUMNS = `id, workflow, spec_json, input_json, declared, last_slot_ms, next_slot_ms, paused, last_run_id,
  skipped_count, last_skipped_slot_ms, updated_at_ms`

/** list: every schedule by id. (primary key) */
export const selectSchedules = `select ${SCHEDULE_COLUMNS} from reflow_schedules order by id`

/** get. (primary key) */
export const selectSchedule = `select ${SCHEDULE_COLUMNS} from reflow_schedules where id = :id`

/** trigger: the schedule, locked until the triggered run is recorded. (primary key) */
export const selectScheduleForUpdate = `select ${SCHEDULE_COLUMNS} from reflow_schedules where id = :id for update`

/** upsert: a new schedule, or a changed workflow, spec, input or origin with its recomputed next slot; returns the row either way. */
export const upsertSchedule = `with saved as (
  insert into reflow_schedules as s (id, workflow, spec_json, input_json, declared, next_slot_ms, created_at_ms, updated_at_ms)
  values (:id, :workflow, :specJson, :inputJson, :declared, :nextSlotMs, {now}, {now})
  on conflict (id) do update set workflow = excluded.workflow, spec_json = excluded.spec_json, input_json = excluded.input_json,
    declared = excluded.declared, next_slot_ms = excluded.next_slot_ms, updated_at_ms = excluded.updated_at_ms
  where s.workflow is distinct from excluded.workflow or s.spec_json is distinct from excluded.spec_json
    or s.input_json is distinct from excluded.input_json or s.declared is distinct from excluded.declared
  returning ${SCHEDULE_COLUMNS}
)
select * from saved
union all
select ${SCHEDULE_COLUMNS} from reflow_schedules where id = :id and not exists (select 1 from saved)`

/** removeDeclared: the declared schedules of :workflows not in :ids. (primary key scan) */
export const deleteUndeclaredSchedules = `delete from reflow_schedules
where declared and workflow = any(:workflows) and not (id = any(:ids))
returning id`

/** fire, the first guard: advance the high-water mark to :slotMs only while it is older and the schedule runs. (primary key) */
export const advanceSchedule = `update reflow_schedules set last_slot_ms = :slotMs, next_slot_ms = :nextSlotMs,
  skipped_count = skipped_count + :skippedCount, last_skipped_slot_ms = coalesce(:lastSkippedSlotMs, last_skipped_slot_ms),
  updated_at_ms = {now}
where id = :id and not paused and (last_slot_ms is null or last_slot_ms < :slotMs)`

/** fire with overlap skip: is the schedule's last run unfinished? (primary keys) */
export const selectScheduleLastRunOpen = `select 1 from reflow_schedules s join reflow_runs r on r.id = s.last_run_id
where s.id = :id and r.status in ('pending', 'running', 'waiting')`

/** fire: the run it made. (primary key) */
export const setScheduleLastRun = `update reflow_schedules set last_run_id = :runId where id = :id`

/** fire, overlap or no catch-up: the slot counted as skipped. (primary key) */
export const skipScheduleSlot = `update reflow_schedules set skipped_count = skipped_count + 1, last_skipped_slot_ms = :slotMs where id = :id`

/** pause or resume (resume takes a new next slot, else it is kept). (primary key) */
export const setSchedulePaused = `update reflow_schedules set paused = :paused, next_slot_ms = coalesce(:nextSlotMs, next_slot_ms),
  updated_at_ms = {now} where id = :id`
