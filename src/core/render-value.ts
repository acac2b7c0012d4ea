/**
 * Stored values as text for people (the CLI's human output, error messages): one line, every type
 * the codec stores shown by what it is, not by its tagged form:
 *
 *   Date(2026-11-30T10:00:00.000Z)   Map(2) {"a" => 1, "b" => 2}   Set(2) {1, 2}   123n   -0
 *   Uint8Array(4) [1, 2, 3, 4]   ArrayBuffer(2) <0a ff>   /ab+c/gi   URL(https://example.com/)
 *   TypeError: boom {code: "E1"}   {id: 1, "odd key": [undefined, null]}   Point {x: 1}   [Circular]
 *
 * Rendering stops as soon as `maxLength` is reached, so a huge value costs no more than its prefix.
 */

/** Options of `renderValue`. */
export interface RenderOptions {
  /** Longest result, in characters; a longer rendering ends with `…`. Unlimited by default. */
  maxLength?: number
}

const MAX_NESTING = 100

/**
 * One line of readable text for any value.
 *
 * @example
 * renderValue(new Map([['a', new Date(0)]])) // 'Map(1) {"a" => Date(1970-01-01T00:00:00.000Z)}'
 * renderValue('x'.repeat(100), { maxLength: 10 }) // '"xxxxxxxx…'
 */
export function renderValue(value: unknown, options: RenderOptions = {}): string {
  const max = options.maxLength ?? Number.POSITIVE_INFINITY
  const renderer = new Renderer(max)
  renderer.value(value, 0)
  const text = renderer.text
  return text.length > max ? `${text.slice(0, Math.max(0, max - 1))}…` : text
}

class Renderer {
  text = ''
  private readonly ancestors: object[] = []
  constructor(private readonly max: number) {}

  private get full(): boolean {
    return this.text.length > this.max
  }

  value(value: unknown, depth: number): void {
    switch (typeof value) {
      case 'string':
        this.text += JSON.stringify(value)
        return
      case 'number':
        this.text += Object.is(value, -0) ? '-0' : String(value)
        return
      case 'bigint':
        this.text += `${value}n`
        return
      case 'symbol':
        this.text += String(value)
        return
      case 'function':
        this.text += `[Function ${value.name || '(anonymous)'}]`
        return
      case 'boolean':
      case 'undefined':
        this.text += String(value)
        return
    }
    if (value === null) {
      this.text += 'null'
      return
    }
    const object = value as object
    if (this.ancestors.includes(object)) {
      this.text += '[Circular]'
      return
    }
    if (depth >= MAX_NESTING) {
      this.text += '…'
      return
    }
    this.ancestors.push(object)
    this.object(object, depth)
    this.ancestors.pop()
  }

  private object(object: object, depth: number): void {
    if (object instanceof Date) {
      this.text += `Date(${Number.isNaN(object.getTime()) ? 'Invalid' : object.toISOString()})`
    } else if (object instanceof RegExp) {
      this.text += String(object)
    } else if (object instanceof URL) {
      this.text += `URL(${object.href})`
    } else if (Array.isArray(object)) {
      this.list('[', object, ']', depth)
    } else if (object instanceof Map) {
      this.text += `Map(${object.size}) `
      this.entries(object, depth)
    } else if (object instanceof Set) {
      this.text += `Set(${object.size}) `
      this.list('{', object, '}', depth)
    } else if (object instanceof ArrayBuffer || object instanceof DataView) {
      const bytes = ArrayBuffer.isView(object)
        ? new Uint8Array(object.buffer, object.byteOffset, object.byteLength)
        : new Uint8Array(object)
      this.text += `${object.constructor.name}(${bytes.length}) <`
      for (let i = 0; i < bytes.length && !this.full; i++) {
        this.text += `${i ? ' ' : ''}${bytes[i]!.toString(16).padStart(2, '0')}`
      }
      this.text += '>'
    } else if (ArrayBuffer.isView(object)) {
      const items = object as unknown as Iterable<unknown> & ArrayLike<unknown>
      this.text += `${object.constructor.name}(${items.length}) `
      this.list('[', items, ']', depth)
    } else if (object instanceof Error) {
      this.text += `${object.name}: ${object.message}`
      const fields = Object.keys(object).filter((key) => key !== 'name' && key !== 'message' && key !== 'stack')
      if (Object.hasOwn(object, 'cause') && !fields.includes('cause')) fields.push('cause')
      if (fields.length > 0) {
        this.text += ' '
        this.fields(object, fields, depth)
      }
    } else {
      const proto: unknown = Object.getPrototypeOf(object)
      const plain = proto === Object.prototype || proto === null
      const name = plain ? '' : (object.constructor as { name?: string } | undefined)?.name
      if (name) this.text += `${name} `
      this.fields(object, Object.keys(object), depth)
    }
  }

  private list(open: string, items: Iterable<unknown>, close: string, depth: number): void {
    this.text += open
    let first = true
    for (const item of items) {
      if (this.full) break
      if (!first) this.text += ', '
      first = false
      this.value(item, depth + 1)
    }
    this.text += close
  }

  private entries(map: Map<unknown, unknown>, depth: number): void {
    this.text += '{'
    let first = true
    for (const [key, item] of map) {
      if (this.full) break
      if (!first) this.text += ', '
      first = false
      this.value(key, depth + 1)
      this.text += ' => '
      this.value(item, depth + 1)
    }
    this.text += '}'
  }

  private fields(object: object, keys: readonly string[], depth: number): void {
    this.text += '{'
    for (let i = 0; i < keys.length && !this.full; i++) {
      const key = keys[i]!
      this.text += `${i ? ', ' : ''}${/^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key)}: `
      this.value((object as Record<string, unknown>)[key], depth + 1)
    }
    this.text += '}'
  }
}
