/**
 * Several engine processes, each with its own connection to one SQLite file (and then to one
 * Postgres schema), fire the same
 * `every: '100ms'` schedule at once for about two seconds (until the file holds RUNS of its runs).
 * Every slot fired has exactly one run, and the slots are consecutive: none fired twice, none lost
 * between the first and the last. (Engines in one process share a group commit and cannot race.)
 */

import { Database } from 'bun:sqlite'
import { afterAll, expect, test } from 'bun:test'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { dropSchemas, freshSchema, sql, urlWithSchema } from '../postgres/server.ts'

const PROCESSES = 3
const RUNS = 20
const ENGINE = path.join(import.meta.dir, 'fixtures', 'schedule-engine.ts')
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflow-schedule-race-'))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
afterAll(dropSchemas)

type Read = (query: string) => Promise<Record<string, unknown>[]>

/** Starts the processes on `db` together, waits for them, and checks the slots through `read`. */
async function race(db: string, read: Read): Promise<void> {
  const file = db
  // They start together, also creating the file and declaring the schedule at once.
  const startAt = String(Date.now() + 1_000)
  const children = Array.from({ length: PROCESSES }, () =>
    Bun.spawn([process.execPath, ENGINE, file, 'until', String(RUNS), startAt], { stdout: 'pipe', stderr: 'pipe' }),
  )
  const ended = await Promise.all(
    children.map(async (child) => {
      const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
      return { code, stdout, stderr }
    }),
  )
  expect(ended).toEqual(Array.from({ length: PROCESSES }, () => ({ code: 0, stdout: 'started\n', stderr: '' })))

  const slots = (await read(`select schedule_slot_ms as slot, count(*) as runs from reflow_runs where schedule_id = 'tick'
    group by schedule_slot_ms order by schedule_slot_ms`)).map((r) => ({ slot: Number(r.slot), runs: Number(r.runs) }))
  {
    expect(slots.length).toBeGreaterThanOrEqual(RUNS)
    expect(slots.filter((s) => s.runs !== 1)).toEqual([])
    const first = slots[0]!.slot
    expect(slots.map((s) => s.slot)).toEqual(slots.map((_, i) => first + i * 100))
    expect(first).toBeGreaterThanOrEqual(Number(startAt))
    const keys = await read(`select idempotency_key as key, schedule_slot_ms as slot from reflow_runs where schedule_id = 'tick'`)
    for (const { key, slot } of keys) expect(key).toBe(`schedule:tick:${Number(slot)}`)
    const [row] = await read(`select skipped_count, last_slot_ms from reflow_schedules where id = 'tick'`)
    expect({ skipped: Number(row!.skipped_count), last: Number(row!.last_slot_ms) }).toEqual({ skipped: 0, last: slots.at(-1)!.slot })
  }
}

test(`${PROCESSES} engine processes firing one 100ms schedule make one run per slot, with no slot lost`, async () => {
  const file = path.join(dir, 'reflow.db')
  await race(file, async (query) => {
    const db = new Database(file, { readonly: true })
    try {
      return db.query(query).all() as Record<string, unknown>[]
    } finally {
      db.close()
    }
  })
})

test(`${PROCESSES} engine processes on one Postgres schema make one run per slot, with no slot lost`, async () => {
  const schema = freshSchema()
  await race(urlWithSchema(schema), (query) => sql(query.replaceAll(/reflow_(runs|schedules)\b/g, `"${schema}".$&`)))
})
