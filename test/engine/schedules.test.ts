import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { createEngine, createWorkflow, ManualClock } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { STORE } from '../../src/storage/store.ts'
import type { ScheduleDeclaration } from '../../src/engine/engine.ts'
import { dueSlots, nextSlot, parseSlotSpec } from '../../src/engine/schedule-spec.ts'

const dir = mkdtempSync(path.join(os.tmpdir(), 'reflow-schedules-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let files = 0
const newFile = () => path.join(dir, `s${files++}.db`)

const report = createWorkflow({ name: 'report', input: z.object({ kind: z.string() }) }).step('s', () => 1)
const HOUR = 3_600_000

function engineOn(file: string, clock: ManualClock, schedules: readonly ScheduleDeclaration<'report'>[] | undefined, workflow = report) {
  const storage = new SQLiteStorage(file)
  const engine = createEngine({ storage, workflows: [workflow], clock, schedules })
  return { storage, engine }
}

/** Slots of the runs in a file, by schedule id (read through a fresh connection). */
function slotsIn(file: string): Map<string, number[]> {
  const { Database } = require('bun:sqlite') as typeof import('bun:sqlite')
  const db = new Database(file, { readonly: true })
  const rows = db.query('select schedule_id, schedule_slot_ms from reflow_runs where schedule_id is not null order by schedule_slot_ms').all() as { schedule_id: string; schedule_slot_ms: number }[]
  db.close()
  const by = new Map<string, number[]>()
  for (const r of rows) by.set(r.schedule_id, [...(by.get(r.schedule_id) ?? []), r.schedule_slot_ms])
  return by
}

describe('declared schedules', () => {
  test('several engines on one file make exactly one run per slot', async () => {
    const file = newFile()
    const clock = new ManualClock(Date.UTC(2026, 0, 1))
    const decl = [{ id: 'quarter', workflow: 'report' as const, every: '15m' as const, input: { kind: 'q' } }]
    const engines = [engineOn(file, clock, decl), engineOn(file, clock, decl), engineOn(file, clock, decl)]
    for (const e of engines) await e.engine.start(3_600_000)
    for (let i = 0; i < 8; i++) await clock.advance(15 * 60_000)
    const slots = slotsIn(file).get('quarter')!
    expect(slots).toEqual(Array.from({ length: 8 }, (_, i) => Date.UTC(2026, 0, 1) + (i + 1) * 15 * 60_000))
    const row = await engines[0]!.storage[STORE]().schedules!.get('quarter')
    expect(row?.lastSlotMs).toBe(slots.at(-1)!)
    for (const e of engines) await e.engine.stop()
  })

  test('downtime: the newest `catchup` missed slots fire, the older ones are recorded as skipped', async () => {
    const file = newFile()
    const start = Date.UTC(2026, 0, 1)
    const clock = new ManualClock(start)
    const decl = (catchup: number) => [{ id: 'hourly', workflow: 'report' as const, every: '1h' as const, input: { kind: 'h' }, catchup, overlap: 'allow' as const }]
    let e = engineOn(file, clock, decl(2))
    await e.engine.start(3_600_000)
    await clock.advance(HOUR)
    await e.engine.stop() // killed: nothing runs for 5 hours
    e.storage.close()
    await clock.advance(5 * HOUR + 1) // no engine runs meanwhile
    e = engineOn(file, clock, decl(2))
    await e.engine.start(3_600_000)
    await clock.advance(1)
    expect(slotsIn(file).get('hourly')).toEqual([start + HOUR, start + 5 * HOUR, start + 6 * HOUR])
    const row = await e.storage[STORE]().schedules!.get('hourly')
    expect(row?.skippedCount).toBe(3)
    expect(row?.lastSkippedSlotMs).toBe(start + 4 * HOUR)
    await e.engine.stop()
  })

  test("overlap 'skip': no new run while the previous one is unfinished; the slot is recorded as skipped", async () => {
    const file = newFile()
    const start = Date.UTC(2026, 0, 1)
    const clock = new ManualClock(start)
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const slow = createWorkflow({ name: 'report', input: z.object({ kind: z.string() }) }).step('s', async () => {
      await gate
      return 1
    })
    const decl = [{ id: 'hourly', workflow: 'report' as const, every: '1h' as const, input: { kind: 'h' } }]
    const { storage, engine } = engineOn(file, clock, decl, slow)
    await engine.start(3_600_000)
    await clock.advance(HOUR) // the first run starts and blocks
    await clock.advance(HOUR) // overlaps: skipped
    let row = await storage[STORE]().schedules!.get('hourly')
    expect(slotsIn(file).get('hourly')).toEqual([start + HOUR])
    expect(row).toMatchObject({ skippedCount: 1, lastSkippedSlotMs: start + 2 * HOUR })
    release()
    await clock.advance(HOUR) // the first run has finished: a run again
    row = await storage[STORE]().schedules!.get('hourly')
    expect(slotsIn(file).get('hourly')).toEqual([start + HOUR, start + 3 * HOUR])
    expect(row?.skippedCount).toBe(1)
    await engine.stop()
  })

  test('invalid declarations are refused with the schedule named; inputs at start()', async () => {
    const storage = new SQLiteStorage(newFile())
    const make = (s: object) => createEngine({ storage, workflows: [report], schedules: [s as never] })
    expect(() => make({ id: 'a', workflow: 'report', cron: 'nope', input: { kind: 'x' } })).toThrow('schedule "a": invalid cron expression')
    expect(() => make({ id: 'a', workflow: 'nope', every: '1m' })).toThrow('schedule "a": unknown workflow "nope"')
    expect(() => make({ id: 'a', workflow: 'report', every: '1m', cron: '* * * * *' })).toThrow('schedule "a": give either cron or every')
    expect(() => make({ id: 'a', workflow: 'report', cron: '* * * * *', timezone: 'Mars/Base' })).toThrow('unknown time zone "Mars/Base"')
    const engine = make({ id: 'bad-input', workflow: 'report', every: '1m', input: { kind: 5 } })
    await expect(engine.start()).rejects.toThrow('schedule "bad-input": its input does not fit workflow "report"')
    storage.close()
  })

  test('an engine that starts removes declared schedules it no longer declares and updates changed ones', async () => {
    const file = newFile()
    const clock = new ManualClock(Date.UTC(2026, 0, 1))
    let e = engineOn(file, clock, [
      { id: 'a', workflow: 'report', every: '1h', input: { kind: 'a' } },
      { id: 'b', workflow: 'report', every: '1h', input: { kind: 'b' } },
    ])
    await e.engine.start(3_600_000)
    await e.engine.stop()
    e = engineOn(file, clock, [{ id: 'a', workflow: 'report', cron: '0 3 * * *', timezone: 'Europe/Paris', input: { kind: 'a' } }])
    await e.engine.start(3_600_000)
    const rows = await e.storage[STORE]().schedules!.list()
    expect(rows.map((r) => r.id)).toEqual(['a'])
    expect(rows[0]!.nextSlotMs).toBe(Date.UTC(2026, 0, 1, 2)) // 03:00 in Paris (UTC+1)
    await e.engine.stop()
  })
})

test("an engine speaks only for its own workflows: one without schedules leaves another workflow's schedules alone", async () => {
  const file = newFile()
  const clock = new ManualClock(Date.UTC(2026, 0, 1))
  const email = createWorkflow({ name: 'email', input: z.object({}) }).step('send', () => 1)
  const reports = engineOn(file, clock, [{ id: 'nightly', workflow: 'report', cron: '0 3 * * *', input: { kind: 'n' } }])
  await reports.engine.start(3_600_000)
  const mailer = createEngine({ storage: new SQLiteStorage(file), workflows: [email], clock })
  await mailer.start(3_600_000)
  expect((await reports.storage[STORE]().schedules!.list()).map((s) => s.id)).toEqual(['nightly'])
  await mailer.stop()
  await reports.engine.stop()
})

describe('cron slots in a time zone with DST', () => {
  const spec = parseSlotSpec('test', { cron: '30 2 * * *', timezone: 'Europe/Paris' })
  const days = (from: number, n: number) => {
    const out: number[] = []
    let at = from
    for (let i = 0; i < n; i++) out.push((at = nextSlot(spec, at)!))
    return out
  }
  test('spring forward (2026-03-29: 02:30 does not exist): one slot that day', () => {
    const slots = days(Date.UTC(2026, 2, 27, 12), 4)
    const isoDays = slots.map((s) => new Date(s).toISOString().slice(0, 10))
    expect(isoDays).toEqual(['2026-03-28', '2026-03-29', '2026-03-30', '2026-03-31'])
    expect(new Date(slots[0]!).toISOString()).toBe('2026-03-28T01:30:00.000Z')
    expect(new Date(slots[2]!).toISOString()).toBe('2026-03-30T00:30:00.000Z')
  })
  test('fall back (2026-10-25: 02:30 happens twice): one slot that day', () => {
    const slots = days(Date.UTC(2026, 9, 23, 12), 4)
    const isoDays = slots.map((s) => new Date(s).toISOString().slice(0, 10))
    expect(isoDays).toEqual(['2026-10-24', '2026-10-25', '2026-10-26', '2026-10-27'])
    expect(new Date(slots[3]!).toISOString()).toBe('2026-10-27T01:30:00.000Z')
  })
  test('an engine on a manual clock fires once per day across both transitions', async () => {
    const file = newFile()
    const clock = new ManualClock(Date.UTC(2026, 2, 27, 12))
    const decl = [{ id: 'night', workflow: 'report' as const, cron: '30 2 * * *', timezone: 'Europe/Paris', input: { kind: 'n' } }]
    const a = engineOn(file, clock, decl)
    const b = engineOn(file, clock, decl)
    await a.engine.start(HOUR * 24)
    await b.engine.start(HOUR * 24)
    for (let i = 0; i < 4 * 24; i++) await clock.advance(HOUR)
    expect(slotsIn(file).get('night')).toEqual(days(Date.UTC(2026, 2, 27, 12), 4))
    await a.engine.stop()
    await b.engine.stop()
  })
})

test('dueSlots keeps the newest `catchup` slots and counts the rest', () => {
  const spec = { everyMs: 10 }
  expect(dueSlots(spec, 10, 55, 1)).toEqual({ fire: [50], skipped: { count: 4, lastSlotMs: 40 } })
  expect(dueSlots(spec, 10, 55, 0)).toEqual({ fire: [], skipped: { count: 5, lastSlotMs: 50 } })
  expect(dueSlots(spec, 10, 25, 3)).toEqual({ fire: [10, 20], skipped: null })
})
