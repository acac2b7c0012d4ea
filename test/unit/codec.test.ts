import { describe, expect, test } from 'bun:test'
import { decode, encode, MAX_DEPTH, toPlainJson } from '../../src/core/codec.ts'
import { SerializationError } from '../../src/core/errors.ts'
import { renderValue } from '../../src/core/render-value.ts'

/**
 * Strict structural equality of a decoded value and its original, the oracle for round trips:
 * Object.is on primitives (so -0 and NaN count), same prototype, own enumerable keys in the same
 * order with undefined values present, Map and Set members in order, bytes of typed arrays, and an
 * Error's name, message, stack, cause and fields. Returns the path of the first difference, or null.
 */
function difference(a: unknown, b: unknown, path = '$'): string | null {
  if (Object.is(a, b)) return null
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return `${path}: ${String(a)} vs ${String(b)}`
  }
  // An Error of any class comes back as an Error with the same name (the first argument is the decoded value).
  const expectedProto = b instanceof Error ? Error.prototype : Object.getPrototypeOf(b)
  if (Object.getPrototypeOf(a) !== expectedProto) return `${path}: prototypes differ`
  if (a instanceof Date) return Object.is(a.getTime(), (b as Date).getTime()) ? null : `${path}: dates differ`
  if (a instanceof RegExp) return String(a) === String(b) ? null : `${path}: regexps differ`
  if (a instanceof URL) return a.href === (b as URL).href ? null : `${path}: URLs differ`
  if (a instanceof ArrayBuffer) return difference(new Uint8Array(a), new Uint8Array(b as ArrayBuffer), path)
  if (ArrayBuffer.isView(a)) {
    const bytes = (v: ArrayBufferView) => [...new Uint8Array(v.buffer, v.byteOffset, v.byteLength)].join(',')
    return bytes(a) === bytes(b as ArrayBufferView) ? null : `${path}: bytes differ`
  }
  if (a instanceof Map || a instanceof Set) {
    return difference([...a], [...(b as Map<unknown, unknown> | Set<unknown>)], `${path}<entries>`)
  }
  if (a instanceof Error) {
    const e = b as Error
    if (a.name !== e.name || a.message !== e.message || a.stack !== e.stack) return `${path}: errors differ`
    if (Object.hasOwn(a, 'cause') !== Object.hasOwn(e, 'cause')) return `${path}.cause: presence differs`
    const cause = difference(a.cause, e.cause, `${path}.cause`)
    if (cause) return cause
  }
  const keysA = Object.keys(a)
  const keysB = Object.keys(b)
  if (keysA.join('\u0000') !== keysB.join('\u0000')) {
    return `${path}: keys ${JSON.stringify(keysA)} vs ${JSON.stringify(keysB)}`
  }
  for (const key of keysA) {
    const d = difference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}.${key}`)
    if (d) return d
  }
  if (Array.isArray(a) && a.length !== (b as unknown[]).length) return `${path}: lengths differ`
  return null
}

function expectRoundTrip(value: unknown): void {
  const text = encode(value, 'v')
  expect(difference(decode(text), value)).toBeNull()
  // The tagged JSON value is the same thing as the text, so --json output decodes too.
  expect(difference(decode(JSON.stringify(toPlainJson(value))), value)).toBeNull()
}

/** mulberry32: a tiny seeded PRNG, so a failing case can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', '~reflow:Date', '~reflow:Object', '~reflow:', '~', '']
const HOSTILE_STRINGS = ['"~reflow:Date"', '~reflow:undefined', '{"~reflow:Map":[]}', '\\"~reflow:', '\u2028', '\ud800']

const INTEGER_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array]

function generator(seed: number, options: { plainOnly: boolean }) {
  const random = prng(seed)
  const int = (n: number) => Math.floor(random() * n)
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!
  const odd = ['', ' ', 'é', '"', '\\', '\n', '😀']
  const string = () => (random() < 0.15 ? pick(HOSTILE_STRINGS) : `${int(1e6).toString(36)}${pick(odd)}`.repeat(int(3)))
  const key = () => (random() < 0.25 ? pick(HOSTILE_KEYS) : pick(['a', 'b', 'id', 'long key', '1', '0', 'é', 'toJSON']))
  const number = () =>
    pick([0, 1, -1, 0.5, -1e21, 1e-7, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, Number.MIN_VALUE, int(1000)])

  function plainLeaf(): unknown {
    return pick([() => null, () => true, () => false, number, string])()
  }

  function taggedLeaf(): unknown {
    return pick<() => unknown>([
      () => undefined,
      () => pick([-0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]),
      () => BigInt(int(1e9)) * pick([1n, -1n, 10n ** 30n]),
      () => new Date(pick([0, 1_764_496_800_000, -62_198_755_200_000, 8.64e15, Number.NaN])),
      () => new RegExp(pick(['ab+c', '^\\d+$', '[/]', '']), pick(['', 'gi', 'muy', 'sd'])),
      () => new URL(pick(['https://example.com/a?b=1#c', 'file:///tmp/x', 'https://user:pw@host:8080/'])),
      () => new (pick(INTEGER_ARRAYS))([int(300) - 150, 7]),
      () => new (pick([Float32Array, Float64Array]))([0.1, -0, Number.NaN, Number.POSITIVE_INFINITY]),
      () => new (pick([BigInt64Array, BigUint64Array]))([1n, 2n ** 63n - 1n]),
      () => new Uint8Array([int(256), int(256), int(256)]).buffer,
      () => new DataView(new Uint8Array([1, 2, 3, 4, 5]).buffer, 1, 3),
    ])()
  }

  function object(depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    const count = int(5)
    for (let i = 0; i < count; i++) {
      // defineProperty, so that a generated `__proto__` key is data, as JSON.parse would make it.
      const property = { value: value(depth + 1), enumerable: true, writable: true, configurable: true }
      Object.defineProperty(out, key(), property)
    }
    return out
  }

  const mapKey = (depth: number) => (random() < 0.5 ? key() : value(depth + 1))

  function value(depth: number): unknown {
    const leaf = () => (options.plainOnly || random() < 0.6 ? plainLeaf() : taggedLeaf())
    if (depth > 4 || random() < 0.35) return leaf()
    const containers: Array<() => unknown> = [
      () => Array.from({ length: int(5) }, () => value(depth + 1)),
      () => object(depth),
      // A plain object that looks exactly like a tag must come back as that object.
      () => ({ [pick(['~reflow:Date', '~reflow:Map', '~reflow:undefined', '~reflow:Nope'])]: value(depth + 1) }),
    ]
    if (!options.plainOnly) {
      containers.push(
        () => new Map(Array.from({ length: int(4) }, () => [mapKey(depth), value(depth + 1)])),
        () => new Set(Array.from({ length: int(4) }, () => value(depth + 1))),
        () => {
          const options = random() < 0.5 ? { cause: value(depth + 1) } : {}
          const error = new (pick([Error, TypeError, RangeError]))(string(), options)
          if (random() < 0.5) Object.defineProperty(error, key(), { value: value(depth + 1), enumerable: true })
          return error
        },
      )
    }
    return pick(containers)()
  }

  return () => value(0)
}

test('the round-trip oracle sees what a lossy codec would lose', () => {
  expect(difference(0, -0)).not.toBeNull()
  expect(difference({}, { a: undefined })).not.toBeNull()
  expect(difference({ b: 1, a: 1 }, { a: 1, b: 1 })).not.toBeNull()
  expect(difference(new Error('x'), new TypeError('x'))).not.toBeNull()
  expect(difference(new Map([[1, 2]]), new Map([[1, 3]]))).not.toBeNull()
  expect(difference(new Uint8Array([1]), new Int8Array([1]))).not.toBeNull()
  expect(difference([undefined], [null])).not.toBeNull()
  expect(difference({ a: [new Date(0)] }, { a: [new Date(0)] })).toBeNull()
})

describe('encode: plain JSON is byte-identical to JSON.stringify', () => {
  test('fixed examples', () => {
    const values = [null, 0, 1.5, -1e21, 'x', '', true, [], {}, [1, 'a', null, [{}]], { a: { b: [{ c: 'é\u2028' }] } }]
    for (const value of values) expect(encode(value, 'v')).toBe(JSON.stringify(value))
    expect(encode(undefined, 'v')).toBeNull()
    expect(decode(null)).toBeUndefined()
    expect(decode(undefined)).toBeUndefined()
  })

  test('2000 generated plain values, hostile keys and tag-shaped strings aside', () => {
    const next = generator(42, { plainOnly: true })
    let compared = 0
    for (let i = 0; i < 2000; i++) {
      const value = next()
      const json = JSON.stringify(value)
      // Objects with a key starting with the tag prefix are escaped, on purpose; all else is plain.
      if (json.includes('"~reflow:') && /"~reflow:[^"]*":/.test(json)) continue
      expect(encode(value, 'v')).toBe(json)
      expect(difference(decode(json), value)).toBeNull()
      compared++
    }
    expect(compared).toBeGreaterThan(1000)
  })

  test('an object with an undefined property is the one plain-looking value whose bytes change', () => {
    expect(JSON.stringify({ a: 1, b: undefined })).toBe('{"a":1}')
    expect(encode({ a: 1, b: undefined }, 'v')).toBe('{"a":1,"b":{"~reflow:undefined":null}}')
    const back = decode(encode({ a: 1, b: undefined }, 'v')) as object
    expect(Object.keys(back)).toEqual(['a', 'b'])
  })
})

describe('tag format', () => {
  const cases: Array<[string, unknown, string]> = [
    ['Date', new Date(Date.UTC(2026, 10, 30, 10)), '{"~reflow:Date":"2026-11-30T10:00:00.000Z"}'],
    ['Invalid Date', new Date(Number.NaN), '{"~reflow:Date":null}'],
    ['Map', new Map([['a', 1]]), '{"~reflow:Map":[["a",1]]}'],
    ['Set', new Set([1, 'x']), '{"~reflow:Set":[1,"x"]}'],
    ['BigInt', -123n, '{"~reflow:BigInt":"-123"}'],
    ['undefined item', [undefined], '[{"~reflow:undefined":null}]'],
    ['-0', -0, '{"~reflow:Number":"-0"}'],
    ['NaN', Number.NaN, '{"~reflow:Number":"NaN"}'],
    ['-Infinity', [Number.NEGATIVE_INFINITY], '[{"~reflow:Number":"-Infinity"}]'],
    ['RegExp', /ab+c/gi, '{"~reflow:RegExp":["ab+c","gi"]}'],
    ['URL', new URL('https://example.com/x'), '{"~reflow:URL":"https://example.com/x"}'],
    ['Uint8Array', new Uint8Array([1, 2, 3]), '{"~reflow:Uint8Array":"AQID"}'],
    ['ArrayBuffer', new Uint8Array([255]).buffer, '{"~reflow:ArrayBuffer":"/w=="}'],
    ['escaped', { '~reflow:Date': 'x', a: 1 }, '{"~reflow:Object":[["~reflow:Date","x"],["a",1]]}'],
  ]
  for (const [name, value, text] of cases) {
    test(name, () => {
      expect(encode(value, 'v')).toBe(text)
      expect(difference(decode(text), value)).toBeNull()
    })
  }

  test('Error: name, message, stack, cause and fields', () => {
    const error = Object.assign(new TypeError('boom', { cause: 'disk full' }), { code: 'E_IO' })
    const text = encode(error, 'v')!
    expect(JSON.parse(text)).toEqual({
      '~reflow:Error': {
        name: 'TypeError',
        message: 'boom',
        stack: error.stack,
        cause: 'disk full',
        fields: { code: 'E_IO' },
      },
    })
    const back = decode(text) as Error & { code: string }
    expect(back).toBeInstanceOf(Error)
    expect([back.name, back.message, back.stack]).toEqual(['TypeError', 'boom', error.stack])
    expect([back.cause, back.code]).toEqual(['disk full', 'E_IO'])
    expect(String(back)).toBe('TypeError: boom')
    expect(Object.keys(back)).toEqual(['code'])
  })
})

describe('round trips', () => {
  test('every supported type, nested inside each other', () => {
    const inner = new Error('inner')
    const value = {
      at: new Date(1_764_496_800_000),
      never: new Date(Number.NaN),
      byKey: new Map<unknown, unknown>([
        [{ composite: [1, 2] }, new Set([1n, undefined, -0, Number.NaN])],
        [new Date(0), [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, null]],
      ]),
      tags: new Set([new Map([['k', /x/y]]), new URL('https://example.com/?q=1')]),
      items: [undefined, null, 3],
      optional: undefined,
      bytes: [
        new Int8Array([-128, 127]),
        new Uint8Array([0, 255]),
        new Uint8ClampedArray([0, 255]),
        new Int16Array([-32768]),
        new Uint16Array([65535]),
        new Int32Array([-(2 ** 31)]),
        new Uint32Array([2 ** 32 - 1]),
        new Float32Array([1.5, Number.NaN]),
        new Float64Array([-0, Number.MIN_VALUE]),
        new BigInt64Array([-(2n ** 63n)]),
        new BigUint64Array([2n ** 64n - 1n]),
        new Uint8Array([9, 8, 7]).buffer,
      ],
      failure: Object.assign(new RangeError('outer', { cause: inner }), {
        details: { at: new Date(0), tries: [1, 2] },
      }),
      '~reflow:Set': { __proto__x: [new Map()] },
    }
    expectRoundTrip(value)
    const back = decode(encode(value, 'v')) as typeof value
    expect([...back.byKey.keys()][0]).toEqual({ composite: [1, 2] })
    expect(back.items).toHaveLength(3)
    expect(Object.hasOwn(back, 'optional')).toBe(true)
  })

  test('a view over part of a buffer keeps only its own bytes', () => {
    const buffer = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer
    const back = decode(encode(new Uint16Array(buffer, 2, 2), 'v')) as Uint16Array
    expect(back.byteOffset).toBe(0)
    expect(back.buffer.byteLength).toBe(4)
    expect([...new Uint8Array(back.buffer)]).toEqual([3, 4, 5, 6])
  })

  test('a typed-array subclass (a Node Buffer) is stored as the typed array it extends', () => {
    // Buffer.from copies into a shared pool: the view starts past the pool's first byte.
    const digest = Buffer.from('hello')
    const text = encode({ digest }, 'v')!
    expect(text).toBe('{"digest":{"~reflow:Uint8Array":"aGVsbG8="}}')
    const back = decode(text) as { digest: Uint8Array }
    expect(Object.getPrototypeOf(back.digest)).toBe(Uint8Array.prototype)
    expect(new TextDecoder().decode(back.digest)).toBe('hello')
    class Samples extends Float32Array {}
    const samples = decode(encode(new Samples([0.5, -2]), 'v')) as Float32Array
    expect(Object.getPrototypeOf(samples)).toBe(Float32Array.prototype)
    expect([...samples]).toEqual([0.5, -2])
  })

  test('a shared (non-cyclic) reference is written twice and comes back as two copies', () => {
    const shared = { x: new Date(0) }
    const back = decode(encode({ a: shared, b: shared }, 'v')) as { a: unknown; b: unknown }
    expect(difference(back, { a: shared, b: shared })).toBeNull()
    expect(back.a).not.toBe(back.b)
  })

  test('an array hole comes back as undefined', () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point
    const back = decode(encode([1, , 3], 'v')) as unknown[]
    expect(Object.keys(back)).toEqual(['0', '1', '2'])
    expect(back[1]).toBeUndefined()
  })

  test('a null-prototype object comes back as a plain object', () => {
    const back = decode(encode(Object.assign(Object.create(null), { k: 1 }), 'v'))
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
    expect(back).toEqual({ k: 1 })
  })

  test('property-based: 3000 generated values of every supported kind, hostile keys included', () => {
    for (const seed of [1, 2, 3]) {
      const next = generator(seed, { plainOnly: false })
      for (let i = 0; i < 1000; i++) {
        const value = next()
        const text = encode(value, 'v')
        const d = difference(decode(text), value)
        if (d) throw new Error(`seed ${seed}, value ${i}: ${d}\n${text}`)
      }
    }
  })

  test('MAX_DEPTH levels of nesting round-trip, through Maps too', () => {
    let array: unknown = 'bottom'
    let map: unknown = 'bottom'
    for (let i = 0; i < MAX_DEPTH; i++) {
      array = [array]
      map = new Map([['next', map]])
    }
    expectRoundTrip(array)
    expectRoundTrip(map)
  })
})

describe('hostile input', () => {
  test('decoding never pollutes a prototype', () => {
    const texts = [
      '{"__proto__":{"polluted":1}}',
      '{"__proto__":{"polluted":2},"d":{"~reflow:Date":null}}',
      '{"~reflow:Object":[["__proto__",{"polluted":3}],["constructor",{"prototype":{"polluted":4}}]]}',
      '[{"~reflow:Map":[["__proto__",{"polluted":5}]]},{"constructor":{"prototype":{"polluted":6}},"u":[]}]',
      '{"~reflow:Error":{"name":"Error","message":"m","fields":{"__proto__":{"polluted":7}}}}',
      '{"x":{"__proto__":{"~reflow:Date":null}}}',
    ]
    for (const text of texts) {
      const value = decode(text)
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      expect(Object.prototype).not.toHaveProperty('polluted')
      // The hostile part is still there, as data.
      if (text.includes('polluted')) expect(JSON.stringify(value)).toContain('polluted')
    }
    const escaped = decode(texts[2]) as Record<string, unknown>
    expect(Object.getPrototypeOf(escaped)).toBe(Object.prototype)
    expect(Object.keys(escaped)).toEqual(['__proto__', 'constructor'])
    expect(Object.getOwnPropertyDescriptor(escaped, '__proto__')?.value).toEqual({ polluted: 3 })
    const error = decode(texts[4]) as Error
    expect(Object.getPrototypeOf(error)).toBe(Error.prototype)
    expect(Object.hasOwn(error, '__proto__')).toBe(true)
    const nested = decode(texts[5]) as { x: Record<string, unknown> }
    expect(Object.getPrototypeOf(nested.x)).toBe(Object.prototype)
    expect(Object.getOwnPropertyDescriptor(nested.x, '__proto__')?.value).toBeInstanceOf(Date)
  })

  test('__proto__, constructor and prototype keys round-trip as own data properties', () => {
    const value = JSON.parse('{"__proto__":{"a":1},"constructor":{"prototype":{"b":2}},"prototype":3}') as object
    expect(encode(value, 'v')).toBe(JSON.stringify(value))
    expectRoundTrip(value)
    const withTag = JSON.parse('{"__proto__":{"at":1},"prototype":3}') as Record<string, unknown>
    Object.defineProperty(withTag, '__proto__', { value: { at: new Date(0) }, enumerable: true })
    expectRoundTrip(withTag)
    expect(Object.getPrototypeOf(decode(encode(withTag, 'v')))).toBe(Object.prototype)
  })

  test('objects and strings that look like tags come back as themselves', () => {
    for (const value of [
      { '~reflow:Date': '2026-01-01T00:00:00.000Z' },
      { '~reflow:undefined': null },
      { '~reflow:Nope': 1 },
      { '~reflow:Object': [['a', 1]] },
      [{ '~reflow:Map': [] }, '{"~reflow:Map":[]}', '"~reflow:Date"'],
    ]) {
      expectRoundTrip(value)
    }
  })

  test('a text without the marker is JSON.parse and nothing else', () => {
    // Written by another JSON producer with an escaped tilde: no marker, so no revive walk.
    expect(decode('{"\\u007ereflow:Date":null}')).toEqual({ '~reflow:Date': null })
    expect(decode('{"~reflow:Date":null}')).toBeInstanceOf(Date)
  })

  test('malformed or unknown tags are a SerializationError with the path', () => {
    const cases: Array<[string, string]> = [
      ['{"a":{"~reflow:Nope":1}}', '$.a: unknown tag "~reflow:Nope"'],
      ['{"a":[{"~reflow:Map":3}]}', '$.a[0]: malformed "~reflow:Map" tag'],
      ['{"~reflow:BigInt":"1.5"}', '$: malformed "~reflow:BigInt" tag'],
      ['{"~reflow:Number":"7"}', '$: malformed "~reflow:Number" tag'],
      ['{"~reflow:URL":"not a url"}', '$: malformed "~reflow:URL" tag'],
      ['{"~reflow:RegExp":["(",""]}', '$: malformed "~reflow:RegExp" tag'],
      ['{"~reflow:Uint32Array":"AQID"}', '$: malformed "~reflow:Uint32Array" tag: 3 bytes'],
      ['{"~reflow:Uint8Array":"***"}', '$: malformed "~reflow:Uint8Array" tag'],
      ['{"~reflow:Error":{"message":1}}', '$: malformed "~reflow:Error" tag'],
    ]
    for (const [text, message] of cases) {
      expect(() => decode(text)).toThrow(SerializationError)
      expect(() => decode(text)).toThrow(`Stored value cannot be stored at ${message}`)
    }
  })
})

describe('unsupported values', () => {
  class Point {
    x = 1
  }
  class Tags extends Map {}
  const cyclic: Record<string, unknown> = { user: { tags: [] as unknown[] } }
  ;((cyclic.user as { tags: unknown[] }).tags).push({ owner: cyclic.user })
  const cyclicMap = new Map<string, unknown>()
  cyclicMap.set('self', { map: cyclicMap })
  const cyclicError = new Error('loop')
  cyclicError.cause = { error: cyclicError }
  const cases: Array<[string, unknown, string]> = [
    ['function', { user: { tags: ['a', 'b', () => 1] } }, '$.user.tags[2]: a function cannot be stored'],
    ['symbol', [Symbol('s')], '$[0]: a symbol cannot be stored'],
    ['symbol-keyed property', { a: { [Symbol('k')]: 1 } }, '$.a: the symbol-keyed property [Symbol(k)] cannot'],
    ['class instance', { at: new Point() }, '$.at: an instance of Point cannot be stored'],
    ['Map subclass', { tags: new Tags() }, '$.tags: an instance of Tags cannot be stored'],
    ['WeakMap', [new WeakMap()], '$[0]: an instance of WeakMap cannot be stored'],
    ['Promise', { p: Promise.resolve(1) }, '$.p: an instance of Promise cannot be stored'],
    ['odd key', { 'a b': { c: () => 1 } }, '$["a b"].c: a function cannot be stored'],
    ['Map value', new Map([['k', Symbol('v')]]), '$.get("k"): a symbol cannot be stored'],
    ['Set member', new Set([1, () => 1]), '$.values()[1]: a function cannot be stored'],
    ['Error field', Object.assign(new Error('x'), { fn: () => 1 }), '$.fn: a function cannot be stored'],
    ['cycle', cyclic, '$.user.tags[0].owner: circular reference (back to $.user)'],
    ['cycle through a Map', cyclicMap, '$.get("self").map: circular reference (back to $)'],
    ['cycle through an Error', cyclicError, '$.cause.error: circular reference (back to $)'],
  ]
  for (const [name, value, message] of cases) {
    test(`${name}: SerializationError naming what and the path`, () => {
      expect(() => encode(value, 'Output of step "s"')).toThrow(SerializationError)
      const what = 'Output of step "s"'
      expect(() => encode(value, what)).toThrow(`${what} cannot be stored at ${message}`)
      expect(() => toPlainJson(value)).toThrow(SerializationError)
    })
  }

  test('nesting deeper than MAX_DEPTH is a SerializationError, not a RangeError, both ways', () => {
    let value: unknown = 1
    for (let i = 0; i <= MAX_DEPTH; i++) value = { next: value }
    expect(() => encode(value, 'Input of workflow "w"')).toThrow(SerializationError)
    const message = /^Input of workflow "w" cannot be stored at \$\.next.*: nested deeper than 1000 levels$/
    expect(() => encode(value, 'Input of workflow "w"')).toThrow(message)
    const text = `${'['.repeat(MAX_DEPTH + 1)}{"~reflow:Date":null}${']'.repeat(MAX_DEPTH + 1)}`
    expect(() => decode(text)).toThrow('nested deeper than 1000 levels')
    expect(() => decode(text)).toThrow(SerializationError)
  })
})

describe('toPlainJson', () => {
  test('plain data is returned as is; other values in their tagged form', () => {
    const plain = { a: [1, { b: 'x' }] }
    expect(toPlainJson(plain)).toBe(plain)
    expect(toPlainJson(undefined)).toBeNull()
    expect(toPlainJson({ at: new Date(0), n: 5n })).toEqual({
      at: { '~reflow:Date': '1970-01-01T00:00:00.000Z' },
      n: { '~reflow:BigInt': '5' },
    })
  })
})

describe('renderValue', () => {
  const cases: Array<[unknown, string]> = [
    [new Date(Date.UTC(2026, 10, 30, 10)), 'Date(2026-11-30T10:00:00.000Z)'],
    [new Date(Number.NaN), 'Date(Invalid)'],
    [new Map<string, unknown>([['a', 1], ['b', [2]], ['c', null]]), 'Map(3) {"a" => 1, "b" => [2], "c" => null}'],
    [new Set([1, 2]), 'Set(2) {1, 2}'],
    [123n, '123n'],
    [-0, '-0'],
    [new Uint8Array([1, 2, 3, 4]), 'Uint8Array(4) [1, 2, 3, 4]'],
    [new BigInt64Array([5n]), 'BigInt64Array(1) [5n]'],
    [new Uint8Array([10, 255]).buffer, 'ArrayBuffer(2) <0a ff>'],
    [/ab+c/gi, '/ab+c/gi'],
    [new URL('https://example.com/a'), 'URL(https://example.com/a)'],
    [new Error('message'), 'Error: message'],
    [Object.assign(new TypeError('boom'), { code: 'E1' }), 'TypeError: boom {code: "E1"}'],
    [{ id: 1, 'odd key': [undefined, null], s: 'x' }, '{id: 1, "odd key": [undefined, null], s: "x"}'],
    ['text', '"text"'],
    [undefined, 'undefined'],
  ]
  for (const [value, text] of cases) {
    test(text, () => expect(renderValue(value)).toBe(text))
  }

  test('cycles and maxLength', () => {
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    expect(renderValue(cyclic)).toBe('{a: 1, self: [Circular]}')
    expect(renderValue('x'.repeat(100), { maxLength: 10 })).toBe('"xxxxxxxx…')
    const huge = renderValue(Array.from({ length: 1_000_000 }, (_, i) => i), { maxLength: 20 })
    expect(huge).toBe('[0, 1, 2, 3, 4, 5, …')
    expect(huge).toHaveLength(20)
  })
})
