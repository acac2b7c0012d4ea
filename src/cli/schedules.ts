/**
 * `reflow schedules`: the persisted schedules of a database, and `reflow schedules pause|resume|trigger ID`.
 *
 * --json (the list) prints an array, by id, of:
 *   { id: string, workflow: string, spec: string ("every 900000ms", "cron 0 3 * * * (Europe/Paris)"),
 *     cron: string|null, timezone: string|null, everyMs: number|null, catchup: number, overlap: "skip"|"allow",
 *     declared: boolean, paused: boolean, nextSlotMs: number, lastSlotMs: number|null,
 *     lastRun: { id: string, status: "pending"|"running"|"waiting"|"completed"|"failed"|"cancelled"|null } | null,
 *     skippedCount: number, lastSkippedSlotMs: number|null, updatedAt: number }
 * `nextSlotMs` is the next slot to fire (engines fire it only while one runs and the schedule is not
 * paused); `lastSlotMs` is the newest slot fired or skipped; `lastRun.status` is null once the run
 * was purged. Times are epoch milliseconds.
 * pause and resume print { id: string, paused: boolean, nextSlotMs: number }; trigger prints
 * { id: string, runId: string, idempotencyKey: string }.
 */

import { CliError } from './args.ts'
import type { Command } from './command.ts'
import { DB_FLAG, JSON_FLAG, databasePath, openReadonly, openWritable, databaseName, type CliStorage } from './database.ts'
import { printable, table, when, type Output } from './output.ts'
import { createUuidV7 } from '../core/uuid.ts'
import type { RunStatus } from '../core/types.ts'
import { describeSpec, nextSlot, readSpecJson } from '../engine/schedule-spec.ts'
import { STORE, type ScheduleRow } from '../storage/store.ts'

/** The migration that made reflow_schedules: an older file (opened read-only) has no schedules. */
const SCHEDULES_SCHEMA = 5

const ACTIONS = ['pause', 'resume', 'trigger'] as const

export const schedulesCommand: Command = {
  name: 'schedules',
  summary: 'List schedules; pause, resume or trigger one.',
  usage: 'reflow schedules [pause|resume|trigger ID] [--db PATH] [--json]',
  details: `Without an action: every schedule an engine persisted, with its spec, time zone, next slot, last
run and its status, whether it is paused, and how many slots it skipped (opens the database read-only).
pause: no slot fires until resume (running engines read the flag at each slot). resume: firing
starts again from the next slot after now; slots that passed while paused never fire. trigger: one
run now, with the schedule's workflow and input and the key schedule:ID:trigger:<now>, outside the
slots (a running worker picks it up; the next slot is unchanged).`,
  flags: { ...DB_FLAG, ...JSON_FLAG },
  positionals: { min: 0, max: 2, names: 'ACTION ID' },

  async run(args, out) {
    const [action, id] = args.positionals
    if (action === undefined) return list(databasePath(args), args.boolean('json'), out)
    if (!(ACTIONS as readonly string[]).includes(action)) throw args.usageError(`unknown action ${JSON.stringify(action)} (use ${ACTIONS.join(', ')})`)
    if (id === undefined) throw args.usageError(`${action} needs a schedule ID`)
    const storage = await openWritable(databasePath(args), { create: false })
    try {
      const schedules = storage[STORE]().schedules!
      const row = await schedules.get(id)
      if (!row) throw new CliError(`no schedule ${JSON.stringify(id)} in ${databaseName(storage)}`)
      const now = Date.now()
      if (action === 'trigger') {
        const idempotencyKey = `schedule:${id}:trigger:${now}`
        const runId = await schedules.trigger(id, { id: createUuidV7(() => now)(), idempotencyKey }, now)
        if (runId === null) throw new CliError(`schedule ${JSON.stringify(id)} could not be triggered (key ${idempotencyKey} is taken)`)
        if (args.boolean('json')) out.json({ id, runId, idempotencyKey })
        else out.line(printable(runId))
        return 0
      }
      const paused = action === 'pause'
      const resumeAt = paused ? undefined : (nextSlot(readSpecJson(row.specJson).spec, now) ?? Number.MAX_SAFE_INTEGER)
      await schedules.setPaused(id, paused, now, resumeAt)
      const nextSlotMs = resumeAt ?? row.nextSlotMs
      if (args.boolean('json')) out.json({ id, paused, nextSlotMs })
      else out.line(`${paused ? 'Paused' : 'Resumed'} schedule ${printable(id)}${paused ? '' : `; next slot ${new Date(nextSlotMs).toISOString()}`}.`)
      return 0
    } finally {
      await storage.close()
    }
  },
}

async function list(path: string, json: boolean, out: Output): Promise<number> {
  const { storage } = await openReadonly(path)
  try {
    // A SQLite file an older reflow-ts wrote, opened readonly, has no schedules table.
    const older = 'path' in storage && storage.connection.schemaVersion < SCHEDULES_SCHEMA
    const rows = older ? [] : await storage[STORE]().schedules!.list()
    const shown = await Promise.all(rows.map((row) => toJson(storage, row)))
    if (json) out.json(shown)
    else print(shown, Date.now(), out)
    return 0
  } finally {
    await storage.close()
  }
}

type ShownSchedule = Awaited<ReturnType<typeof toJson>>

async function toJson(storage: CliStorage, row: ScheduleRow) {
  const { spec, catchup, overlap } = readSpecJson(row.specJson)
  const last = row.lastRunId === null ? null : await storage[STORE]().getRun(row.lastRunId)
  return {
    id: row.id,
    workflow: row.workflow,
    spec: describeSpec(spec),
    cron: 'cron' in spec ? spec.cron : null,
    timezone: 'cron' in spec ? spec.timezone : null,
    everyMs: 'everyMs' in spec ? spec.everyMs : null,
    catchup,
    overlap,
    declared: row.declared,
    paused: row.paused,
    nextSlotMs: row.nextSlotMs,
    lastSlotMs: row.lastSlotMs,
    lastRun: row.lastRunId === null ? null : { id: row.lastRunId, status: (last?.status ?? null) as RunStatus | null },
    skippedCount: row.skippedCount,
    lastSkippedSlotMs: row.lastSkippedSlotMs,
    updatedAt: row.updatedAt,
  }
}

function print(schedules: ShownSchedule[], now: number, out: Output): void {
  if (schedules.length === 0) {
    out.line('No schedules.')
    return
  }
  const rows = schedules.map((s) => [
    printable(s.id),
    printable(s.workflow),
    printable(s.spec),
    s.paused ? 'paused' : when(s.nextSlotMs, now),
    s.lastRun === null ? '-' : `${printable(s.lastRun.id)} ${s.lastRun.status === null ? '(purged)' : out.status(s.lastRun.status)}`,
    String(s.skippedCount),
  ])
  out.line(table(['ID', 'WORKFLOW', 'SPEC', 'NEXT', 'LAST RUN', 'SKIPPED'], rows, out, [5]))
}
