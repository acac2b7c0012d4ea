/**
 * The one (de)serialisation policy for everything reflow persists: workflow input, step output and
 * errors. Values must be plain JSON data (objects, arrays, strings, finite numbers, booleans, null,
 * undefined). A Date is accepted and stored as its ISO string, so it comes back as a string, and
 * `Jsonify<T>` types it that way. Anything else (BigInt, functions, symbols, NaN, cycles, class
 * instances such as Map) is rejected with the path of the offending value, before anything is written.
 *
 * Every value handed to a step went through this round trip, so a step sees the same `prev` whether
 * the previous step ran a moment ago in this process or yesterday in another one.
 */

import { SerializationError } from './errors.ts'

/**
 * What `T` looks like after a trip through storage: Dates become strings, functions disappear from
 * objects, and everything else keeps its shape. Arrays, tuples and readonly arrays stay arrays (a
 * homomorphic mapped type over an array type maps its elements), so `prev.map(...)` and `for..of`
 * work and the value is assignable to `T[]`; objects keep their optional and readonly modifiers;
 * unions are mapped member by member, so a discriminated union still narrows.
 */
export type Jsonify<T> = 0 extends 1 & T
  ? any
  : unknown extends T
    ? unknown
    : T extends Date
      ? string
      : T extends string | number | boolean | null | undefined
        ? T
        : T extends (...args: never[]) => unknown
          ? never
          : [T] extends [void]
            ? undefined
            : T extends readonly unknown[]
              ? { [K in keyof T]: Jsonify<T[K]> }
              : T extends object
                ? { [K in keyof T as T[K] extends (...args: never[]) => unknown ? never : K]: Jsonify<T[K]> }
                : never

/**
 * Serialises `value` to JSON text, or `null` for undefined. Throws SerializationError naming `what`
 * (e.g. `Output of step "charge"`) and the path of the first value that is not plain data.
 */
export function serialize(value: unknown, what: string): string | null {
  if (value === undefined) return null
  assertPlain(value, '$', what, [])
  return JSON.stringify(value)
}

/** The inverse of `serialize`. */
export function deserialize(text: string | null | undefined): unknown {
  return text == null ? undefined : JSON.parse(text)
}

/** `serialize` then `deserialize`: the value exactly as a later reader will see it. */
export function roundTrip(value: unknown, what: string): unknown {
  return deserialize(serialize(value, what))
}

/**
 * Where the engine leaves the JSON text of a record's payload (a run's `input`, a step's `output`)
 * when it has just serialised it, so storage writes that text instead of serialising the value a
 * second time. The engine attaches it only when the payload is exactly `deserialize(text)`. An
 * adapter that ignores it loses nothing but the saving.
 */
export const JSON_TEXT: unique symbol = Symbol('reflow.jsonText')

/** A record (WorkflowRun, StepResult) that may carry the JSON text of its payload. */
export type WithJsonText = { [JSON_TEXT]?: string | null }

/** The JSON text of `record`'s payload `value`: the text the engine attached, else `serialize(value, what)`. */
export function jsonTextOf(record: object, value: unknown, what: string): string | null {
  const text = (record as WithJsonText)[JSON_TEXT]
  return text === undefined ? serialize(value, what) : text
}

/** Whether `record` carries its payload's JSON text, so its payload is already a JSON round trip. */
export function hasJsonText(record: object): boolean {
  return (record as WithJsonText)[JSON_TEXT] !== undefined
}

/** A compact, stable message for a thrown value, as stored in a step's `error` column. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name
  if (typeof error === 'string') return error
  try {
    return JSON.stringify(error) ?? String(error)
  } catch {
    return String(error)
  }
}

function assertPlain(value: unknown, path: string, what: string, ancestors: object[]): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return
    case 'number':
      if (!Number.isFinite(value)) throw new SerializationError(what, path, `${value} is not a finite number`)
      return
    case 'bigint':
      throw new SerializationError(what, path, 'BigInt is not supported (convert it to a string or number)')
    case 'function':
      throw new SerializationError(what, path, 'a function cannot be stored')
    case 'symbol':
      throw new SerializationError(what, path, 'a symbol cannot be stored')
  }
  if (value === null) return
  const object = value as object
  if (object instanceof Date) {
    if (Number.isNaN(object.getTime())) throw new SerializationError(what, path, 'Invalid Date')
    return
  }
  if (ancestors.includes(object)) throw new SerializationError(what, path, 'circular reference')
  ancestors.push(object)
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) assertPlain(object[i], `${path}[${i}]`, what, ancestors)
  } else {
    const proto = Object.getPrototypeOf(object)
    if (proto !== Object.prototype && proto !== null) {
      const name = (proto?.constructor as { name?: string } | undefined)?.name || 'unknown class'
      throw new SerializationError(what, path, `an instance of ${name} is not plain data (use a plain object or array)`)
    }
    for (const key of Object.keys(object)) {
      assertPlain((object as Record<string, unknown>)[key], `${path}.${key}`, what, ancestors)
    }
  }
  ancestors.pop()
}

/** Deep equality of two JSON values, ignoring key order. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const keysA = Object.keys(a)
  const keysB = Object.keys(b)
  if (keysA.length !== keysB.length) return false
  return keysA.every((k) => Object.hasOwn(b, k) && jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}
