/**
 * The stored-value codec (src/core/codec.ts) against JSON.stringify/JSON.parse, on plain and on
 * tagged data, in one run: the `codec` section of `bun run bench`, or on its own:
 *
 *   bun scripts/bench/codec.ts [--rounds 7] [--ms 200]
 *
 * Every operation runs for a fixed time slice per round, the operations alternate within a round,
 * and each figure is the median over the rounds (so is each ratio, taken per round), so a noisy
 * machine moves a figure and its reference together. For tagged data the reference is JSON on the
 * same order written by hand as plain JSON (Dates as ISO strings, the Map as an object, the BigInt
 * as a string): what a caller had to do before the codec.
 */

import { parseArgs } from 'node:util'
import { decode, encode } from '../../src/core/codec.ts'
import { median } from './harness.ts'

/** A typical step output: an order with customer, 20 line items and some metadata (~3 KB of JSON). */
function order(tagged: boolean, i: number) {
  const at = (n: number) => (tagged ? new Date(1_764_496_800_000 + n) : new Date(1_764_496_800_000 + n).toISOString())
  return {
    orderId: `ORD_${i}`,
    status: 'paid',
    total: 1234.5,
    currency: 'EUR',
    createdAt: at(0),
    customer: {
      id: `cus_${i}`,
      email: 'ada@example.com',
      name: 'Ada Lovelace',
      vip: true,
      address: { line1: '1 Main St', city: 'Paris', zip: '75001' },
    },
    lines: Array.from({ length: 20 }, (_, n) => ({
      sku: `SKU-${n}`,
      title: `Item number ${n}`,
      qty: (n % 3) + 1,
      unitPrice: 9.99 + n,
      tags: ['a', 'b'],
      reservedAt: at(n),
    })),
    metadata: tagged ? new Map([['source', 'web'], ['campaign', 'winter']]) : { source: 'web', campaign: 'winter' },
    amountMinor: tagged ? 123450n : '123450',
  }
}

const small = { chargeId: 'ch_123', amount: 100, ok: true, note: null }

/** The cases measured; `plain` is what JSON.stringify is timed on. */
const CASES = [
  { name: 'plain small', value: small as unknown, plain: small as unknown },
  { name: 'plain order', value: order(false, 1) as unknown, plain: order(false, 1) as unknown },
  { name: 'tagged order', value: order(true, 1) as unknown, plain: order(false, 1) as unknown },
]

/** One case's figures: medians over the rounds, ratios taken per round. */
export interface CodecResult {
  case: string
  /** Length of the encoded text. */
  bytes: number
  encodeOps: number
  stringifyOps: number
  /** encode ops/s ÷ JSON.stringify ops/s, per round, median. */
  encodeRatio: number
  decodeOps: number
  parseOps: number
  /** decode ops/s ÷ JSON.parse ops/s, per round, median. */
  decodeRatio: number
}

let sink = 0

/** Operations per second of `fn` over one time slice. */
function opsPerSecond(fn: () => unknown, sliceMs: number): number {
  let ops = 0
  const start = performance.now()
  let elapsed = 0
  while (elapsed < sliceMs) {
    for (let i = 0; i < 100; i++) {
      const result = fn()
      sink += typeof result === 'string' ? result.length : 1
    }
    ops += 100
    elapsed = performance.now() - start
  }
  return (ops / elapsed) * 1000
}

/** Measures encode and decode of every case against JSON.stringify and JSON.parse, alternating. */
export function measureCodec(options: { rounds: number; sliceMs: number }): CodecResult[] {
  const plans = CASES.map(({ name, value, plain }) => {
    const text = encode(value, 'bench')!
    const plainText = JSON.stringify(plain)
    // Decoding is timed on the codec's text, parsing on the hand-written plain JSON (identical for plain data).
    const ops = {
      stringify: () => JSON.stringify(plain),
      encode: () => encode(value, 'bench'),
      parse: () => JSON.parse(plainText),
      decode: () => decode(text),
    }
    const samples = { stringify: [] as number[], encode: [] as number[], parse: [] as number[], decode: [] as number[] }
    return { name, bytes: text.length, ops, samples, encodeRatios: [] as number[], decodeRatios: [] as number[] }
  })
  for (let round = 0; round < options.rounds; round++) {
    for (const plan of plans) {
      for (const op of ['stringify', 'encode', 'parse', 'decode'] as const) plan.samples[op].push(opsPerSecond(plan.ops[op], options.sliceMs))
      plan.encodeRatios.push(plan.samples.encode.at(-1)! / plan.samples.stringify.at(-1)!)
      plan.decodeRatios.push(plan.samples.decode.at(-1)! / plan.samples.parse.at(-1)!)
    }
  }
  if (sink === 0) throw new Error('codec bench: nothing was measured')
  return plans.map((plan) => ({
    case: plan.name,
    bytes: plan.bytes,
    encodeOps: median(plan.samples.encode),
    stringifyOps: median(plan.samples.stringify),
    encodeRatio: median(plan.encodeRatios),
    decodeOps: median(plan.samples.decode),
    parseOps: median(plan.samples.parse),
    decodeRatio: median(plan.decodeRatios),
  }))
}

if (import.meta.main) {
  const { values: flags } = parseArgs({ options: { rounds: { type: 'string' }, ms: { type: 'string' } } })
  const rounds = Number(flags.rounds ?? 7)
  const sliceMs = Number(flags.ms ?? 200)
  const results = measureCodec({ rounds, sliceMs })
  const format = (n: number) => Math.round(n).toLocaleString('en-US')
  console.log(`codec bench: ${rounds} rounds × ${sliceMs} ms per operation, Bun ${Bun.version}, medians`)
  console.log('')
  console.log(`${'case'.padEnd(14)}${'bytes'.padStart(7)}  ${'operation'.padEnd(16)}${'ops/s'.padStart(12)}   vs reference`)
  for (const r of results) {
    const rows: [string, number, string][] = [
      ['JSON.stringify', r.stringifyOps, ''],
      ['encode', r.encodeOps, `${r.encodeRatio.toFixed(2)}× JSON.stringify`],
      ['JSON.parse', r.parseOps, ''],
      ['decode', r.decodeOps, `${r.decodeRatio.toFixed(2)}× JSON.parse`],
    ]
    for (const [op, ops, ratio] of rows) {
      console.log(`${r.case.padEnd(14)}${String(r.bytes).padStart(7)}  ${op.padEnd(16)}${format(ops).padStart(12)}   ${ratio}`)
    }
  }
}
