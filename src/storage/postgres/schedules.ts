/**
 * Persisted schedules on Postgres (reflow_schedules). Firing a slot advances the schedule's
 * high-water mark only while it is older than the slot (the update locks the schedule's row, so a
 * second engine firing the same slot waits, then finds the mark moved) and creates the slot's run in
 * the same transaction; the run's idempotency key (unique per workflow) is the second guard.
 */

import { StorageError } from '../../core/errors.ts'
import { toSchedule } from '../rows.ts'
import type { ScheduleRow, ScheduleStore, SlotOutcome } from '../store.ts'
import type { PostgresConnection } from './connection.ts'
import { insertRun } from './queries.ts'
import * as q from './schedule-queries.ts'
import { newRunValues } from './values.ts'

export function createPostgresSchedules(db: PostgresConnection): ScheduleStore {
  const get = async (id: string): Promise<ScheduleRow | null> => {
    const { rows } = await db.query(`Reading schedule "${id}"`, q.selectSchedule, { id })
    return rows[0] ? toSchedule(rows[0]) : null
  }
  return {
    list: async () => (await db.query('Listing schedules', q.selectSchedules)).rows.map(toSchedule),
    get,

    async upsert(d, now) {
      const values = { id: d.id, workflow: d.workflow, specJson: d.specJson, inputJson: d.inputJson, declared: d.declared, nextSlotMs: d.nextSlotMs, now }
      const { rows } = await db.query(`Saving schedule "${d.id}"`, q.upsertSchedule, values)
      if (rows[0]) return toSchedule(rows[0])
      // Another engine inserted the same schedule after this statement's snapshot was taken (its
      // insert waited on that one, then changed nothing): a new statement sees it.
      const saved = await get(d.id)
      if (!saved) throw new StorageError(`Schedule "${d.id}" was neither saved nor found`)
      return saved
    },

    async removeDeclared(keep, workflows) {
      const { rows } = await db.query('Removing schedules no longer declared', q.deleteUndeclaredSchedules, {
        ids: [...keep],
        workflows: [...workflows],
      })
      return rows.map((row) => row.id as string)
    },

    async fire(f) {
      const outcome = await db.transaction(`Firing slot ${f.slotMs} of schedule "${f.scheduleId}"`, async (tx): Promise<SlotOutcome> => {
        const advanced = await tx.query(q.advanceSchedule, {
          id: f.scheduleId,
          slotMs: f.slotMs,
          nextSlotMs: f.nextSlotMs,
          skippedCount: f.skipped?.count ?? 0,
          lastSkippedSlotMs: f.skipped?.lastSlotMs ?? null,
          now: f.now,
        })
        if (advanced.rowCount !== 1) return { outcome: 'taken' }
        const overlapping = f.overlap === 'skip' && (await tx.query(q.selectScheduleLastRunOpen, { id: f.scheduleId })).rows.length > 0
        if (f.run === null || overlapping) {
          await tx.query(q.skipScheduleSlot, { id: f.scheduleId, slotMs: f.slotMs })
          return { outcome: 'skipped' }
        }
        const r = f.run
        const inserted = await tx.query(insertRun, { ...newRunValues(r), scheduleId: f.scheduleId, slotMs: f.slotMs })
        if (inserted.rowCount !== 1) return { outcome: 'taken' }
        await tx.query(q.setScheduleLastRun, { id: f.scheduleId, runId: r.id })
        return { outcome: 'created', runId: r.id }
      })
      if (outcome.outcome === 'created') db.notifyChanged()
      return outcome
    },

    async setPaused(id, paused, now, nextSlotMs) {
      const what = `${paused ? 'Pausing' : 'Resuming'} schedule "${id}"`
      return (await db.query(what, q.setSchedulePaused, { id, paused, nextSlotMs: nextSlotMs ?? null, now })).rowCount === 1
    },

    async trigger(id, run, now) {
      const created = await db.transaction(`Triggering schedule "${id}"`, async (tx) => {
        const schedule = (await tx.query(q.selectScheduleForUpdate, { id })).rows[0]
        if (!schedule) return null
        const inserted = await tx.query(insertRun, {
          id: run.id,
          workflow: schedule.workflow,
          inputJson: schedule.input_json ?? null,
          idempotencyKey: run.idempotencyKey,
          createdAt: now,
          availableAt: now,
          firstStep: null,
          scheduleId: id,
          slotMs: now,
          now,
        })
        if (inserted.rowCount !== 1) return null
        await tx.query(q.setScheduleLastRun, { id, runId: run.id })
        return run.id
      })
      if (created !== null) db.notifyChanged()
      return created
    },
  }
}
