/**
 * Durations as users write them: a number of milliseconds, or `<n><unit>` with unit ms, s, m, h or
 * d (`'500ms'`, `'10m'`, `'1.5h'`, `'3d'`). Anything else is refused where it is given, with a
 * message naming the value.
 */

import { InvalidArgumentError } from './errors.ts'

/** A duration: milliseconds, or a string such as `'10m'`. */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/

/**
 * Milliseconds of `value`, a non-negative finite number or a `<n><unit>` string; `what` names it in
 * the error (e.g. `enqueue("report") delay`).
 *
 * @example
 * parseDuration('10m', 'delay') // 600000
 */
export function parseDuration(value: unknown, what: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value
  } else if (typeof value === 'string') {
    const match = PATTERN.exec(value.trim())
    if (match) return Number(match[1]) * UNIT_MS[match[2]!]!
  }
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value)
  throw new InvalidArgumentError(
    `${what} must be a number of milliseconds or a duration such as "500ms", "30s", "10m", "2h" or "3d", got ${shown}`,
  )
}

/** A duration for people: "85ms", "4.2s", "3m 12s", "2h 5m", "3d 4h". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`
  const s = Math.floor(ms / 1000)
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`
}
