/**
 * A schedule's timing: a cron expression in an IANA time zone (croner computes the slots, DST
 * included: a local time that does not exist or exists twice gives one slot per day), or a fixed
 * interval whose slots are the multiples of the interval since the epoch, so every engine computes
 * the same slots. Pure: no clock, no storage.
 */

import { Cron } from 'croner'
import { parseDuration, type Duration } from '../core/duration.ts'
import { InvalidArgumentError } from '../core/errors.ts'

export type SlotSpec = { cron: string; timezone: string | null } | { everyMs: number }

/** The stored spec: timing plus the firing rules, as JSON with keys in a fixed order. */
export interface StoredSpec {
  cron?: string
  timezone?: string | null
  everyMs?: number
  catchup: number
  overlap: 'skip' | 'allow'
}

/** Parses `cron` (+ `timezone`) or `every`; `what` names the schedule in errors. */
export function parseSlotSpec(what: string, options: { cron?: unknown; every?: unknown; timezone?: unknown }): SlotSpec {
  const { cron, every, timezone } = options
  if ((cron === undefined) === (every === undefined)) throw new InvalidArgumentError(`${what}: give either cron or every`)
  if (every !== undefined) {
    if (timezone !== undefined) throw new InvalidArgumentError(`${what}: timezone applies to cron only`)
    const everyMs = parseDuration(every as Duration, `${what} every`)
    if (everyMs < 1) throw new InvalidArgumentError(`${what}: every must be at least 1ms`)
    return { everyMs }
  }
  if (typeof cron !== 'string') throw new InvalidArgumentError(`${what}: cron must be a string such as '0 3 * * *'`)
  if (timezone !== undefined && typeof timezone !== 'string') throw new InvalidArgumentError(`${what}: timezone must be an IANA name such as 'Europe/Paris'`)
  if (typeof timezone === 'string') {
    try {
      new Intl.DateTimeFormat('en', { timeZone: timezone })
    } catch {
      throw new InvalidArgumentError(`${what}: unknown time zone ${JSON.stringify(timezone)} (use an IANA name such as 'Europe/Paris')`)
    }
  }
  const spec = { cron, timezone: timezone ?? 'UTC' }
  try {
    if (nextSlot(spec, 0) === null) throw new Error('it never fires')
  } catch (error) {
    throw new InvalidArgumentError(`${what}: invalid cron expression ${JSON.stringify(cron)}: ${(error as Error).message}`)
  }
  return spec
}

/** The first slot strictly after `afterMs`, or null when there is none (a cron that never fires again). */
export function nextSlot(spec: SlotSpec, afterMs: number): number | null {
  if ('everyMs' in spec) return (Math.floor(afterMs / spec.everyMs) + 1) * spec.everyMs
  const cron = new Cron(spec.cron, spec.timezone === null ? { paused: true } : { paused: true, timezone: spec.timezone })
  const next = cron.nextRun(new Date(afterMs))
  return next === null ? null : next.getTime()
}

/** At most this many missed slots are counted one by one after downtime (the rest count as one batch). */
const MAX_ENUMERATED = 100_000

/**
 * The slots due at `now` from `firstMs` on: the last `catchup` of them fire, the older ones are
 * skipped (counted, and the newest skipped one named).
 */
export function dueSlots(spec: SlotSpec, firstMs: number, now: number, catchup: number): { fire: number[]; skipped: { count: number; lastSlotMs: number } | null } {
  const due: number[] = []
  let count = 0
  for (let slot: number | null = firstMs; slot !== null && slot <= now && count < MAX_ENUMERATED; slot = nextSlot(spec, slot)) {
    due.push(slot)
    count++
    if (due.length > catchup + 1) due.shift()
  }
  const fire = catchup === 0 ? [] : due.slice(-catchup)
  const skippedCount = count - fire.length
  const lastSkipped = due[due.length - fire.length - 1]
  return { fire, skipped: skippedCount > 0 && lastSkipped !== undefined ? { count: skippedCount, lastSlotMs: lastSkipped } : null }
}

export function specJson(spec: SlotSpec, catchup: number, overlap: 'skip' | 'allow'): string {
  const stored: StoredSpec = 'everyMs' in spec ? { everyMs: spec.everyMs, catchup, overlap } : { cron: spec.cron, timezone: spec.timezone, catchup, overlap }
  return JSON.stringify(stored)
}

export function readSpecJson(json: string): { spec: SlotSpec; catchup: number; overlap: 'skip' | 'allow' } {
  const stored = JSON.parse(json) as StoredSpec
  const spec: SlotSpec = stored.everyMs !== undefined ? { everyMs: stored.everyMs } : { cron: stored.cron!, timezone: stored.timezone ?? null }
  return { spec, catchup: stored.catchup, overlap: stored.overlap }
}

/** `every 15m`, `cron 0 3 * * * (Europe/Paris)`: the spec for people. */
export function describeSpec(spec: SlotSpec): string {
  if ('everyMs' in spec) return `every ${spec.everyMs}ms`
  return `cron ${spec.cron}${spec.timezone === null ? '' : ` (${spec.timezone})`}`
}
