/**
 * Persisted schedules on SQLite (reflow_schedules, migration 5): each method is one transaction of
 * the connection's group commit. Firing a slot advances the schedule's high-water mark only while it
 * is older than the slot and creates the slot's run in the same transaction, so of several engines
 * firing one slot exactly one creates its run; the run's idempotency key (unique per workflow) is
 * the second guard.
 */

import type { ScheduleDefinition, ScheduleRow, ScheduleStore, SlotFire, SlotOutcome } from '../store.ts'
import type { SqliteConnection } from './connection.ts'
import * as q from './queries.ts'
import { toSchedule } from '../rows.ts'


export function createSqliteSchedules(db: SqliteConnection): ScheduleStore {
  const get = (id: string): ScheduleRow | null => {
    const row = db.stmt(q.selectSchedule).get(id)
    return row ? toSchedule(row) : null
  }
  return {
    list: () => db.read('Listing schedules', () => db.stmt(q.selectSchedules).all().map(toSchedule)),
    get: (id) => db.read(`Reading schedule "${id}"`, () => get(id)),

    upsert: (d: ScheduleDefinition, now: number) =>
      db.write(`Saving schedule "${d.id}"`, () => {
        db.stmt(q.upsertSchedule).run(d.id, d.workflow, d.specJson, d.inputJson, d.declared ? 1 : 0, d.nextSlotMs, now, now)
        return get(d.id)!
      }),

    async removeDeclared(keep, workflows) {
      const kept = new Set(keep)
      const mine = new Set(workflows)
      const declared = await db.read('Reading declared schedules', () => db.stmt(q.selectDeclaredSchedules).all())
      const removed = declared.filter((r) => mine.has(r.workflow as string) && !kept.has(r.id as string)).map((r) => r.id as string)
      if (removed.length === 0) return []
      return db.write('Removing schedules no longer declared', () => {
        for (const id of removed) db.stmt(q.deleteDeclaredSchedule).run(id)
        return removed
      })
    },

    fire: (f: SlotFire) =>
      db.write(`Firing slot ${f.slotMs} of schedule "${f.scheduleId}"`, (): SlotOutcome => {
        const advanced = db.stmt(q.advanceSchedule).run(
          f.slotMs, f.nextSlotMs, f.skipped?.count ?? 0, f.skipped?.lastSlotMs ?? null, f.now, f.scheduleId, f.slotMs,
        )
        if (advanced.changes !== 1) return { outcome: 'taken' }
        const overlapping = f.overlap === 'skip' && db.stmt(q.selectScheduleLastRunOpen).get(f.scheduleId)?.open
        if (f.run === null || overlapping) {
          db.stmt(q.skipScheduleSlot).run(f.slotMs, f.scheduleId)
          return { outcome: 'skipped' }
        }
        const r = f.run
        const inserted = db.stmt(q.insertScheduledRun).run(
          r.id, r.workflow, r.inputJson, r.idempotencyKey, r.createdAt, r.createdAt, r.availableAt, r.firstStep, f.scheduleId, f.slotMs,
        )
        if (inserted.changes !== 1) return { outcome: 'taken' }
        db.stmt(q.setScheduleLastRun).run(r.id, f.scheduleId)
        return { outcome: 'created', runId: r.id }
      }),

    setPaused: (id, paused, now, nextSlotMs) =>
      db.write(`${paused ? 'Pausing' : 'Resuming'} schedule "${id}"`, () => db.stmt(q.setSchedulePaused).run(paused ? 1 : 0, nextSlotMs ?? null, now, id).changes === 1),

    trigger: (id, run, now) =>
      db.write(`Triggering schedule "${id}"`, () => {
        const row = get(id)
        if (!row) return null
        const inserted = db.stmt(q.insertScheduledRun).run(run.id, row.workflow, row.inputJson, run.idempotencyKey, now, now, now, null, id, now)
        if (inserted.changes !== 1) return null
        db.stmt(q.setScheduleLastRun).run(run.id, id)
        return run.id
      }),
  }
}
