/**
 * Compile-time guarantees of sleeps, waits for an event and emit. Never run: `tsc` checks it, and
 * every `@ts-expect-error` fails the build if its line compiles.
 */

import { z } from 'zod'
import { createEngine, createWorkflow, defineEvent } from '../../src/index.ts'
import { MemoryStorage, testEngine } from '../../src/test.ts'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
const assertType = <T extends true>(_?: T) => {}

const approved = defineEvent('expense.approved', z.object({ by: z.string(), at: z.date() }))
const shipped = defineEvent(
  'order.shipped',
  z.object({
    parcels: z.array(z.object({ id: z.string(), weight: z.number(), scannedAt: z.array(z.date()) })),
    carrier: z.union([z.object({ kind: z.literal('post'), office: z.string() }), z.object({ kind: z.literal('courier'), phone: z.string() })]),
    note: z.string().nullable(),
  }),
)

type Shipped = {
  parcels: { id: string; weight: number; scannedAt: Date[] }[]
  carrier: { kind: 'post'; office: string } | { kind: 'courier'; phone: string }
  note: string | null
}

assertType<Equal<typeof approved.name, 'expense.approved'>>()

const expense = createWorkflow({ name: 'expense', input: z.object({ id: z.string(), amount: z.number() }) })
  .step('submit', ({ input }) => ({ submitted: input.id, at: new Date() }))
  .sleep('cool-off', '10m')
  .step('after-sleep', ({ prev }) => {
    // A sleep hands prev on unchanged.
    assertType<Equal<typeof prev, { submitted: string; at: Date }>>()
    return prev.submitted
  })
  .sleepUntil('office-hours', ({ input, prev }) => {
    assertType<Equal<typeof prev, string>>()
    assertType<Equal<typeof input, { id: string; amount: number }>>()
    return new Date(input.amount)
  })
  .waitForEvent('approval', approved, {
    key: ({ input, prev }) => {
      assertType<Equal<typeof prev, string>>()
      return input.id
    },
  })
  .step('pay', ({ prev }) => {
    // Without a timeout, prev is the payload as stored: the Date stays a Date.
    assertType<Equal<typeof prev, { by: string; at: Date }>>()
    const ms: number = prev.at.getTime()
    // @ts-expect-error no such field on the payload
    prev.amount
    return ms
  })
  .waitForEvent('shipping', shipped, { key: ({ input }) => input.id, timeout: '3d' })
  .step('track', ({ prev }) => {
    // With a timeout: whether it came, and the payload only when it did.
    assertType<Equal<typeof prev, { received: true; payload: Shipped } | { received: false }>>()
    // @ts-expect-error the payload exists only once received says so
    prev.payload
    if (!prev.received) return null
    const first = prev.payload.parcels[0]
    const scanned: Date | undefined = first?.scannedAt[0]
    if (prev.payload.carrier.kind === 'post') return `${prev.payload.carrier.office} ${String(scanned)}`
    return prev.payload.carrier.phone
  })

// Step names are unique across kinds.
const base = createWorkflow({ name: 'dup', input: z.object({}) }).step('a', () => 1)
// @ts-expect-error a sleep named like a step
base.sleep('a', '1s')
// @ts-expect-error a sleepUntil named like a step
base.sleepUntil('a', () => 0)
// @ts-expect-error a wait named like a step
base.waitForEvent('a', approved, { key: () => 'k' })
// @ts-expect-error a step named like a sleep
base.sleep('s', '1s').step('s', () => 1)
// @ts-expect-error a step named like a wait
base.waitForEvent('w', approved, { key: () => 'k' }).step('w', () => 1)
// @ts-expect-error the key function returns a string
base.waitForEvent('k', approved, { key: () => 1 })
// @ts-expect-error a duration is milliseconds or a string such as '10m'
base.sleep('bad', { minutes: 10 })

async function emits() {
  const engine = createEngine({ storage: new MemoryStorage(), workflows: [expense] })
  const r: { eventId: number; created: boolean } = await engine.emit(approved, { key: 'e-1', payload: { by: 'ada', at: new Date() } })
  await engine.emit(approved, { key: 'e-1', payload: { by: 'ada', at: new Date() }, idempotencyKey: 'once' })
  await engine.emit(shipped, {
    key: 'o-1',
    payload: { parcels: [{ id: 'p', weight: 1, scannedAt: [new Date()] }], carrier: { kind: 'courier', phone: '1' }, note: null },
  })
  // @ts-expect-error the payload is typed by the event
  await engine.emit(approved, { key: 'e-1', payload: { by: 1, at: new Date() } })
  // @ts-expect-error a field of the payload missing
  await engine.emit(approved, { key: 'e-1', payload: { by: 'ada' } })
  // @ts-expect-error another event's payload
  await engine.emit(approved, { key: 'e-1', payload: { parcels: [], carrier: { kind: 'post', office: 'x' }, note: null } })
  // @ts-expect-error a union member's fields must match its kind
  await engine.emit(shipped, { key: 'o-1', payload: { parcels: [], carrier: { kind: 'post', phone: '1' }, note: null } })
  // @ts-expect-error the key is required
  await engine.emit(approved, { payload: { by: 'ada', at: new Date() } })
  // @ts-expect-error the key is a string
  await engine.emit(approved, { key: 1, payload: { by: 'ada', at: new Date() } })

  // Delayed runs: a delay (milliseconds or a duration) or a time.
  await engine.enqueue('expense', { id: 'e', amount: 1 }, { delay: '10m' })
  await engine.enqueue('expense', { id: 'e', amount: 1 }, { delay: 5_000 })
  await engine.enqueue('expense', { id: 'e', amount: 1 }, { runAt: new Date() })
  await engine.enqueue('expense', { id: 'e', amount: 1 }, { runAt: Date.now() })
  // @ts-expect-error runAt is a Date or epoch milliseconds
  await engine.enqueue('expense', { id: 'e', amount: 1 }, { runAt: '2026-01-01' })
  // @ts-expect-error a delay is not an object
  await engine.enqueue('expense', { id: 'e', amount: 1 }, { delay: { minutes: 10 } })

  const info = await engine.getRunStatus('x')
  if (info) assertType<Equal<typeof info.run.status, 'pending' | 'running' | 'waiting' | 'completed' | 'failed' | 'cancelled'>>()

  const te = testEngine({ workflows: [expense] })
  const result = await te.run('expense', { id: 'e', amount: 1 })
  assertType<Equal<typeof result.status, 'completed' | 'failed' | 'cancelled' | 'waiting'>>()
  assertType<Equal<typeof result.steps['cool-off']['output'], undefined>>()
  const approval = result.steps.approval
  if (approval.status === 'completed') assertType<Equal<typeof approval.output, { by: string; at: Date }>>()
  const shipping = result.steps.shipping
  if (shipping.status === 'completed') assertType<Equal<typeof shipping.output, { received: true; payload: Shipped } | { received: false }>>()
  await te.emit(approved, { key: 'e', payload: { by: 'ada', at: new Date() } })
  const continued = await te.continue(result)
  assertType<Equal<typeof continued.status, 'completed' | 'failed' | 'cancelled' | 'waiting'>>()
  return r
}

void emits
