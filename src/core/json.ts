/**
 * The engine's entry to the stored-value policy (codec.ts): what reflow persists (workflow input,
 * step output, errors) is encoded once, and every value handed to a step went through the round
 * trip, so a step sees the same `prev` whether the previous step ran a moment ago in this process
 * or yesterday in another one. Dates, Maps, Sets, BigInts, typed arrays, Errors and the other types
 * codec.ts lists keep their types; plain JSON data is stored byte for byte as JSON.stringify writes it.
 */

import { decode, encode, type Stored } from './codec.ts'

/**
 * What `T` looks like after a trip through storage (codec.ts `Stored`).
 * @deprecated Since 0.2 values keep their types (a Date stays a Date): use `Stored<T>`.
 */
export type Jsonify<T> = Stored<T>

/**
 * Encodes `value` as stored text, or `null` for undefined. Throws SerializationError naming `what`
 * (e.g. `Output of step "charge"`) and the path of the first value that cannot be stored.
 */
export function serialize(value: unknown, what: string): string | null {
  return encode(value, what)
}

/** The inverse of `serialize`. */
export function deserialize(text: string | null | undefined): unknown {
  return decode(text)
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

/**
 * Deep equality of two stored values (what an idempotent enqueue compares), ignoring the order of
 * object keys: Dates by time, Maps and Sets by their entries in order, typed arrays by bytes, and
 * -0, NaN as the codec keeps them (Object.is).
 */
export function storedEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false
  if (a instanceof Date) return Object.is(a.getTime(), (b as Date).getTime())
  if (a instanceof RegExp || a instanceof URL) return String(a) === String(b)
  if (a instanceof Map || a instanceof Set) {
    const left = [...a.entries()]
    const right = [...(b as Map<unknown, unknown>).entries()]
    return left.length === right.length && left.every((entry, i) => storedEqual(entry, right[i]))
  }
  if (ArrayBuffer.isView(a) || a instanceof ArrayBuffer) return bytesOf(a).join() === bytesOf(b as ArrayBuffer).join()
  if (a instanceof Error) {
    const other = b as Error
    if (a.name !== other.name || a.message !== other.message || !storedEqual(a.cause, other.cause)) return false
  }
  if (Array.isArray(a) && a.length !== (b as unknown[]).length) return false
  const keysA = Object.keys(a)
  const keysB = Object.keys(b)
  if (keysA.length !== keysB.length) return false
  return keysA.every((k) => Object.hasOwn(b, k) && storedEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}

function bytesOf(value: ArrayBuffer | ArrayBufferView): Uint8Array {
  return ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : new Uint8Array(value)
}
