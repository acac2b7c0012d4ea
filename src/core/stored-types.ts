/**
 * The types of stored values: `Stored<T>` is what `T` looks like after the codec's round trip
 * (codec.ts), `Unstorable<T>` names the first part of `T` the codec would refuse, for compile-time
 * errors where TypeScript can see them.
 */

type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array

type AnyFunction = (...args: never[]) => unknown

/**
 * What `T` looks like after `decode(encode(value))`: the identity for every supported type (a Date
 * stays a Date, a Map a Map of stored keys and values, tuples and readonly arrays keep their shape),
 * an Error subclass becomes an Error with its data fields, functions and symbols are dropped from
 * objects and are `never` on their own, and void becomes undefined. (The codec refuses functions and
 * symbols at run time; `Unstorable` makes a step returning one a compile error.)
 */
export type Stored<T> = 0 extends 1 & T
  ? any
  : unknown extends T
    ? unknown
    : T extends string | number | boolean | bigint | null | undefined
      ? T
      : T extends AnyFunction | symbol
        ? never
        : [T] extends [void]
          ? undefined
          : T extends Date | RegExp | URL | ArrayBuffer | DataView
            ? T
            : T extends TypedArray
              ? StoredBytes<T>
            : T extends Map<infer K, infer V>
              ? Map<Stored<K>, Stored<V>>
              : T extends ReadonlyMap<infer K, infer V>
                ? ReadonlyMap<Stored<K>, Stored<V>>
                : T extends Set<infer V>
                  ? Set<Stored<V>>
                  : T extends ReadonlySet<infer V>
                    ? ReadonlySet<Stored<V>>
                    : T extends Error
                      ? StoredError<T>
                      : T extends readonly unknown[]
                        ? { [K in keyof T]: Stored<T[K]> }
                        : T extends object
                          ? StoredObject<T>
                          : never

/** A typed array stays what it is; a subclass with more members (a Node Buffer) becomes the typed array it extends. */
type StoredBytes<T extends TypedArray> = T extends { readonly [Symbol.toStringTag]: infer Tag }
  ? Extract<TypedArray, { readonly [Symbol.toStringTag]: Tag }> extends infer Base
    ? [keyof T] extends [keyof Base]
      ? T
      : Base
    : never
  : T

type StoredObject<T> = {
  [K in keyof T as K extends symbol ? never : T[K] extends AnyFunction | symbol ? never : K]: Stored<T[K]>
}

type StoredError<T extends Error> = [Exclude<keyof StoredObject<T>, keyof Error>] extends [never]
  ? Error
  : Error & StoredObject<Omit<T, keyof Error>>

/**
 * The parts of `T` that TypeScript can see the codec would refuse, as string literals naming the
 * path and the reason (`"$.conn.write is a function"`), or never when nothing is. Functions and
 * methods (so instances of classes with methods: a socket, a Promise), symbols and symbol-keyed
 * properties are seen, and so are subclasses of Date, RegExp, URL, Map and Set that add members; an
 * instance of a class with data fields only looks like a plain object and is refused at run time
 * instead. Methods of an Error are allowed (only its data is stored), and so are typed-array
 * subclasses such as Buffer (stored as the typed array they extend).
 * Looks 8 levels deep, so recursive types stay cheap.
 */
export type Unstorable<T, Path extends string = '$', Depth extends 0[] = []> = 0 extends 1 & T
  ? never
  : unknown extends T
    ? never
    : Depth['length'] extends 8
      ? never
      : T extends string | number | boolean | bigint | null | undefined | void
        ? never
        : T extends AnyFunction
          ? `${Path} is a function`
          : T extends symbol
            ? `${Path} is a symbol`
            : T extends ArrayBuffer | DataView | TypedArray
              ? never
              : T extends Date
                ? Subclass<T, Date, Path, 'Date'>
                : T extends RegExp
                  ? Subclass<T, RegExp, Path, 'RegExp'>
                  : T extends URL
                    ? Subclass<T, URL, Path, 'URL'>
                    : T extends PromiseLike<unknown>
                      ? `${Path} is a Promise (await it)`
                      : T extends ReadonlyMap<infer K, infer V>
                        ? | Subclass<T, Map<K, V>, Path, 'Map'>
                          | Unstorable<K, `${Path}.keys()[i]`, [...Depth, 0]>
                          | Unstorable<V, `${Path}.values()[i]`, [...Depth, 0]>
                        : T extends ReadonlySet<infer V>
                          ? Subclass<T, Set<V>, Path, 'Set'> | Unstorable<V, `${Path}.values()[i]`, [...Depth, 0]>
                          : T extends Error
                            ? UnstorableFields<Omit<T, keyof Error>, Path, Depth, true>
                            : T extends readonly unknown[]
                              ? Unstorable<T[number], `${Path}[i]`, [...Depth, 0]>
                              : T extends object
                                ? UnstorableFields<T, Path, Depth, false>
                                : never

/** A subclass of a supported class with members of its own (a `class Registry extends Map`): the codec refuses it. */
type Subclass<T, Base, Path extends string, Name extends string> = [Exclude<keyof T, keyof Base>] extends [never]
  ? never
  : `${Path} is an instance of a subclass of ${Name}`

type UnstorableFields<T, Path extends string, Depth extends 0[], Methods extends boolean> = [
  Extract<keyof T, symbol>,
] extends [never]
  ? {
      [K in keyof T & (string | number)]-?: Methods extends true
        ? T[K] extends AnyFunction
          ? never
          : Unstorable<T[K], `${Path}.${K}`, [...Depth, 0]>
        : Unstorable<T[K], `${Path}.${K}`, [...Depth, 0]>
    }[keyof T & (string | number)]
  : `${Path} has a symbol-keyed property`
