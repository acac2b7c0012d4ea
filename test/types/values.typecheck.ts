/**
 * Compile-time guarantees about stored values: arrays, tuples, readonly arrays, nested objects with
 * Dates, Maps, Sets and BigInts, optional and nullable fields, unions and records keep their real
 * types in `input`, `prev`, `onFailure`'s input and `testEngine` results: what storage gives back is
 * what the step returned (`Stored<T>` is the identity for every type the codec keeps).
 * This file is never run: `tsc` checks it, and every `@ts-expect-error` fails the build if its line
 * compiles.
 */

import { type } from 'arktype'
import * as v from 'valibot'
import { z } from 'zod'
import { createWorkflow, type Jsonify, type Stored } from '../../src/index.ts'
import { testEngine } from '../../src/test.ts'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
const assertType = <T extends true>(_?: T) => {}

interface Line {
  sku: string
  qty: number
}

/** What the 'reserve' step returns, as the next step sees it: the same types, Dates, Set and BigInt included. */
type Reservation = { sku: string; reservedAt: Date; bins: { id: number; at: Date }[]; holds: Set<string>; cents: bigint }

const order = z.object({
  orderId: z.string(),
  lines: z.array(z.object({ sku: z.string(), qty: z.number() })),
  dimensions: z.tuple([z.number(), z.number(), z.string()]),
  tags: z.array(z.string()).readonly(),
  shipments: z.array(
    z.object({ at: z.date(), parcels: z.array(z.object({ weight: z.number(), sealedAt: z.date() })) }),
  ),
  coupon: z.string().optional(),
  giftNote: z.string().nullable(),
  payment: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('card'), last4: z.string() }),
    z.object({ kind: z.literal('invoice'), dueDays: z.number(), contacts: z.array(z.string()) }),
  ]),
  stock: z.record(z.string(), z.number()),
  warehouses: z.map(z.string(), z.object({ openedAt: z.date(), capacity: z.bigint() })),
  flags: z.set(z.enum(['fragile', 'gift'])),
})

const orderWorkflow = createWorkflow({ name: 'order', input: order })
  .step('price', ({ input }) => {
    // z.array of objects: a real array of the element type.
    assertType<Equal<typeof input.lines, { sku: string; qty: number }[]>>()
    const lines: Line[] = input.lines
    const total = input.lines.map((l) => l.qty).reduce((a, b) => a + b, 0)
    for (const line of input.lines) line.sku.toUpperCase()
    // @ts-expect-error an element has no such field
    input.lines[0]?.price

    // z.tuple: length and element types are kept.
    assertType<Equal<typeof input.dimensions, [number, number, string]>>()
    const unit: string = input.dimensions[2]
    // @ts-expect-error a tuple of length 3 has no index 3
    input.dimensions[3]
    // @ts-expect-error the first element is a number
    const wrong: string = input.dimensions[0]

    // A readonly array stays readonly.
    assertType<Equal<typeof input.tags, readonly string[]>>()
    const joined: string = input.tags.join(',')
    // @ts-expect-error a readonly array cannot be pushed to
    input.tags.push('x')
    // @ts-expect-error a readonly array is not assignable to a mutable one
    const mutable: string[] = input.tags

    // Nested arrays of objects: every Date inside is still a Date.
    assertType<Equal<typeof input.shipments, { at: Date; parcels: { weight: number; sealedAt: Date }[] }[]>>()
    const firstSeal: number | undefined = input.shipments[0]?.parcels[0]?.sealedAt.getTime()
    // @ts-expect-error a stored Date is a Date, not its ISO string
    input.shipments[0]?.at.slice(0, 10)

    // Maps and Sets keep their key and value types.
    assertType<Equal<typeof input.warehouses, Map<string, { openedAt: Date; capacity: bigint }>>>()
    const capacity: bigint | undefined = input.warehouses.get('PAR')?.capacity
    const fragile: boolean = input.flags.has('fragile')
    // @ts-expect-error a Set of the enum's members only
    input.flags.has('perishable')
    // @ts-expect-error a Map is not a plain object
    input.warehouses.PAR

    // Optional and nullable fields keep their modifiers.
    assertType<Equal<typeof input.coupon, string | undefined>>()
    assertType<Equal<typeof input.giftNote, string | null>>()
    // @ts-expect-error a nullable field may be null
    input.giftNote.length

    // A discriminated union still narrows on its tag.
    if (input.payment.kind === 'invoice') {
      const contacts: string[] = input.payment.contacts
      assertType<Equal<typeof input.payment.dueDays, number>>()
    } else {
      assertType<Equal<typeof input.payment, { kind: 'card'; last4: string }>>()
      // @ts-expect-error only an invoice has contacts
      input.payment.contacts
    }

    // z.record: a string-keyed record of numbers.
    assertType<Equal<typeof input.stock, Record<string, number>>>()
    const skus: string[] = Object.keys(input.stock)

    return [lines.length, total, unit, joined, firstSeal, skus.length, capacity, fragile]
  })
  .step('reserve', ({ input }) =>
    // A step returning an array of objects with Dates, a Set and a BigInt.
    input.lines.map((line) => ({
      sku: line.sku,
      reservedAt: new Date(),
      bins: [{ id: 1, at: new Date() }],
      holds: new Set([line.sku]),
      cents: BigInt(line.qty) * 100n,
    })),
  )
  .step('pick', ({ prev }) => {
    assertType<Equal<typeof prev, Reservation[]>>()
    const skus: string[] = prev.map((r) => r.sku)
    const picked: Reservation[] = prev
    for (const reservation of prev) reservation.bins.forEach((bin) => bin.at.toISOString())
    const when: Date | undefined = prev[0]?.reservedAt
    const total: bigint = prev.reduce((sum, r) => sum + r.cents, 0n)
    const held: boolean = prev.some((r) => r.holds.has('A'))
    // @ts-expect-error reservedAt came back as a Date, not a string
    const iso: string = prev[0]!.reservedAt
    // @ts-expect-error the elements are objects, not Dates
    const dates: Date[] = prev
    return { picked: picked.length, skus, when, total, held }
  })
  .step('pair', ({ prev }): readonly [string, number] => [prev.skus.join(','), prev.picked])
  .step('label', ({ prev }) => {
    assertType<Equal<typeof prev, readonly [string, number]>>()
    const [skus, count] = prev
    // @ts-expect-error the tuple is readonly
    prev[0] = 'x'
    return `${skus} x${count}`
  })
  .onFailure(({ input }) => {
    assertType<Equal<typeof input.lines, { sku: string; qty: number }[]>>()
    const lines: Line[] = input.lines
    assertType<Equal<typeof input.shipments[number]['at'], Date>>()
    return lines
  })

async function testEngineChecks() {
  const te = testEngine({ workflows: [orderWorkflow] })
  const result = await te.run('order', {
    orderId: 'ORD_1',
    lines: [{ sku: 'A', qty: 2 }],
    dimensions: [10, 20, 'cm'],
    tags: ['gift'],
    shipments: [{ at: new Date(), parcels: [{ weight: 1, sealedAt: new Date() }] }],
    giftNote: null,
    payment: { kind: 'card', last4: '4242' },
    stock: { A: 3 },
    warehouses: new Map([['PAR', { openedAt: new Date(), capacity: 10n }]]),
    flags: new Set(['gift'] as const),
  })
  assertType<Equal<typeof result.status, 'completed' | 'failed' | 'cancelled' | 'waiting'>>()

  const reserve = result.steps.reserve
  // @ts-expect-error without narrowing, the output may be undefined (failed or pending step)
  reserve.output.map((r) => r.sku)
  if (reserve.status === 'completed') {
    assertType<Equal<typeof reserve.error, null>>()
    const skus: string[] = reserve.output.map((r) => r.sku)
    for (const r of reserve.output) r.bins[0]?.at.getUTCFullYear()
    assertType<Equal<typeof reserve.output, Reservation[]>>()
    return skus
  }
  if (reserve.status === 'failed') {
    assertType<Equal<typeof reserve.output, undefined>>()
    const message: string = reserve.error
    return message
  }
  assertType<Equal<typeof reserve.status, 'pending'>>()
  assertType<Equal<typeof reserve.error, null>>()
  const label = result.steps.label
  if (label.status === 'completed') assertType<Equal<typeof label.output, string>>()
  // @ts-expect-error a pending or failed step's error is not a string
  const error: string = label.error
  return error
}

// valibot and arktype array schemas come through the same way.
const valibotWorkflow = createWorkflow({
  name: 'valibot-batch',
  input: v.object({
    items: v.array(v.object({ id: v.string(), at: v.date() })),
    pair: v.tuple([v.string(), v.number()]),
  }),
}).step('ids', ({ input }) => {
  assertType<Equal<typeof input.items, { id: string; at: Date }[]>>()
  assertType<Equal<typeof input.pair, [string, number]>>()
  const ids: string[] = input.items.map((i) => i.id)
  const at: number | undefined = input.items[0]?.at.getTime()
  // @ts-expect-error at is still a Date after storage
  input.items[0]?.at.slice(0, 10)
  return [ids, at]
})

const arktypeWorkflow = createWorkflow({
  name: 'arktype-batch',
  input: type({ ids: 'string[]', points: type({ x: 'number', y: 'number' }).array(), 'label?': 'string' }),
}).step('count', ({ input }) => {
  assertType<Equal<typeof input.ids, string[]>>()
  assertType<Equal<typeof input.points, { x: number; y: number }[]>>()
  const xs: number[] = input.points.map((p) => p.x)
  // @ts-expect-error the elements are strings
  const wrong: number[] = input.ids
  return xs.length + (input.label?.length ?? 0)
})

// Stored directly: the identity for what the codec keeps, inside arrays, tuples, unions and records.
assertType<Equal<Stored<{ id: number; at: Date }[]>, { id: number; at: Date }[]>>()
assertType<Equal<Stored<(string | undefined)[]>, (string | undefined)[]>>()
assertType<Equal<Stored<[a: Date, b?: number]>, [a: Date, b?: number]>>()
assertType<Equal<Stored<ReadonlyArray<{ at: Date } | null>>, ReadonlyArray<{ at: Date } | null>>>()
assertType<Equal<Stored<Date[][]>, Date[][]>>()
assertType<Equal<Stored<void>, undefined>>()
assertType<Equal<Stored<undefined>, undefined>>()
assertType<Equal<Stored<{ a: { b: Date }[] } | string[]>, { a: { b: Date }[] } | string[]>>()
assertType<Equal<Stored<Record<string, Map<string, Set<bigint>>>>, Record<string, Map<string, Set<bigint>>>>>()
// A function on its own is never (a step returning one does not compile: see spec.typecheck.ts).
assertType<Equal<Stored<() => void>, never>>()
assertType<Equal<Stored<symbol>, never>>()
// @ts-expect-error a stored array of Dates is not an array of strings
assertType<Equal<Stored<Date[]>, string[]>>()
// @ts-expect-error a tuple does not widen to an array
assertType<Equal<Stored<[number, number]>, number[]>>()
// Jsonify is kept, deprecated, as another name for Stored.
assertType<Equal<Jsonify<{ at: Date; tags: Set<string> }>, Stored<{ at: Date; tags: Set<string> }>>>()
assertType<Equal<Jsonify<{ at: Date }>, { at: Date }>>()

export { arktypeWorkflow, testEngineChecks, valibotWorkflow }

// engine.result(): the output is the last step's stored output when the run from enqueue is passed.
{
  const { createEngine } = await import('../../src/index.ts')
  const { MemoryStorage } = await import('../../src/test.ts')
  const invoice = createWorkflow({ name: 'invoice', input: z.object({ lines: z.array(z.object({ sku: z.string(), qty: z.number() })) }) })
    .step('price', ({ input }) => input.lines.map((l) => ({ ...l, cents: l.qty * 100 })))
    .step('issue', ({ prev }) => ({ total: prev.reduce((sum, l) => sum + l.cents, 0), issuedAt: new Date(), tags: new Set(['a']) }))
  const engine = createEngine({ storage: new MemoryStorage(), workflows: [invoice] })
  const run = await engine.enqueue('invoice', { lines: [{ sku: 'x', qty: 2 }] }, { delay: '10m' })
  assertType<Equal<typeof run.workflow, 'invoice'>>()
  const result = await engine.result(run, { timeout: '30s' })
  if (result.status === 'completed') {
    assertType<Equal<typeof result.output, { total: number; issuedAt: Date; tags: Set<string> }>>()
  } else if (result.status === 'failed') {
    assertType<Equal<typeof result.stepName, string>>()
    assertType<Equal<typeof result.error, Error>>()
  }
  // @ts-expect-error output exists only on a completed result
  result.output
  const byId = await engine.result(run.id)
  if (byId.status === 'completed') assertType<Equal<typeof byId.output, unknown>>()
  // @ts-expect-error a duration is a number or <n><unit>
  await engine.enqueue('invoice', { lines: [] }, { delay: '10 minutes' })
  // @ts-expect-error runAt is a Date or epoch milliseconds
  await engine.enqueue('invoice', { lines: [] }, { runAt: '2026-12-01' })
}
