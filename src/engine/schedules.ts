/**
 * Persisted schedules → one run per slot across every engine on the storage, with no leader. Each
 * engine arms one timer (the engine's Clock) for the earliest next slot of the schedules it knows,
 * and on start; when it fires, the engine computes the due slots of each schedule from the stored
 * row (the first unfired slot up to now: the newest `catchup` fire, older ones are recorded as
 * skipped) and fires each in one store transaction that advances the schedule's high-water mark
 * only if the slot is newer, creating the run with the key `schedule:<id>:<slotMs>`. Of several
 * engines firing a slot, exactly one creates its run.
 *
 * Declared schedules (createEngine's `schedules`) are written when the engine starts: new or changed
 * ones get their next slot from now, declared rows this engine does not declare are removed (the
 * last engine to start decides). A row whose stored definition differs from this engine's (another
 * code version wrote it later) is left to the engines that declare it so. Schedules made by
 * engine.schedule() get an id derived from workflow, input and interval, so engines registering
 * the same one share its slots; they are never removed by a start, and unschedule()/stop() only
 * stop this engine firing them.
 */

import { createHash } from 'node:crypto'
import type { Clock, TimerHandle } from '../core/clock.ts'
import { InvalidArgumentError, ReflowError } from '../core/errors.ts'
import type { Duration } from '../core/duration.ts'
import type { NewRun, ScheduleStore, Store } from '../storage/store.ts'
import { dueSlots, nextSlot, parseSlotSpec, specJson, type SlotSpec } from './schedule-spec.ts'
import { createMemorySchedules } from '../storage/memory-schedules.ts'

/** A schedule declared in createEngine's `schedules`. */
export interface ScheduleDeclaration<N extends string = string> {
  /** Stable name: the row in the database, and part of every run's idempotency key. */
  id: string
  workflow: N
  /** A cron expression (5 fields, or 6 with seconds first), evaluated in `timezone`. */
  cron?: string
  /** An IANA time zone for `cron` (default: 'UTC'). */
  timezone?: string
  /** A fixed interval instead of cron ('15m'); slots are multiples of it since the epoch (UTC). */
  every?: Duration
  /** The input of every run, validated against the workflow's schema when the engine starts. */
  input?: unknown
  /** Missed slots (no engine ran) fired after a downtime: the newest `catchup` of them; older ones are recorded as skipped. Default: 1. */
  catchup?: number
  /** skip (default): no run for a slot while the schedule's previous run is unfinished (recorded as skipped); allow: always. */
  overlap?: 'skip' | 'allow'
}

export interface ScheduleRunnerDeps {
  store: Store
  clock: Clock
  reportError: (error: unknown) => void
  /** The workflows this engine registers: it removes only their schedules that its code no longer declares. */
  workflows: readonly string[]
  /** Validates the input and builds the run of one slot (throws a ValidationError for bad input). */
  makeRun: (workflow: string, input: unknown, idempotencyKey: string, schedule: { id: string; slotMs: number }) => Promise<NewRun>
  onCreated: () => void
}

interface Active {
  id: string
  workflow: string
  spec: SlotSpec
  specJson: string
  input: unknown
  inputJson: string | null
  catchup: number
  overlap: 'skip' | 'allow'
  declared: boolean
  refs: number
  ready: Promise<void>
  chain: Promise<void>
}

export interface ScheduleRunner {
  /** Validates the declarations' shape (createEngine: synchronous). */
  readonly declared: readonly Active[]
  /** start(): validates inputs, writes the declared schedules, fires what is due and arms the timer. */
  start(validate: (workflow: string, input: unknown) => Promise<unknown>): Promise<void>
  /** engine.schedule(): returns the derived id. */
  add(workflow: string, input: unknown, inputJson: string | null, intervalMs: number): string
  remove(id: string): boolean
  /** stop(): forgets engine.schedule() schedules and disarms; declared ones come back with start(). */
  stop(): Promise<void>
}

export function parseDeclarations(list: unknown, workflows: ReadonlySet<string>, serialize: (value: unknown, what: string) => string | null): Active[] {
  if (list === undefined) return []
  if (!Array.isArray(list)) throw new InvalidArgumentError('createEngine: `schedules` must be an array')
  const seen = new Set<string>()
  return list.map((d: ScheduleDeclaration, i) => {
    const id = d?.id
    if (typeof id !== 'string' || id === '') throw new InvalidArgumentError(`createEngine: schedules[${i}] needs an id (a non-empty string)`)
    const what = `createEngine: schedule "${id}"`
    if (seen.has(id)) throw new InvalidArgumentError(`${what} is declared twice; ids must be unique`)
    seen.add(id)
    if (!workflows.has(d.workflow)) throw new InvalidArgumentError(`${what}: unknown workflow ${JSON.stringify(d.workflow)} (registered: ${[...workflows].join(', ')})`)
    const spec = parseSlotSpec(what, d)
    const catchup = d.catchup ?? 1
    if (!Number.isInteger(catchup) || catchup < 0) throw new InvalidArgumentError(`${what}: catchup must be an integer >= 0, got ${String(catchup)}`)
    const overlap = d.overlap ?? 'skip'
    if (overlap !== 'skip' && overlap !== 'allow') throw new InvalidArgumentError(`${what}: overlap must be 'skip' or 'allow', got ${String(overlap)}`)
    return active(id, d.workflow, spec, catchup, overlap, d.input, serialize(d.input, `Input of schedule "${id}"`), true)
  })
}

function active(id: string, workflow: string, spec: SlotSpec, catchup: number, overlap: 'skip' | 'allow', input: unknown, inputJson: string | null, declared: boolean): Active {
  return { id, workflow, spec, specJson: specJson(spec, catchup, overlap), input, inputJson, catchup, overlap, declared, refs: 1, ready: Promise.resolve(), chain: Promise.resolve() }
}

export function createScheduleRunner(declared: Active[], deps: ScheduleRunnerDeps): ScheduleRunner {
  const { store, clock, reportError } = deps
  const schedules: ScheduleStore = store.schedules ?? createMemorySchedules(store)
  const running = new Map<string, Active>()
  let timer: TimerHandle | null = null

  const arm = () => {
    timer?.cancel()
    timer = null
    const now = clock.now()
    let earliest = Infinity
    for (const a of running.values()) {
      const next = nextSlot(a.spec, now)
      if (next !== null && next < earliest) earliest = next
    }
    if (earliest === Infinity) return
    timer = clock.setTimer(earliest - now, () => {
      timer = null
      arm()
      fireAll()
    })
  }

  const fireAll = () => {
    for (const a of running.values()) {
      a.chain = a.chain.then(() => fireDue(a)).catch((error: unknown) => reportError(named(a, error)))
    }
  }

  async function fireDue(a: Active): Promise<void> {
    await a.ready
    if (running.get(a.id) !== a) return
    const row = await schedules.get(a.id)
    // Paused, removed, or defined differently by another engine's code: not ours to fire.
    if (!row || row.paused || row.specJson !== a.specJson || row.inputJson !== a.inputJson || row.workflow !== a.workflow) return
    const now = clock.now()
    const { fire, skipped } = dueSlots(a.spec, row.nextSlotMs, now, a.catchup)
    const base = { scheduleId: a.id, overlap: a.overlap, now }
    if (fire.length === 0) {
      if (!skipped) return
      const nextSlotMs = nextSlot(a.spec, skipped.lastSlotMs) ?? Number.MAX_SAFE_INTEGER
      const rest = skipped.count > 1 ? { count: skipped.count - 1, lastSlotMs: skipped.lastSlotMs } : null
      await schedules.fire({ ...base, slotMs: skipped.lastSlotMs, nextSlotMs, skipped: rest, run: null })
      return
    }
    for (const [i, slotMs] of fire.entries()) {
      const run = await deps.makeRun(a.workflow, a.input, `schedule:${a.id}:${slotMs}`, { id: a.id, slotMs })
      const nextSlotMs = nextSlot(a.spec, slotMs) ?? Number.MAX_SAFE_INTEGER
      const result = await schedules.fire({ ...base, slotMs, nextSlotMs, skipped: i === 0 ? skipped : null, run })
      if (result.outcome === 'created') deps.onCreated()
    }
  }

  return {
    declared,

    async start(validate) {
      for (const a of declared) {
        try {
          await validate(a.workflow, a.input)
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error)
          throw new InvalidArgumentError(`schedule "${a.id}": its input does not fit workflow "${a.workflow}": ${message}`)
        }
      }
      const now = clock.now()
      for (const a of declared) {
        await schedules.upsert({ id: a.id, workflow: a.workflow, specJson: a.specJson, inputJson: a.inputJson, declared: true, nextSlotMs: nextSlot(a.spec, now) ?? Number.MAX_SAFE_INTEGER }, now)
      }
      await schedules.removeDeclared(declared.map((a) => a.id), deps.workflows)
      for (const a of declared) running.set(a.id, a)
      fireAll()
      arm()
    },

    add(workflow, input, inputJson, intervalMs) {
      const hash = createHash('sha256').update(JSON.stringify([workflow, inputJson, intervalMs])).digest('hex').slice(0, 16)
      const id = `every:${workflow}:${hash}`
      const existing = running.get(id)
      if (existing) {
        existing.refs++
        return id
      }
      const a = active(id, workflow, { everyMs: intervalMs }, 1, 'allow', input, inputJson, false)
      a.ready = (async () => {
        await store.initialize()
        const now = clock.now()
        await schedules.upsert({ id, workflow, specJson: a.specJson, inputJson, declared: false, nextSlotMs: nextSlot(a.spec, now)! }, now)
      })()
      a.ready.catch((error: unknown) => reportError(named(a, error)))
      running.set(id, a)
      arm()
      return id
    },

    remove(id) {
      const a = running.get(id)
      if (!a || a.declared) return false
      if (--a.refs > 0) return true
      running.delete(id)
      arm()
      return true
    },

    async stop() {
      running.clear()
      timer?.cancel()
      timer = null
    },
  }
}

function named(a: Active, error: unknown): unknown {
  if (error instanceof ReflowError) return error
  const message = error instanceof Error ? error.message : String(error)
  return new Error(`Schedule "${a.id}" of workflow "${a.workflow}": ${message}`)
}
