/**
 * Compile-time guarantees about stored values: arrays, tuples, readonly arrays, nested objects with
 * Dates, optional and nullable fields, unions and records keep their real types in `input`, `prev`,
 * `onFailure`'s input and `testEngine` results, with a Date typed as the string storage returns.
 * This file is never run: `tsc` checks it, and every `@ts-expect-error` fails the build if its line
 * compiles.
 */

import { type } from 'arktype'
import * as v from 'valibot'
import { z } from 'zod'
import { createWorkflow, type Jsonify } from '../../src/index.ts'
import { testEngine } from '../../src/test.ts'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
const assertType = <T extends true>(_?: T) => {}

interface Line {
  sku: string
  qty: number
}

/** What the 'reserve' step returns, as the next step sees it: its Dates are strings. */
type Reservation = { sku: string; reservedAt: string; bins: { id: number; at: string }[] }

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

    // Nested arrays of objects: every Date inside is the ISO string storage gives back.
    assertType<Equal<typeof input.shipments, { at: string; parcels: { weight: number; sealedAt: string }[] }[]>>()
    const firstSeal: string | undefined = input.shipments[0]?.parcels[0]?.sealedAt
    // @ts-expect-error a stored Date is a string, not a Date
    input.shipments[0]?.at.getTime()

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

    return [lines.length, total, unit, joined, firstSeal, skus.length]
  })
  .step('reserve', ({ input }) =>
    // A step returning an array of objects with Dates.
    input.lines.map((line) => ({ sku: line.sku, reservedAt: new Date(), bins: [{ id: 1, at: new Date() }] })),
  )
  .step('pick', ({ prev }) => {
    assertType<Equal<typeof prev, Reservation[]>>()
    const skus: string[] = prev.map((r) => r.sku)
    const picked: Reservation[] = prev
    for (const reservation of prev) reservation.bins.forEach((bin) => bin.at.slice(0, 10))
    // @ts-expect-error reservedAt came back as a string
    const when: Date = prev[0]!.reservedAt
    // @ts-expect-error the elements are objects, not Dates
    const dates: Date[] = prev
    return { picked: picked.length, skus }
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
    assertType<Equal<typeof input.shipments[number]['at'], string>>()
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
  })
  assertType<Equal<typeof result.status, 'completed' | 'failed' | 'cancelled'>>()

  const reserve = result.steps.reserve
  // @ts-expect-error without narrowing, the output may be undefined (failed or pending step)
  reserve.output.map((r) => r.sku)
  if (reserve.status === 'completed') {
    assertType<Equal<typeof reserve.error, null>>()
    const skus: string[] = reserve.output.map((r) => r.sku)
    for (const r of reserve.output) r.bins[0]?.at.slice(0, 4)
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
  assertType<Equal<typeof input.items, { id: string; at: string }[]>>()
  assertType<Equal<typeof input.pair, [string, number]>>()
  const ids: string[] = input.items.map((i) => i.id)
  // @ts-expect-error at is a string after storage
  input.items[0]?.at.getTime()
  return ids
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

// Jsonify directly: functions dropped from objects (also inside arrays), undefined and void kept.
assertType<Equal<Jsonify<{ id: number; run(): void; at: Date }[]>, { id: number; at: string }[]>>()
assertType<Equal<Jsonify<(string | undefined)[]>, (string | undefined)[]>>()
assertType<Equal<Jsonify<[a: Date, b?: number]>, [a: string, b?: number]>>()
assertType<Equal<Jsonify<ReadonlyArray<{ at: Date } | null>>, ReadonlyArray<{ at: string } | null>>>()
assertType<Equal<Jsonify<Date[][]>, string[][]>>()
assertType<Equal<Jsonify<void>, undefined>>()
assertType<Equal<Jsonify<undefined>, undefined>>()
assertType<Equal<Jsonify<{ a: { b: Date }[] } | string[]>, { a: { b: string }[] } | string[]>>()
assertType<Equal<Jsonify<Record<string, Date[]>>, Record<string, string[]>>>()
// @ts-expect-error a stored array of Dates is not an array of Dates
assertType<Equal<Jsonify<Date[]>, Date[]>>()
// @ts-expect-error a tuple does not widen to an array
assertType<Equal<Jsonify<[number, number]>, number[]>>()

export { arktypeWorkflow, testEngineChecks, valibotWorkflow }
