/**
 * Times, durations and stored values as the dashboard shows them. Times are UTC (the server's and
 * the reader's zones may differ; the page says so once); stored values are laid out over several
 * lines, with every type the codec keeps shown by what it is (`Date(2026-11-30T10:00:00.000Z)`,
 * `Map(1) {"a" => 1}`, `10n`) through core/render-value.ts, never as their tagged storage form.
 */

import { formatDuration as duration } from '../core/duration.ts'
import { renderValue } from '../core/render-value.ts'

export { duration }

/** "2026-05-01 12:00:03Z"; "-" for none. */
export function utc(time: number | null): string {
  if (time === null) return '-'
  return new Date(time).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z')
}


/** "12s ago", "in 10m", "just now". */
export function ago(time: number, now: number): string {
  const ms = now - time
  if (Math.abs(ms) < 1000) return 'just now'
  const text = duration(Math.abs(ms))
  return ms < 0 ? `in ${text}` : `${text} ago`
}

/** Longest text a value renders to on a page; the rest is cut with a note (`reflow show --json` has it all). */
export const MAX_VALUE_CHARS = 200_000
const MAX_DEPTH = 50

/**
 * A stored value as indented, readable text: plain objects, arrays, Maps and Sets over several lines,
 * anything else as renderValue writes it. `undefined` (no value) gives "undefined".
 */
export function prettyValue(value: unknown): string {
  const out: string[] = []
  let length = 0
  const push = (text: string) => {
    out.push(text)
    length += text.length
  }
  const walk = (v: unknown, indent: string, depth: number, seen: object[]): void => {
    if (length > MAX_VALUE_CHARS) return
    const container = v !== null && typeof v === 'object' && depth < MAX_DEPTH && !seen.includes(v)
    const entries = container ? entriesOf(v) : null
    if (!entries) {
      push(renderValue(v, { maxLength: MAX_VALUE_CHARS }))
      return
    }
    if (entries.items.length === 0) {
      push(`${entries.prefix}${entries.open}${entries.close}`)
      return
    }
    push(`${entries.prefix}${entries.open}\n`)
    const inner = `${indent}  `
    for (const [key, item] of entries.items) {
      if (length > MAX_VALUE_CHARS) break
      push(inner)
      if (key !== undefined) push(key)
      walk(item, inner, depth + 1, [...seen, v as object])
      push(',\n')
    }
    push(`${indent}${entries.close}`)
  }
  walk(value, '', 0, [])
  const text = out.join('')
  if (text.length <= MAX_VALUE_CHARS) return text
  return `${text.slice(0, MAX_VALUE_CHARS)}\n… (cut; reflow show --json prints all of it)`
}

interface Entries {
  prefix: string
  open: string
  close: string
  /** [key text to write before the item (with its separator), item]. */
  items: [string | undefined, unknown][]
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

function entriesOf(value: object): Entries | null {
  if (Array.isArray(value)) return { prefix: '', open: '[', close: ']', items: value.map((item) => [undefined, item]) }
  if (value instanceof Map) {
    const items: [string, unknown][] = [...value].map(([k, v]) => [`${renderValue(k, { maxLength: 200 })} => `, v])
    return { prefix: `Map(${value.size}) `, open: '{', close: '}', items }
  }
  if (value instanceof Set) {
    return { prefix: `Set(${value.size}) `, open: '{', close: '}', items: [...value].map((item) => [undefined, item]) }
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return null
  const items: [string, unknown][] = Object.keys(value).map((key) => [
    `${IDENTIFIER.test(key) ? key : JSON.stringify(key)}: `,
    (value as Record<string, unknown>)[key],
  ])
  return { prefix: '', open: '{', close: '}', items }
}
