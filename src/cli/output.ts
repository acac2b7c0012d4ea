/**
 * How the CLI writes: colour only on a terminal and never under NO_COLOR, aligned tables, relative
 * times and short durations for people; `--json` output is plain JSON on stdout, one document.
 *
 * Everything read from a database or a workflow module (names, keys, inputs, outputs, errors) is data
 * that a terminal must print, not obey: human output passes it through `printable` (text) or
 * `preview` (stored values, rendered readably by core/render-value.ts: `Date(2026-11-30T10:00:00.000Z)`,
 * `Map(2) {"a" => 1, "b" => 2}`, then made printable), which escape every character a terminal may
 * act on. `--json` is `jsonText`; stored values go into it through `storedJson`.
 *
 * The --json encoding of stored values (run input, step outputs): plain JSON data is printed as it
 * is; a value JSON cannot carry is an object with one key `"~reflow:<Type>"`, as core/codec.ts
 * stores it: `{"~reflow:Date":"2026-11-30T10:00:00.000Z"}`, `{"~reflow:Map":[["a",1]]}`,
 * `{"~reflow:Set":[1,2]}`, `{"~reflow:BigInt":"10"}`, `{"~reflow:undefined":null}`,
 * `{"~reflow:Number":"NaN"}` (also "-0", "Infinity", "-Infinity"), `{"~reflow:RegExp":["ab+c","gi"]}`,
 * `{"~reflow:URL":"https://…"}`, `{"~reflow:Uint8Array":"<base64>"}` (every typed array, DataView
 * and ArrayBuffer), `{"~reflow:Error":{"name","message","stack","cause","fields"}}`; a plain object
 * with a key starting with `~reflow:` is written `{"~reflow:Object":[[key, value], ...]}`.
 * `decode(JSON.stringify(json))` (core/codec.ts) gives the values back.
 */

import { toPlainJson, type PlainJson } from '../core/codec.ts'
import { formatDuration as duration } from '../core/duration.ts'
import { renderValue } from '../core/render-value.ts'

export { duration }
import type { RunStatus } from '../core/types.ts'

export interface Output {
  /** Whether ANSI colours are used (stdout is a TTY and NO_COLOR is unset or empty). */
  readonly color: boolean
  /** Writes a line (or lines) to stdout. */
  line(text?: string): void
  /** Writes a line to stderr. */
  note(text: string): void
  json(value: unknown): void
  bold(text: string): string
  dim(text: string): string
  status(status: string): string
}

const CODES = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39], yellow: [33, 39], cyan: [36, 39] } as const
const STATUS_COLOURS: Record<RunStatus, keyof typeof CODES> = {
  pending: 'yellow',
  running: 'cyan',
  waiting: 'yellow',
  completed: 'green',
  failed: 'red',
  cancelled: 'dim',
}

export function createOutput(env: Record<string, string | undefined> = process.env): Output {
  const color = Boolean(process.stdout.isTTY) && !env.NO_COLOR
  const paint = (code: keyof typeof CODES, text: string) => (color ? `\x1b[${CODES[code][0]}m${text}\x1b[${CODES[code][1]}m` : text)
  return {
    color,
    line: (text = '') => void process.stdout.write(`${text}\n`),
    note: (text) => void process.stderr.write(`${text}\n`),
    json: (value) => void process.stdout.write(`${jsonText(value, 2)}\n`),
    bold: (text) => paint('bold', text),
    dim: (text) => paint('dim', text),
    status: (status) => (Object.hasOwn(STATUS_COLOURS, status) ? paint(STATUS_COLOURS[status as RunStatus], status) : printable(status)),
  }
}

/** Waits until everything written to stdout and stderr has been handed to the OS. */
export function flushOutput(): Promise<void> {
  const drain = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write('', () => resolve()))
  return Promise.all([drain(process.stdout), drain(process.stderr)]).then(() => undefined)
}

const ANSI = /\x1b\[[0-9;]*m/g

/** Columns separated by two spaces, left-aligned except the `right` ones; widths ignore colour codes. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], out: Output, right: readonly number[] = []): string {
  const visible = (cell: string) => cell.replace(ANSI, '').length
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => visible(row[i] ?? ''))))
  const render = (cells: readonly string[]) =>
    cells
      .map((cell, i) => {
        const pad = ' '.repeat((widths[i] ?? 0) - visible(cell))
        if (right.includes(i)) return pad + cell
        return i === cells.length - 1 ? cell : cell + pad
      })
      .join('  ')
      .trimEnd()
  return [out.bold(render(header)), ...rows.map(render)].join('\n')
}

/** "12s ago", "3m ago", "5h ago", "2d ago"; "just now" within a second; "in 10m" for a time to come. */
export function ago(time: number, now: number): string {
  const ms = now - time
  if (Math.abs(ms) < 1000) return 'just now'
  return ms < 0 ? `in ${coarse(-ms)}` : `${coarse(ms)} ago`
}


/** The largest unit that fits, rounded: 89s → "1m", 9d 23h → "10d". */
function coarse(ms: number): string {
  if (ms < 60_000) return `${Math.floor(ms / 1000)}s`
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`
  if (ms < 86_400_000) return `${Math.round(ms / 3_600_000)}h`
  return `${Math.round(ms / 86_400_000)}d`
}

/** An ISO time with its relative age: "2024-05-01T12:00:00.000Z (3m ago)". */
export function when(time: number | null, now: number): string {
  return time === null ? '-' : `${new Date(time).toISOString()} (${ago(time, now)})`
}

/**
 * A stored value as one printable line (`{at: Date(2026-11-30T10:00:00.000Z), tags: Set(1) {"a"}}`),
 * cut to `max` characters with an ellipsis; undefined shows as "-".
 */
export function preview(value: unknown, max = Number.POSITIVE_INFINITY): string {
  if (value === undefined) return '-'
  // Cut again after escaping: an escape such as \x1b is longer than the character it replaces.
  const text = printable(renderValue(value, { maxLength: max }))
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

/**
 * A stored value for `--json` output: its tagged form (see the top of this file), so a Map is not
 * printed as `{}` nor a BigInt refused; undefined stays undefined, so JSON leaves the field out.
 */
export function storedJson(value: unknown): PlainJson | undefined {
  return value === undefined ? undefined : toPlainJson(value)
}

/** Keeps a message to one printable line, for stderr. */
export function oneLine(text: string): string {
  return printable(text.replace(/\s*\n\s*/g, ' ').trim())
}

/**
 * What a terminal may act on instead of printing: C0 controls (newline and tab included: a newline in
 * a name would forge a line of output), DEL, C1 controls, the bidi embeddings, overrides and isolates
 * (U+202A–U+202E, U+2066–U+2069), and UTF-16 surrogates without their other half.
 */
const CONTROL = /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g
/** The same, minus C0 controls: raw ones in JSON text are its own line breaks (JSON.stringify escapes the rest). */
const CONTROL_IN_JSON = /[\x7f-\x9f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g
const NAMED_ESCAPES: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' }

const hex = (char: string, digits: number) => char.charCodeAt(0).toString(16).padStart(digits, '0')

/**
 * Text from a database or a workflow module, safe to print: every control character (see CONTROL)
 * becomes an escape such as \x1b, \n or \u202e. Use it on every stored string a human renderer prints.
 */
export function printable(text: string): string {
  return text.replace(CONTROL, (char) => NAMED_ESCAPES[char] ?? (char <= '\xff' ? `\\x${hex(char, 2)}` : `\\u${hex(char, 4)}`))
}

/** JSON.stringify, with the control characters it leaves raw (DEL, C1, bidi controls) written as \u escapes. */
export function jsonText(value: unknown, space?: number): string {
  const text: string | undefined = JSON.stringify(value, null, space)
  return (text ?? 'null').replace(CONTROL_IN_JSON, (char) => `\\u${hex(char, 4)}`)
}
