/**
 * How the Postgres statements are written and turned into what `pg` sends. queries.ts writes each
 * statement once, with
 * - `:name` parameters (compiled to `$1, $2, …`, each cast to its type from PARAM_TYPES, so a value
 *   used twice is bound once and arithmetic on parameters is never ambiguous),
 * - bare table names (`reflow_runs`), qualified with the store's schema,
 * - `{now}` for the current time, and `{at:name}` for a time the engine computed (`:name`), which
 *   depend on whose clock judges time:
 *   - 'database' (the default): `{now}` is the server's clock, and an engine time becomes the same
 *     distance from the server's now as it is from the engine's `:now`. Machines whose clocks
 *     disagree then agree on every due time and lease expiry: a sleep of ten minutes ends ten minutes
 *     after it began on the one clock all engines share.
 *   - 'engine': `{now}` is `:now` and engine times are stored as they are, as on SQLite: for tests
 *     that drive time with a ManualClock.
 * - `{row.now}` and `{row.at:name}`, the same for a statement that writes many rows, each with its own
 *   engine time (`i.now`, `i.name` of the row source `i`).
 */

export type ClockSource = 'database' | 'engine'

/** A compiled statement: the text pg sends, its prepared-statement name, and the order its parameters are bound in. */
export interface Statement {
  /** Derived from the text (schema and clock source included), so one name never means two texts. */
  readonly name: string
  readonly text: string
  readonly names: readonly string[]
}

/** The parameters every statement may take, by type; anything else binds as text. */
const PARAM_TYPES: Record<string, string> = {
  now: 'bigint',
  leaseMs: 'bigint',
  availableAt: 'bigint',
  createdAt: 'bigint',
  startedAt: 'bigint',
  endedAt: 'bigint',
  staleBefore: 'bigint',
  due: 'bigint',
  before: 'bigint',
  after: 'bigint',
  cursorAt: 'bigint',
  slotMs: 'bigint',
  nextSlotMs: 'bigint',
  lastSkippedSlotMs: 'bigint',
  eventId: 'bigint',
  ttlMs: 'bigint',
  graceMs: 'bigint',
  windowStart: 'bigint',
  limit: 'integer',
  attempts: 'integer',
  attempt: 'integer',
  interruptions: 'integer',
  skippedCount: 'integer',
  finish: 'boolean',
  terminal: 'boolean',
  attemptStartedAt: 'bigint',
  attemptEndedAt: 'bigint',
  declared: 'boolean',
  paused: 'boolean',
  workflows: 'text[]',
  runIds: 'text[]',
  nextSteps: 'text[]',
  completes: 'boolean[]',
  stepNames: 'text[]',
  stepStatuses: 'text[]',
  outputs: 'text[]',
  errors: 'text[]',
  attemptCounts: 'integer[]',
  nows: 'bigint[]',
  startedAts: 'bigint[]',
  endedAts: 'bigint[]',
  eventIds: 'bigint[]',
  exclude: 'text[]',
  ids: 'text[]',
  leaseIds: 'text[]',
  statuses: 'text[]',
}

/** The server's time in epoch milliseconds (the transaction's start: one time per statement outside a transaction). */
const SERVER_NOW = `(extract(epoch from now()) * 1000)::bigint`

/** A double-quoted identifier; refuses what no schema name needs (quotes, NUL). */
export function quoteIdentifier(name: string): string {
  if (!/^[\p{L}\p{N}_$-]{1,63}$/u.test(name)) {
    throw new TypeError(`A Postgres schema name must be 1 to 63 letters, digits, _, $ or -, got ${JSON.stringify(name)}`)
  }
  return `"${name}"`
}

const TABLE = /\breflow_(runs|steps|attempts|events|leases|schedules|migrations)\b/g

/** Compiles statements for one schema and clock source, caching each by its source text. */
export function createCompiler(schema: string, clock: ClockSource): (source: string) => Statement {
  const qualified = quoteIdentifier(schema)
  const cache = new Map<string, Statement>()
  return (source) => {
    let statement = cache.get(source)
    if (statement) return statement
    const names: string[] = []
    const text = source
      .replace(/\{now\}/g, clock === 'engine' ? ':now' : SERVER_NOW)
      .replace(/\{row\.now\}/g, clock === 'engine' ? 'i.now' : SERVER_NOW)
      .replace(/\{row\.at:(\w+)\}/g, (_, name: string) => (clock === 'engine' ? `i.${name}` : `(${SERVER_NOW} + (i.${name} - i.now))`))
      .replace(/\{at:(\w+)\}/g, (_, name: string) => (clock === 'engine' ? `:${name}` : `(${SERVER_NOW} + (:${name} - :now))`))
      .replace(TABLE, (table: string) => `${qualified}.${table}`)
      .replace(/(?<![:\w]):([a-zA-Z]\w*)/g, (_, name: string) => {
        let index = names.indexOf(name)
        if (index < 0) index = names.push(name) - 1
        return `$${index + 1}::${PARAM_TYPES[name] ?? 'text'}`
      })
    statement = { name: `reflow_${fnv1a(text)}`, text, names }
    cache.set(source, statement)
    return statement
  }
}

/** The values of a statement's parameters, in its order; a missing one is a bug, not a null. */
export function bind(statement: Statement, values: Record<string, unknown>): unknown[] {
  return statement.names.map((name) => {
    const value = values[name]
    if (value === undefined) throw new TypeError(`No value for :${name} in ${statement.text.slice(0, 80)}…`)
    return value
  })
}

/** A 52-bit FNV-1a hash of `text` in base 36. */
function fnv1a(text: string): string {
  let hash = 0xcbf29ce484222325n
  for (let i = 0; i < text.length; i++) {
    hash ^= BigInt(text.charCodeAt(i))
    hash = (hash * 0x100000001b3n) & 0xfffffffffffffn
  }
  return hash.toString(36)
}
