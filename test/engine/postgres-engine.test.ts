/**
 * Engines sharing one Postgres schema, each on its own PostgresStorage (its own pool and listening
 * connection), as engines on several machines would, on the default database time source. Wake-ups
 * between them travel by LISTEN/NOTIFY: started engines poll once a minute, so a test that passes
 * did not wait for a poll.
 */

import { afterAll, afterEach, expect, test } from 'bun:test'
import { z } from 'zod'
import { RunCancelledError } from '../../src/core/errors.ts'
import { createEngine, createWorkflow, defineEvent } from '../../src/index.ts'
import type { AnyWorkflow } from '../../src/workflow/workflow.ts'
import { PostgresStorage } from '../../src/postgres.ts'
import { dropSchemas, freshSchema, POSTGRES_URL } from '../postgres/server.ts'
import { deferred, until } from './helpers.ts'

/** Started engines poll once a minute: within a test, only notifications wake them. */
const POLL_MS = 60_000
const opened: { engine: { stop(): Promise<void> }; storage: PostgresStorage }[] = []
afterEach(async () => {
  for (const { engine, storage } of opened.splice(0)) {
    await engine.stop()
    await storage.close()
  }
})
afterAll(dropSchemas)

function engineOn<const W extends readonly AnyWorkflow[]>(schema: string, config: { workflows: W; concurrency?: number }) {
  const storage = new PostgresStorage(POSTGRES_URL, { schema })
  const engine = createEngine({ ...config, storage })
  opened.push({ engine, storage })
  return engine
}

test('two engines on one schema share the work: every step of 200 runs runs exactly once', async () => {
  const schema = freshSchema()
  const executed = new Map<string, number>()
  const byEngine = [0, 0]
  const make = (index: number) =>
    createWorkflow({ name: 'pair', input: z.object({ n: z.number() }) })
      .step('one', ({ runId }) => {
        executed.set(`${runId}:one`, (executed.get(`${runId}:one`) ?? 0) + 1)
        byEngine[index]!++
        return 1
      })
      .step('two', ({ runId }) => {
        executed.set(`${runId}:two`, (executed.get(`${runId}:two`) ?? 0) + 1)
        return 2
      })
  const a = engineOn(schema, { workflows: [make(0)], concurrency: 8 })
  const b = engineOn(schema, { workflows: [make(1)], concurrency: 8 })
  await Promise.all([a.start(POLL_MS), b.start(POLL_MS)])
  const runs = await Promise.all(Array.from({ length: 200 }, (_, n) => a.enqueue('pair', { n })))
  const results = await Promise.all(runs.map((run) => b.result(run.id, { timeout: 30_000 })))
  expect(results.every((r) => r.status === 'completed')).toBe(true)
  expect(executed.size).toBe(400)
  expect([...executed.values()].every((count) => count === 1)).toBe(true)
  expect(byEngine.every((count) => count > 0)).toBe(true)
}, 60_000)

test('a run enqueued through one engine starts at once on another: the notification, not the poll, wakes it', async () => {
  const schema = freshSchema()
  const started = deferred()
  const wf = createWorkflow({ name: 'ping', input: z.object({}) }).step('s', () => started.resolve())
  const worker = engineOn(schema, { workflows: [wf] })
  const api = engineOn(schema, { workflows: [wf] }) // never started: it only enqueues
  await worker.start(POLL_MS)
  await api.enqueue('ping', {})
  await started.promise // a 60 s poll would time the test out
})

test('a cancel through another storage aborts the running step with RunCancelledError', async () => {
  const schema = freshSchema()
  const inStep = deferred()
  let reason: unknown
  const wf = createWorkflow({ name: 'long', input: z.object({}) }).step('wait', ({ signal }) => {
    inStep.resolve()
    return new Promise((_, reject) => signal.addEventListener('abort', () => reject((reason = signal.reason))))
  })
  const worker = engineOn(schema, { workflows: [wf] })
  const admin = engineOn(schema, { workflows: [wf] })
  await worker.start(POLL_MS)
  const run = await admin.enqueue('long', {})
  await inStep.promise
  expect(await admin.cancel(run.id)).toBe(true)
  expect((await admin.result(run.id, { timeout: 10_000 })).status).toBe('cancelled')
  await until(() => reason !== undefined, 'the step heard the cancel')
  expect(reason).toBeInstanceOf(RunCancelledError)
})

test('an event emitted through another engine wakes a waiting run; sleeps end on the server clock', async () => {
  const schema = freshSchema()
  const approved = defineEvent('approved', z.object({ by: z.string() }))
  const wf = createWorkflow({ name: 'approve', input: z.object({ id: z.string() }) })
    .sleep('settle', '300ms')
    .waitForEvent('approval', approved, { key: ({ input }) => input.id })
    .step('done', ({ prev }) => `approved by ${prev.by}`)
  const worker = engineOn(schema, { workflows: [wf] })
  const api = engineOn(schema, { workflows: [wf] })
  await worker.start(POLL_MS)
  const began = Date.now()
  const run = await api.enqueue('approve', { id: 'e-1' })
  await until(async () => (await api.getRunStatus(run.id))?.run.wait?.kind === 'event', 'the run waits for its event')
  expect(Date.now() - began).toBeGreaterThanOrEqual(300)
  await api.emit(approved, { key: 'e-1', payload: { by: 'ada' } })
  const result = await api.result(run.id, { timeout: 10_000 })
  expect(result).toMatchObject({ status: 'completed', output: 'approved by ada' })
})
