/**
 * The dashboard on Postgres, over HTTP (the browser suite covers the pages themselves on SQLite):
 * the same server on a PostgresStorage lists and shows runs an engine on the schema made, streams a
 * change made through another connection as a server-sent event (LISTEN/NOTIFY feeds it), and
 * retries a failed run from a step through its form.
 */

import { afterAll, expect, test } from 'bun:test'
import { z } from 'zod'
import { createEngine, createWorkflow } from '../../src/index.ts'
import { PostgresStorage } from '../../src/postgres.ts'
import { startUi } from '../../src/ui/server.ts'
import { deferred } from '../engine/helpers.ts'
import { dropSchemas, freshSchema, POSTGRES_URL } from '../postgres/server.ts'

afterAll(dropSchemas)

test('runs, a run page, live events and retry from a step, on a Postgres schema', async () => {
  const schema = freshSchema('reflow_ui')
  let fail = true
  const gate = deferred()
  const charge = createWorkflow({ name: 'charge', input: z.object({ amount: z.number() }) })
    .step('reserve', ({ input }) => ({ reservation: `r-${input.amount}` }))
    .step('capture', ({ prev }) => {
      if (fail) throw new Error(`card declined for ${prev.reservation}`)
      return { captured: prev.reservation }
    })
  const hold = createWorkflow({ name: 'hold', input: z.object({}) }).step('wait', async () => {
    await gate.promise
    return 'released'
  })
  const workerStorage = new PostgresStorage(POSTGRES_URL, { schema })
  // Two slots: the held run keeps one while the retried run takes the other.
  const engine = createEngine({ storage: workerStorage, workflows: [charge, hold], concurrency: 2 })
  await engine.start()
  const uiStorage = new PostgresStorage(POSTGRES_URL, { schema })
  const ui = await startUi({ storage: uiStorage, port: 0 })
  const events = new AbortController()
  try {
    const failed = await engine.enqueue('charge', { amount: 5 })
    expect((await engine.result(failed.id)).status).toBe('failed')

    const list = await (await fetch(`${ui.url}/?status=failed`)).text()
    expect(list).toContain(failed.id)
    const page = await (await fetch(`${ui.url}/runs/${failed.id}`)).text()
    expect(page).toContain('card declined for r-5')

    // A change committed through the worker's connection reaches the page's event stream.
    const stream = await fetch(`${ui.url}/events`, { signal: events.signal })
    const reader = stream.body!.getReader()
    const held = await engine.enqueue('hold', {})
    let received = ''
    while (!received.includes('data:')) received += new TextDecoder().decode((await reader.read()).value)

    // Retry from "reserve" through the confirmation form: its CSRF token, from the dashboard's origin.
    const confirm = await (await fetch(`${ui.url}/runs/${failed.id}/retry?from=reserve`)).text()
    const csrf = /name="csrf" value="([^"]+)"/.exec(confirm)?.[1]
    expect(csrf).toBeDefined()
    fail = false
    const posted = await fetch(`${ui.url}/runs/${failed.id}/retry`, {
      method: 'POST',
      redirect: 'manual',
      headers: { origin: ui.url, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: csrf!, fromStep: 'reserve' }),
    })
    expect(posted.status).toBeLessThan(400)
    expect(await engine.result(failed.id)).toMatchObject({ status: 'completed', output: { captured: 'r-5' } })
    const steps = (await engine.getRunStatus(failed.id))!.steps.map((s) => [s.name, s.status])
    expect(steps).toEqual([['reserve', 'completed'], ['capture', 'completed']])
    gate.resolve()
    expect((await engine.result(held.id)).status).toBe('completed')
  } finally {
    events.abort()
    await ui.close()
    await engine.stop()
    await Promise.all([uiStorage.close(), workerStorage.close()])
  }
})
