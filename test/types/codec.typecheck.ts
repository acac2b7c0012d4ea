/**
 * Compile-time guarantees of `Stored<T>` (src/core/codec.ts): the identity for every type the codec
 * round-trips, with functions and symbols dropped from objects. Never run: `tsc` checks it, and
 * every `@ts-expect-error` fails the build if its line compiles.
 */

import { decode, encode, type Stored, type Unstorable } from '../../src/core/codec.ts'
import type { ReflowErrorCode, SerializationError } from '../../src/core/errors.ts'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
const assertType = <T extends true>(_?: T) => {}

// Primitives, undefined and void.
assertType<Equal<Stored<string>, string>>()
assertType<Equal<Stored<'a' | 1 | true>, 'a' | 1 | true>>()
assertType<Equal<Stored<bigint>, bigint>>()
assertType<Equal<Stored<null>, null>>()
assertType<Equal<Stored<undefined>, undefined>>()
assertType<Equal<Stored<void>, undefined>>()
assertType<Equal<Stored<unknown>, unknown>>()
assertType<Equal<Stored<any>, any>>()

// Functions and symbols: never on their own, dropped from objects.
assertType<Equal<Stored<() => void>, never>>()
assertType<Equal<Stored<symbol>, never>>()
declare const key: unique symbol
assertType<Equal<Stored<{ id: number; run(): void; tag: symbol; [key]: string }>, { id: number }>>()

// Supported classes stay what they are.
assertType<Equal<Stored<Date>, Date>>()
assertType<Equal<Stored<RegExp>, RegExp>>()
assertType<Equal<Stored<URL>, URL>>()
assertType<Equal<Stored<Uint8Array>, Uint8Array>>()
assertType<Equal<Stored<Float64Array>, Float64Array>>()
assertType<Equal<Stored<BigInt64Array>, BigInt64Array>>()
assertType<Equal<Stored<ArrayBuffer>, ArrayBuffer>>()
// A typed-array subclass with members of its own (Node's Buffer) comes back as the typed array it extends.
assertType<Equal<Stored<Buffer>, Uint8Array>>()
assertType<Equal<Stored<{ digest: Buffer }>, { digest: Uint8Array }>>()
assertType<Equal<Stored<Uint8Array<ArrayBuffer>>, Uint8Array<ArrayBuffer>>>()
assertType<Equal<Stored<Uint8ClampedArray>, Uint8ClampedArray>>()
assertType<Equal<Stored<{ at: Date; bytes: Uint8ClampedArray }>, { at: Date; bytes: Uint8ClampedArray }>>()
// @ts-expect-error a stored Date is a Date, not its ISO string
assertType<Equal<Stored<Date>, string>>()

// Maps and Sets map their members.
assertType<Equal<Stored<Map<string, { at: Date; fn: () => void }>>, Map<string, { at: Date }>>>()
assertType<Equal<Stored<ReadonlyMap<Date, bigint>>, ReadonlyMap<Date, bigint>>>()
assertType<Equal<Stored<Set<{ id: number }>>, Set<{ id: number }>>>()
assertType<Equal<Stored<ReadonlySet<string>>, ReadonlySet<string>>>()
// @ts-expect-error a ReadonlyMap does not become a Map
assertType<Equal<Stored<ReadonlyMap<string, number>>, Map<string, number>>>()

// Arrays, tuples and readonly arrays keep their shape.
assertType<Equal<Stored<{ at: Date }[]>, { at: Date }[]>>()
assertType<Equal<Stored<[a: Date, b?: bigint]>, [a: Date, b?: bigint]>>()
assertType<Equal<Stored<readonly (string | undefined)[]>, readonly (string | undefined)[]>>()
assertType<Equal<Stored<Array<Map<string, Set<Date>>>>, Array<Map<string, Set<Date>>>>>()
// @ts-expect-error a tuple does not widen to an array
assertType<Equal<Stored<[number, number]>, number[]>>()

// Optional, nullable, unions and records.
type Order = { id: string; note?: string; shippedAt: Date | null; lines: { sku: string; qty: number }[] }
assertType<Equal<Stored<Order>, Order>>()
type Payment = { kind: 'card'; last4: string } | { kind: 'invoice'; due: Date }
assertType<Equal<Stored<Payment>, Payment>>()
assertType<Equal<Stored<Record<string, Date[]>>, Record<string, Date[]>>>()

// An Error subclass comes back as an Error with its data fields.
assertType<Equal<Stored<TypeError>, Error>>()
assertType<Equal<Stored<SerializationError>, Error & { readonly code: ReflowErrorCode; readonly path: string }>>()
declare const stored: Stored<SerializationError>
const path: string = stored.path
class Timeout extends Error {
  retryable = true
  describe(): string {
    return this.message
  }
}
// Methods are dropped; data fields stay.
assertType<Equal<Stored<Timeout>, Error & { retryable: boolean }>>()
declare const timeout: Stored<Timeout>
const retryable: boolean = timeout.retryable
// @ts-expect-error a method does not survive storage
timeout.describe()

// Unstorable: what TypeScript can see the codec would refuse, by path (createWorkflow and .step report it).
class Socket {
  write(_data: string) {}
}
declare const tag: unique symbol
type Json = string | number | boolean | null | Json[] | { [key: string]: Json }
assertType<Equal<Unstorable<{ conn: Socket }>, '$.conn.write is a function'>>()
assertType<Equal<Unstorable<() => 1>, '$ is a function'>>()
assertType<Equal<Unstorable<{ ids: symbol[] }>, '$.ids[i] is a symbol'>>()
assertType<Equal<Unstorable<{ [tag]: 1; id: 1 }>, '$ has a symbol-keyed property'>>()
assertType<Equal<Unstorable<{ later: Promise<number> }>, '$.later is a Promise (await it)'>>()
assertType<Equal<Unstorable<Map<string, () => void>>, '$.values()[i] is a function'>>()
assertType<Equal<Unstorable<{ a: () => void; b: symbol }>, '$.a is a function' | '$.b is a symbol'>>()
class Registry extends Map<string, number> {
  total = 0
}
class Stamp extends Date {
  label = 'x'
}
assertType<Equal<Unstorable<{ registry: Registry }>, '$.registry is an instance of a subclass of Map'>>()
assertType<Equal<Unstorable<[Stamp]>, '$[i] is an instance of a subclass of Date'>>()
assertType<Equal<Unstorable<{ digest: Buffer; tags: ReadonlySet<string>; byId: ReadonlyMap<string, Date> }>, never>>()
// Everything the codec keeps passes, an Error's methods included; so do recursive types, any and unknown.
assertType<Equal<Unstorable<{ at: Date; m: Map<bigint, Set<URL>>; bytes: Uint8Array[]; re: RegExp }>, never>>()
assertType<Equal<Unstorable<{ error: Timeout; cause: SerializationError }>, never>>()
assertType<Equal<Unstorable<Json>, never>>()
assertType<Equal<Unstorable<Record<string, [Date, bigint?]>>, never>>()
assertType<Equal<Unstorable<void>, never>>()
assertType<Equal<Unstorable<any>, never>>()
assertType<Equal<Unstorable<unknown>, never>>()

// encode/decode signatures.
const text: string | null = encode({ at: new Date() }, 'Output of step "s"')
const value: unknown = decode(text)
// @ts-expect-error encode needs to know what it encodes, for its error messages
encode({})

export { path, retryable, value }
