/**
 * Compile-time guarantees from the spec's "Type Safety" section. This file is never run: `tsc`
 * checks it (scripts/test.sh), and every `@ts-expect-error` fails the build if its line compiles.
 */

import type { StandardSchemaV1 as Official } from '@standard-schema/spec'
import { type } from 'arktype'
import * as v from 'valibot'
import { z } from 'zod'
import { createEngine, createWorkflow, type StandardSchemaV1, type StorageAdapter, type WorkflowRun } from '../../src/index.ts'
import { MemoryStorage, testEngine } from '../../src/test.ts'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
const assertType = <T extends true>(_?: T) => {}

const orderWorkflow = createWorkflow({
  name: 'order-fulfillment',
  input: z.object({ orderId: z.string(), amount: z.number(), note: z.string().optional() }),
})
  .step('charge', async ({ input, prev, signal }) => {
    assertType<Equal<typeof input, { orderId: string; amount: number; note?: string | undefined }>>()
    assertType<Equal<typeof prev, undefined>>()
    assertType<Equal<typeof signal, AbortSignal>>()
    return { chargeId: `ch_${input.orderId}`, chargedAt: new Date() }
  })
  .step('fulfill', {
    retry: { maxAttempts: 3, backoff: 'exponential' },
    timeoutMs: 5000,
    handler: async ({ prev }) => {
      // A Date comes back from storage as a Date, and the type says so.
      assertType<Equal<typeof prev, { chargeId: string; chargedAt: Date }>>()
      const chargedAtMs: number = prev.chargedAt.getTime()
      // @ts-expect-error property doesn't exist on prev
      prev.nonexistent
      return prev.chargeId.length + chargedAtMs
    },
  })
  .step('notify', async ({ prev }) => {
    assertType<Equal<typeof prev, number>>()
  })
  .step('after-void', ({ prev }) => {
    assertType<Equal<typeof prev, undefined>>()
    return 'sync return'
  })
  .onFailure(async ({ error, stepName, input }) => {
    assertType<Equal<typeof error, Error>>()
    assertType<Equal<typeof stepName, string>>()
    assertType<Equal<typeof input.orderId, string>>()
  })

// The workflow name is a literal type.
assertType<Equal<typeof orderWorkflow.name, 'order-fulfillment'>>()

// @ts-expect-error a duplicate step name
orderWorkflow.step('charge', async () => 1)

// @ts-expect-error the step config needs a handler
orderWorkflow.step('x', { retry: { maxAttempts: 2 } })

// @ts-expect-error backoff is 'linear' | 'exponential'
orderWorkflow.step('y', { retry: { backoff: 'cubic' }, handler: async () => 1 })

const emailWorkflow = createWorkflow({ name: 'email', input: v.object({ to: v.string() }) }).step('send', async () => 'ok')
const arkWorkflow = createWorkflow({ name: 'ark', input: type({ n: 'number' }) }).step('n', ({ input }) => input.n)

const storage: StorageAdapter = new MemoryStorage()
const engine = createEngine({ storage, workflows: [orderWorkflow, emailWorkflow, arkWorkflow] })

async function enqueueChecks() {
  const run: WorkflowRun = await engine.enqueue('order-fulfillment', { orderId: 'x', amount: 1 })
  await engine.enqueue('email', { to: 'a@b.co' }, { idempotencyKey: 'k' })
  await engine.enqueue('ark', { n: 1 })
  // @ts-expect-error not a registered workflow
  await engine.enqueue('typo', {})
  // @ts-expect-error missing required fields
  await engine.enqueue('order-fulfillment', {})
  // @ts-expect-error wrong shape
  await engine.enqueue('order-fulfillment', { wrong: 'shape' })
  // @ts-expect-error input of another workflow
  await engine.enqueue('email', { orderId: 'x', amount: 1 })
  // @ts-expect-error schedule checks names and input the same way
  engine.schedule('cleanup', {}, 1000)
  const id: string = engine.schedule('email', { to: 'x' }, 1000)
  const removed: boolean = engine.unschedule(id)
  const cancelled: boolean = await engine.cancel(run.id)
  const info = await engine.getRunStatus(run.id)
  if (info) {
    assertType<Equal<typeof info.run.status, 'pending' | 'running' | 'waiting' | 'completed' | 'failed' | 'cancelled'>>()
  }
  return [removed, cancelled]
}

async function testEngineChecks() {
  const te = testEngine({ workflows: [orderWorkflow] })
  const result = await te.run('order-fulfillment', { orderId: 'test', amount: 100 })
  assertType<Equal<typeof result.status, 'completed' | 'failed' | 'cancelled' | 'waiting'>>()
  assertType<Equal<typeof result.steps.charge.output, { chargeId: string; chargedAt: Date } | undefined>>()
  assertType<Equal<typeof result.steps.fulfill.output, number | undefined>>()
  assertType<Equal<typeof result.steps.charge.error, string | null>>()
  // @ts-expect-error the output exists only once the step's status says completed
  result.steps.charge.output.chargeId
  if (result.steps.charge.status !== 'completed') throw new Error(result.steps.charge.error ?? 'pending')
  assertType<Equal<typeof result.steps.charge.output, { chargeId: string; chargedAt: Date }>>()
  const chargeId: string = result.steps.charge.output.chargeId
  // @ts-expect-error no such step
  result.steps.ship
  // @ts-expect-error not a registered workflow
  await te.run('email', { to: 'x' })
  return chargeId
}

// A step output or a workflow input that TypeScript can see cannot be stored is a compile error: a
// function, a symbol, a symbol-keyed property, an object with methods (a class instance the codec
// refuses), a Promise left un-awaited. The error names the path.
class Socket {
  write(_data: string) {}
}
declare const secret: unique symbol
// @ts-expect-error a step returning a function
orderWorkflow.step('returns-a-function', () => () => 'later')
// @ts-expect-error a step returning a symbol
orderWorkflow.step('returns-a-symbol', async () => Symbol('s'))
// @ts-expect-error a class instance with methods, one level down
orderWorkflow.step('returns-a-socket', () => ({ conn: new Socket() }))
// @ts-expect-error the long form is checked the same way
orderWorkflow.step('returns-a-symbol-key', { handler: () => ({ [secret]: 'x', id: 1 }), timeoutMs: 100 })
// @ts-expect-error an un-awaited Promise inside the output
orderWorkflow.step('returns-a-promise', async () => ({ pending: Promise.resolve(1) }))
// @ts-expect-error a Map of callbacks
orderWorkflow.step('returns-callbacks', () => new Map([['done', () => {}]]))
// @ts-expect-error the schema's output holds a class instance the codec refuses
createWorkflow({ name: 'sockets', input: z.object({ conn: z.instanceof(Socket) }) })
// What the codec stores is accepted, however deep: Dates, Maps, Sets, BigInts, bytes, Errors (methods and all).
orderWorkflow.step('rich', () => ({
  at: new Date(),
  byId: new Map([[1n, { tags: new Set(['a']), bytes: new Uint8Array(2), url: new URL('https://example.com') }]]),
  error: new TypeError('boom'),
}))

// The vendored Standard Schema interface stays compatible with the official one, both ways.
declare const official: Official<{ a: string }>
const ours: StandardSchemaV1<{ a: string }> = official
const back: Official<{ a: string }> = ours

export { back, enqueueChecks, testEngineChecks }
