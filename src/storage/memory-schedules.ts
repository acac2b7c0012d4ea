/**
 * Schedules kept in memory over any store's runs: the memory storage's, and the engine's fallback for
 * a user's own StorageAdapter (whose schedules then live in the process; the slot's idempotency key
 * still makes one run per slot across processes sharing that storage). Calls on one schedule are
 * serialised, so a fire is atomic within the process.
 */

import { deserialize } from '../core/json.ts'
import type { ScheduleRow, ScheduleStore, SlotOutcome, Store } from './store.ts'

export function createMemorySchedules(store: Pick<Store, 'createRun' | 'getRun'>): ScheduleStore {
  const rows = new Map<string, ScheduleRow>()
  let queue: Promise<unknown> = Promise.resolve()
  const serial = <T>(fn: () => Promise<T> | T): Promise<T> => {
    const next = queue.then(fn)
    queue = next.catch(() => {})
    return next
  }
  const copy = (row: ScheduleRow | undefined) => (row ? { ...row } : null)

  return {
    list: () => serial(() => [...rows.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((r) => ({ ...r }))),
    get: (id) => serial(() => copy(rows.get(id))),
    upsert: (d, now) =>
      serial(() => {
        const row = rows.get(d.id)
        if (!row) {
          rows.set(d.id, {
            id: d.id, workflow: d.workflow, specJson: d.specJson, inputJson: d.inputJson, declared: d.declared,
            lastSlotMs: null, nextSlotMs: d.nextSlotMs, paused: false, lastRunId: null, skippedCount: 0, lastSkippedSlotMs: null, updatedAt: now,
          })
        } else if (row.workflow !== d.workflow || row.specJson !== d.specJson || row.inputJson !== d.inputJson || row.declared !== d.declared) {
          Object.assign(row, { workflow: d.workflow, specJson: d.specJson, inputJson: d.inputJson, declared: d.declared, nextSlotMs: d.nextSlotMs, updatedAt: now })
        }
        return copy(rows.get(d.id))!
      }),
    removeDeclared: (keep, workflows) =>
      serial(() => {
        const removed = [...rows.values()].filter((r) => r.declared && workflows.includes(r.workflow) && !keep.includes(r.id)).map((r) => r.id)
        for (const id of removed) rows.delete(id)
        return removed
      }),
    fire: (f) =>
      serial(async (): Promise<SlotOutcome> => {
        const row = rows.get(f.scheduleId)
        if (!row || row.paused || (row.lastSlotMs !== null && row.lastSlotMs >= f.slotMs)) return { outcome: 'taken' }
        Object.assign(row, { lastSlotMs: f.slotMs, nextSlotMs: f.nextSlotMs, updatedAt: f.now })
        if (f.skipped) {
          row.skippedCount += f.skipped.count
          row.lastSkippedSlotMs = f.skipped.lastSlotMs
        }
        const last = f.overlap === 'skip' && row.lastRunId !== null ? await store.getRun(row.lastRunId) : null
        const open = last !== null && (last.status === 'pending' || last.status === 'running' || last.status === 'waiting')
        if (f.run === null || open) {
          row.skippedCount += 1
          row.lastSkippedSlotMs = f.slotMs
          return { outcome: 'skipped' }
        }
        const made = await store.createRun(f.run)
        if (!made.created) return { outcome: 'taken' }
        row.lastRunId = made.run.id
        return { outcome: 'created', runId: made.run.id }
      }),
    setPaused: (id, paused, now, nextSlotMs) =>
      serial(() => {
        const row = rows.get(id)
        if (!row) return false
        Object.assign(row, { paused, updatedAt: now, nextSlotMs: nextSlotMs ?? row.nextSlotMs })
        return true
      }),
    trigger: (id, run, now) =>
      serial(async () => {
        const row = rows.get(id)
        if (!row) return null
        const made = await store.createRun({
          id: run.id, workflow: row.workflow, inputJson: row.inputJson, input: deserialize(row.inputJson), idempotencyKey: run.idempotencyKey,
          createdAt: now, availableAt: now, firstStep: null, schedule: { id, slotMs: now },
        })
        if (!made.created) return null
        row.lastRunId = made.run.id
        return made.run.id
      }),
  }
}
