/**
 * The one (de)serialisation policy for stored values: workflow input, step output, event payloads
 * and errors. The engine reaches it through core/json.ts (serialize, deserialize, storedEqual).
 *
 * Plain JSON data encodes to exactly `JSON.stringify(value)`, byte for byte, so rows written before
 * this codec read unchanged and a plain value costs a validating walk plus `JSON.stringify`. Only a
 * value JSON cannot carry is written as a tag: an object with exactly one key, `"~reflow:<Type>"`:
 *
 *   Date         {"~reflow:Date":"2026-11-30T10:00:00.000Z"}      Invalid Date: {"~reflow:Date":null}
 *   Map          {"~reflow:Map":[[key, value], ...]}               keys and values encoded recursively
 *   Set          {"~reflow:Set":[item, ...]}
 *   BigInt       {"~reflow:BigInt":"-123"}
 *   undefined    {"~reflow:undefined":null}                        as an array item, Map/Set member or property
 *   numbers      {"~reflow:Number":"-0"}                           also "NaN", "Infinity", "-Infinity"
 *   RegExp       {"~reflow:RegExp":["ab+c","gi"]}                  source and flags (lastIndex is not kept)
 *   URL          {"~reflow:URL":"https://example.com/"}
 *   bytes        {"~reflow:Uint8Array":"AQID"}                     base64 of the view's bytes, little-endian;
 *                                                                  every typed array, DataView, ArrayBuffer
 *   Error        {"~reflow:Error":{"name":"TypeError","message":"...","stack":"...","cause":...,"fields":{...}}}
 *   escaped      {"~reflow:Object":[["~reflow:Date","not a tag"], ...]}
 *
 * A plain object with a key that starts with `~reflow:` is written in the escaped form (its entries
 * as pairs), so data that looks like a tag comes back as the same data. Decoding skips the revive
 * walk entirely when the text does not contain `"~reflow:` (the only way a tag or an escaped key can
 * appear, whatever whitespace a database adds when it re-serialises the text), so plain rows decode
 * at JSON.parse speed; a string value that merely contains the marker costs a walk, never a wrong value.
 *
 * Decisions:
 * - A property whose value is undefined comes back present, with the value undefined: it is written
 *   as the undefined tag. Only such properties change bytes compared with JSON.stringify (which drops
 *   them); an object without undefined properties stays byte-identical. Undefined at the top is
 *   `null` (no value), and an array hole comes back as undefined.
 * - -0, NaN and ±Infinity are tagged (JSON.stringify writes -0 as 0 and the others as null).
 * - Objects come back with Object.prototype, also those encoded from a null-prototype object. Keys
 *   such as `__proto__` and `constructor` are own data properties on both sides; decoding never
 *   assigns through a prototype setter.
 * - An Error comes back as an Error with the same name, message, stack, cause and own enumerable
 *   fields (`code`, ...); its class does not (a TypeError or a ReflowError is an Error named so).
 *   Likewise a subclass of a typed array (a Node `Buffer`) is stored as, and comes back as, the typed
 *   array it extends (a Uint8Array).
 * - A value reachable twice is written twice (and comes back as two copies); a cycle is refused.
 * - Rejected with a SerializationError naming `what` and the path (`$.user.tags[2]`): functions,
 *   symbols, symbol-keyed properties, instances of any other class (named in the message), cycles,
 *   and nesting deeper than MAX_DEPTH (1000) levels. Encoding is recursive, so the limit also keeps
 *   it far from the engine's stack limit; cycles are found when they reach it.
 *
 * `toPlainJson` gives the same tagged form as a JSON value (for `--json` output, where a consumer may
 * feed it back through `decode(JSON.stringify(...))`); `renderValue` gives text for people.
 */

import { SerializationError } from './errors.ts'

export type { Stored, Unstorable } from './stored-types.ts'

/** How many levels of objects (arrays, Maps, Dates, ... alike) a stored value may have; the top value is level 1. */
export const MAX_DEPTH = 1000

const TAG_PREFIX = '~reflow:'
const MARKER = `"${TAG_PREFIX}`
const TILDE = 126

/** A JSON value, as `toPlainJson` returns it. */
export type PlainJson = string | number | boolean | null | PlainJson[] | { [key: string]: PlainJson }

/**
 * Encodes `value` as JSON text, or `null` for undefined. Plain JSON data gives exactly
 * `JSON.stringify(value)`. Throws SerializationError naming `what` and the path of the first value
 * that cannot be stored.
 *
 * @example
 * encode({ at: new Date(0) }, 'Output of step "charge"') // '{"at":{"~reflow:Date":"1970-01-01T00:00:00.000Z"}}'
 */
export function encode(value: unknown, what: string): string | null {
  if (value === undefined) return null
  return JSON.stringify(new Encoder(what).walk(value, 0))
}

/**
 * The inverse of `encode`: `decode(encode(v, w))` is `v` for every supported value. Throws
 * SerializationError on a malformed tag (for instance one written by a newer version).
 *
 * @example
 * decode('{"tags":{"~reflow:Set":["a"]}}') // { tags: Set(1) {'a'} }
 */
export function decode(text: string | null | undefined): unknown {
  if (text == null) return undefined
  const value: unknown = JSON.parse(text)
  if (!text.includes(MARKER)) return value
  return new Decoder().walk(value, 0)
}

/**
 * The tagged form of `value` as a JSON value, for machine-readable output: plain data is returned
 * as is, and `decode(JSON.stringify(toPlainJson(v)))` gives `v` back. Undefined at the top is null.
 *
 * @example
 * JSON.stringify({ output: toPlainJson(new Map([['a', 1]])) }) // '{"output":{"~reflow:Map":[["a",1]]}}'
 */
export function toPlainJson(value: unknown, what = 'Value'): PlainJson {
  return value === undefined ? null : (new Encoder(what).walk(value, 0) as PlainJson)
}

/**
 * One step of a path: a property name, an array index, or a member of a Map or Set (the n-th key,
 * the value under `key`, the n-th item), rendered only when an error needs the path.
 */
type Segment = string | number | { member: 'key' | 'value' | 'item'; index: number; key?: unknown }

const TYPED_ARRAYS: ReadonlyMap<object, new (buffer: ArrayBuffer) => ArrayBufferView> = new Map(
  [
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
    DataView,
  ].map((ctor) => [ctor.prototype, ctor as new (buffer: ArrayBuffer) => ArrayBufferView]),
)
const BYTE_TAGS: ReadonlyMap<string, new (buffer: ArrayBuffer) => ArrayBufferView> = new Map(
  [...TYPED_ARRAYS.values()].map((ctor) => [ctor.name, ctor]),
)

const SPECIAL_NUMBERS: Readonly<Record<string, number>> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
  '-0': -0,
}
const UNDEFINED_TAG = { [`${TAG_PREFIX}undefined`]: null }

function tag(type: string, payload: unknown): Record<string, unknown> {
  return { [TAG_PREFIX + type]: payload }
}

/**
 * One encoding: a depth-first walk that returns `value` itself when it is plain JSON (so the caller
 * stringifies the original, byte-identical) and a copy with tags where something needed one.
 * Ancestors and keys are kept per depth for error paths; cycles are looked for only once MAX_DEPTH
 * is reached, which every cycle reaches, so plain data pays no per-node ancestor search.
 */
class Encoder {
  private readonly parents: object[] = []
  private readonly keys: Segment[] = []
  constructor(private readonly what: string) {}

  walk(value: unknown, depth: number): unknown {
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return value
      case 'number':
        if (Number.isFinite(value) && !Object.is(value, -0)) return value
        return tag('Number', Object.is(value, -0) ? '-0' : String(value))
      case 'bigint':
        return tag('BigInt', value.toString())
      case 'undefined':
        return UNDEFINED_TAG
      case 'function':
        throw this.fail(depth, 'a function cannot be stored')
      case 'symbol':
        throw this.fail(depth, 'a symbol cannot be stored')
    }
    if (value === null) return null
    const object = value as object
    if (depth >= MAX_DEPTH) throw this.tooDeep(object, depth)
    this.parents[depth] = object
    const proto: unknown = Object.getPrototypeOf(object)
    if (proto === Object.prototype || proto === null) return this.object(object as Record<string, unknown>, depth)
    if (proto === Array.prototype) return this.array(object as unknown[], depth)
    return this.instance(object, proto as object | null, depth)
  }

  private object(object: Record<string, unknown>, depth: number): unknown {
    const keys = Object.keys(object)
    let copy: Record<string, unknown> | undefined
    let escape = false
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      if (key.charCodeAt(0) === TILDE && key.startsWith(TAG_PREFIX)) escape = true
      const item = object[key]
      this.keys[depth + 1] = key
      const stored = this.walk(item, depth + 1)
      if (stored !== item && copy === undefined) {
        copy = {}
        for (let j = 0; j < i; j++) setOwn(copy, keys[j]!, object[keys[j]!])
      }
      if (copy !== undefined) setOwn(copy, key, stored)
    }
    this.rejectSymbolKeys(object, depth)
    if (escape) return tag('Object', keys.map((key) => [key, (copy ?? object)[key]]))
    return copy ?? object
  }

  private array(array: unknown[], depth: number): unknown {
    let copy: unknown[] | undefined
    for (let i = 0; i < array.length; i++) {
      const item = array[i]
      this.keys[depth + 1] = i
      const stored = this.walk(item, depth + 1)
      if (stored !== item && copy === undefined) copy = array.slice(0, i)
      if (copy !== undefined) copy.push(stored)
    }
    return copy ?? array
  }

  private instance(object: object, proto: object | null, depth: number): unknown {
    if (proto === Date.prototype) {
      const time = (object as Date).getTime()
      return tag('Date', Number.isNaN(time) ? null : (object as Date).toISOString())
    }
    if (proto === Map.prototype) {
      const entries: unknown[] = []
      let i = 0
      for (const [key, item] of object as Map<unknown, unknown>) {
        this.keys[depth + 1] = { member: 'key', index: i }
        const storedKey = this.walk(key, depth + 1)
        this.keys[depth + 1] = { member: 'value', index: i, key }
        entries.push([storedKey, this.walk(item, depth + 1)])
        i++
      }
      return tag('Map', entries)
    }
    if (proto === Set.prototype) {
      const items: unknown[] = []
      for (const item of object as Set<unknown>) {
        this.keys[depth + 1] = { member: 'item', index: items.length }
        items.push(this.walk(item, depth + 1))
      }
      return tag('Set', items)
    }
    if (proto === RegExp.prototype) return tag('RegExp', [(object as RegExp).source, (object as RegExp).flags])
    if (proto === URL.prototype) return tag('URL', (object as URL).href)
    if (proto === ArrayBuffer.prototype) return tag('ArrayBuffer', toBase64(new Uint8Array(object as ArrayBuffer)))
    const view = TYPED_ARRAYS.get(proto as object) ?? (ArrayBuffer.isView(object) ? typedArrayBase(proto) : undefined)
    if (view !== undefined) {
      const { buffer, byteOffset, byteLength } = object as ArrayBufferView
      return tag(view.name, toBase64(new Uint8Array(buffer, byteOffset, byteLength)))
    }
    if (object instanceof Error) return this.error(object, depth)
    const name = (proto as { constructor?: { name?: unknown } } | null)?.constructor?.name
    const label = typeof name === 'string' && name !== '' ? name : 'an unnamed class'
    throw this.fail(depth, `an instance of ${label} cannot be stored (use plain data, Date, Map, Set, ...)`)
  }

  private error(error: Error, depth: number): unknown {
    const payload: Record<string, unknown> = { name: String(error.name), message: String(error.message) }
    if (typeof error.stack === 'string') payload.stack = error.stack
    if (Object.hasOwn(error, 'cause')) {
      this.keys[depth + 1] = 'cause'
      payload.cause = this.walk(error.cause, depth + 1)
    }
    this.rejectSymbolKeys(error, depth)
    const fields: Record<string, unknown> = {}
    let any = false
    for (const key of Object.keys(error)) {
      if (key === 'name' || key === 'message' || key === 'stack' || key === 'cause') continue
      setOwn(fields, key, (error as unknown as Record<string, unknown>)[key])
      any = true
    }
    // Walked as an object at the error's own depth, so a field's path reads `$.error.code`.
    if (any) payload.fields = this.object(fields, depth)
    return tag('Error', payload)
  }

  private rejectSymbolKeys(object: object, depth: number): void {
    for (const symbol of Object.getOwnPropertySymbols(object)) {
      if (Object.prototype.propertyIsEnumerable.call(object, symbol)) {
        throw this.fail(depth, `the symbol-keyed property [${String(symbol)}] cannot be stored`)
      }
    }
  }

  private fail(depth: number, reason: string): SerializationError {
    return new SerializationError(this.what, renderPath(this.keys, depth), reason)
  }

  private tooDeep(object: object, depth: number): SerializationError {
    this.parents[depth] = object
    for (let j = 1; j <= depth; j++) {
      const i = this.parents.indexOf(this.parents[j]!)
      if (i < j) return this.fail(j, `circular reference (back to ${renderPath(this.keys, i)})`)
    }
    return this.fail(depth, `nested deeper than ${MAX_DEPTH} levels`)
  }
}

/** The typed array (or DataView) a subclass such as Node's Buffer extends, from its prototype chain. */
function typedArrayBase(proto: object | null): (new (buffer: ArrayBuffer) => ArrayBufferView) | undefined {
  for (let p = proto; p !== null; p = Object.getPrototypeOf(p) as object | null) {
    const view = TYPED_ARRAYS.get(p)
    if (view !== undefined) return view
  }
  return undefined
}

/** `$.user.tags[2]`, `$.byId.get("a")`, `$.tags.values()[1]`; a path longer than 40 steps keeps its two ends. */
function renderPath(keys: readonly Segment[], depth: number): string {
  const all = keys.slice(1, depth + 1)
  if (all.length <= 40) return `$${all.map(segment).join('')}`
  return `$${all.slice(0, 20).map(segment).join('')}…(${all.length - 30} more)…${all.slice(-10).map(segment).join('')}`
}

function segment(key: Segment): string {
  if (typeof key === 'number') return `[${key}]`
  if (typeof key === 'string') return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
  if (key.member === 'key') return `.keys()[${key.index}]`
  if (key.member === 'item') return `.values()[${key.index}]`
  const k = key.key
  const simple = typeof k === 'string' || Number.isFinite(k) || typeof k === 'boolean' || k === null
  return simple ? `.get(${JSON.stringify(k)})` : `.values()[${key.index}]`
}

/**
 * One revive walk over parsed JSON: replaces each tag in place (as an own data property, never
 * through a setter) and counts depth the way the encoder does, tags' inner arrays not included.
 */
class Decoder {
  private readonly keys: Segment[] = []

  walk(value: unknown, depth: number): unknown {
    if (typeof value !== 'object' || value === null) return value
    if (depth >= MAX_DEPTH) throw this.fail(depth, `nested deeper than ${MAX_DEPTH} levels`)
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i]
        if (typeof item !== 'object' || item === null) continue
        this.keys[depth + 1] = i
        const revived = this.walk(item, depth + 1)
        if (revived !== item) value[i] = revived
      }
      return value
    }
    const object = value as Record<string, unknown>
    const keys = Object.keys(object)
    const only = keys.length === 1 ? keys[0]! : undefined
    if (only?.startsWith(TAG_PREFIX)) return this.tag(only.slice(TAG_PREFIX.length), object[only], depth)
    for (const key of keys) {
      const item = object[key]
      if (typeof item !== 'object' || item === null) continue
      this.keys[depth + 1] = key
      const revived = this.walk(item, depth + 1)
      // `key` is an own data property (JSON.parse made it), so assigning never reaches a setter.
      if (revived !== item) object[key] = revived
    }
    return object
  }

  private tag(type: string, payload: unknown, depth: number): unknown {
    const malformed = (why: string) => this.fail(depth, `malformed "${TAG_PREFIX}${type}" tag: ${why}`)
    switch (type) {
      case 'undefined':
        return undefined
      case 'Number':
        if (typeof payload !== 'string' || !Object.hasOwn(SPECIAL_NUMBERS, payload)) {
          throw malformed('not NaN, Infinity, -Infinity or -0')
        }
        return SPECIAL_NUMBERS[payload]
      case 'BigInt':
        if (typeof payload !== 'string' || !/^-?\d+$/.test(payload)) throw malformed('not an integer')
        return BigInt(payload)
      case 'Date':
        if (payload !== null && typeof payload !== 'string') throw malformed('not an ISO string')
        return new Date(payload === null ? Number.NaN : payload)
      case 'RegExp':
        if (!Array.isArray(payload) || typeof payload[0] !== 'string' || typeof payload[1] !== 'string') {
          throw malformed('not [source, flags]')
        }
        return attempt(() => new RegExp(payload[0], payload[1]), malformed)
      case 'URL':
        if (typeof payload !== 'string') throw malformed('not a string')
        return attempt(() => new URL(payload), malformed)
      case 'Map':
        return new Map(this.pairs(payload, malformed).map(([key, item], i) => {
          this.keys[depth + 1] = { member: 'key', index: i }
          const revivedKey = this.walk(key, depth + 1)
          this.keys[depth + 1] = { member: 'value', index: i, key: revivedKey }
          return [revivedKey, this.walk(item, depth + 1)] as const
        }))
      case 'Set':
        if (!Array.isArray(payload)) throw malformed('not an array')
        return new Set(payload.map((item, i) => {
          this.keys[depth + 1] = { member: 'item', index: i }
          return this.walk(item, depth + 1)
        }))
      case 'Object': {
        const object: Record<string, unknown> = {}
        for (const [key, item] of this.pairs(payload, malformed)) {
          if (typeof key !== 'string') throw malformed('a key is not a string')
          this.keys[depth + 1] = key
          defineOwn(object, key, this.walk(item, depth + 1), true)
        }
        return object
      }
      case 'Error':
        return this.error(payload, depth, malformed)
    }
    if (type === 'ArrayBuffer' || BYTE_TAGS.has(type)) {
      if (typeof payload !== 'string') throw malformed('not base64')
      const bytes = attempt(() => fromBase64(payload), malformed)
      if (type === 'ArrayBuffer') return bytes.buffer
      const View = BYTE_TAGS.get(type)!
      const size = (View as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1
      if (bytes.length % size !== 0) throw malformed(`${bytes.length} bytes is not a whole number of elements`)
      return new View(bytes.buffer)
    }
    throw this.fail(depth, `unknown tag "${TAG_PREFIX}${type}" (written by a newer version of reflow-ts?)`)
  }

  private pairs(payload: unknown, malformed: (why: string) => SerializationError): [unknown, unknown][] {
    if (!Array.isArray(payload) || !payload.every((pair) => Array.isArray(pair) && pair.length === 2)) {
      throw malformed('not an array of [key, value] pairs')
    }
    return payload as [unknown, unknown][]
  }

  private error(payload: unknown, depth: number, malformed: (why: string) => SerializationError): Error {
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw malformed('not an object')
    const { name, message, stack, fields } = payload as Record<string, unknown>
    if (typeof name !== 'string' || typeof message !== 'string') throw malformed('no name or message')
    const error = new Error(message)
    if (name !== 'Error') defineOwn(error, 'name', name, false)
    if (typeof stack === 'string') defineOwn(error, 'stack', stack, false)
    else delete (error as { stack?: string }).stack
    if (Object.hasOwn(payload, 'cause')) {
      this.keys[depth + 1] = 'cause'
      defineOwn(error, 'cause', this.walk((payload as { cause: unknown }).cause, depth + 1), false)
    }
    if (fields !== undefined) {
      const revived = this.walk(fields, depth)
      if (typeof revived !== 'object' || revived === null) throw malformed('fields is not an object')
      for (const key of Object.keys(revived)) defineOwn(error, key, (revived as Record<string, unknown>)[key], true)
    }
    return error
  }

  private fail(depth: number, reason: string): SerializationError {
    return new SerializationError('Stored value', renderPath(this.keys, depth), reason)
  }
}

/** `object[key] = value`, except that `__proto__` becomes an own property instead of calling the setter. */
function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') defineOwn(object, key, value, true)
  else object[key] = value
}

/** Sets an own data property without ever calling a setter (`__proto__` included). */
function defineOwn(object: object, key: string, value: unknown, enumerable: boolean): void {
  Object.defineProperty(object, key, { value, enumerable, writable: true, configurable: true })
}

function attempt<T>(make: () => T, malformed: (why: string) => SerializationError): T {
  try {
    return make()
  } catch (error) {
    throw malformed(error instanceof Error ? error.message : String(error))
  }
}

function toBase64(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000) as unknown as number[])
  }
  return btoa(binary)
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}
