/**
 * `bun scripts/bench/codec.ts`: the codec (src/core/codec.ts) against JSON.stringify/JSON.parse and
 * against today's json.ts policy, on plain and on tagged data, in one run.
 *
 * Every operation runs for a fixed time slice per round, the operations alternate within a round,
 * and each figure is the median over the rounds (so is each ratio, taken per round), so a noisy
 * machine moves a figure and its reference together.
 *
 *   bun scripts/bench/codec.ts [--rounds 7] [--ms 200]
 */

import { parseArgs } from 'node:util'
import { decode, encode } from '../../src/core/codec.ts'
import { deserialize, serialize } from '../../src/core/json.ts'
import { median } from './harness.ts'

const { values: flags } = parseArgs({ options: { rounds: { type: 'string' }, ms: { type: 'string' } } })
const rounds = Number(flags.rounds ?? 7)
const sliceMs = Number(flags.ms ?? 200)

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
      qty: n % 3 + 1,
      unitPrice: 9.99 + n,
      tags: ['a', 'b'],
      reservedAt: at(n),
    })),
    metadata: tagged ? new Map([['source', 'web'], ['campaign', 'winter']]) : { source: 'web', campaign: 'winter' },
    amountMinor: tagged ? 123450n : '123450',
  }
}

const small = { chargeId: 'ch_123', amount: 100, ok: true, note: null }

// `plain` is what JSON.stringify is timed on: for tagged data, the same order with its Dates as ISO
// strings, its Map as an object and its BigInt as a string (what a caller would write by hand today).
const cases = [
  { name: 'plain small', value: small as unknown, plain: small as unknown },
  { name: 'plain order', value: order(false, 1) as unknown, plain: order(false, 1) as unknown },
  { name: 'tagged order', value: order(true, 1) as unknown, plain: order(false, 1) as unknown },
]

let sink = 0

/** Operations per second of `fn` over one time slice. */
function opsPerSecond(fn: () => unknown): number {
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

type Op = { name: string; fn: () => unknown; reference?: string }

const rows: { case: string; op: string; reference?: string; samples: number[]; ratios: number[] }[] = []
const plans = cases.map(({ name, value, plain }) => {
  const text = encode(value, 'bench')!
  const plainText = JSON.stringify(plain)
  const ops: Op[] = [
    { name: 'JSON.stringify', fn: () => JSON.stringify(plain) },
    { name: 'encode', fn: () => encode(value, 'bench'), reference: 'JSON.stringify' },
    { name: 'JSON.parse', fn: () => JSON.parse(text) },
    { name: 'decode', fn: () => decode(text), reference: 'JSON.parse' },
  ]
  if (!name.startsWith('tagged')) {
    ops.push(
      { name: 'json.ts serialize', fn: () => serialize(value, 'bench'), reference: 'JSON.stringify' },
      { name: 'json.ts deserialize', fn: () => deserialize(plainText), reference: 'JSON.parse' },
    )
  }
  for (const op of ops) rows.push({ case: name, op: op.name, reference: op.reference, samples: [], ratios: [] })
  return { name, ops, bytes: text.length }
})

for (let round = 0; round < rounds; round++) {
  for (const plan of plans) {
    const measured = new Map<string, number>()
    for (const op of plan.ops) measured.set(op.name, opsPerSecond(op.fn))
    for (const op of plan.ops) {
      const row = rows.find((r) => r.case === plan.name && r.op === op.name)!
      row.samples.push(measured.get(op.name)!)
      if (op.reference) row.ratios.push(measured.get(op.name)! / measured.get(op.reference)!)
    }
  }
}

const format = (n: number) => Math.round(n).toLocaleString('en-US')
console.log(`codec bench: ${rounds} rounds × ${sliceMs} ms per operation, Bun ${Bun.version}, medians`)
for (const plan of plans) console.log(`  ${plan.name}: ${plan.bytes} bytes encoded`)
console.log('')
console.log(`${'case'.padEnd(14)}${'operation'.padEnd(22)}${'ops/s'.padStart(12)}   vs reference`)
for (const row of rows) {
  const ratio = row.reference ? `${median(row.ratios).toFixed(2)}× ${row.reference}` : ''
  console.log(`${row.case.padEnd(14)}${row.op.padEnd(22)}${format(median(row.samples)).padStart(12)}   ${ratio}`)
}
if (sink === 0) console.log('')
