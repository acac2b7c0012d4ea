/**
 * Engines whose clocks disagree, on one Postgres schema with the default 'database' time source:
 * due times and lease expiry are judged on the server's clock, so an engine an hour ahead takes
 * over no live lease and wakes no sleep early, and an engine an hour behind neither waits an hour
 * to take over a dead worker's run nor keeps a due sleep parked.
 *
 * The engines here run in this process, each on its own pool (separate connections); the dead
 * worker is a child process SIGKILLed while it holds the lease. Times are measured with Date.now()
 * on this machine, which the server shares; the only waits are for markers, run results and
 * database states, except the exposure windows: a stretch of several leases during which a
 * takeover that must not happen would have happened.
 */

import { afterAll, afterEach, beforeAll, expect, test } from 'bun:test'
import { createEngine, type Engine } from '../../src/index.ts'
import { PostgresStorage } from '../../src/postgres.ts'
import { dropSchemas, freshSchema, sql, urlWithSchema } from '../postgres/server.ts'
import { HELD_HEARTBEAT_MS, HELD_LEASE_MS, heldWorkflow, HOUR_MS, NAP_MS, napWorkflow, shiftedClock } from './fixtures/pg-held.ts'
import { killLiveWorkers, Worker } from './harness.ts'

const POLL_MS = 100
/** Stored times may round up to the next millisecond (Postgres keeps microseconds). */
const ROUNDING_MS = 1
const schema = freshSchema('reflow_clock')
const url = urlWithSchema(schema)

interface Execution {
  engine: string
  step: string
  key: string
  at: number
}
const executions: Execution[] = []
const started: { engine: Engine; storage: PostgresStorage }[] = []
let releaseWork: () => void = () => {}
let workReleased = new Promise<void>((resolve) => (releaseWork = resolve))

/** An engine on its own pool, its wall clock `offsetMs` off, recording each step it executes. */
async function startEngine(name: string, offsetMs: number) {
  const clock = shiftedClock(offsetMs)
  const storage = new PostgresStorage(url, { maxConnections: 2, clock })
  const record = (step: string, key: string) => void executions.push({ engine: name, step, key, at: Date.now() })
  const engine = createEngine({
    storage,
    clock,
    workflows: [
      heldWorkflow(async (step, key) => {
        record(step, key)
        if (step === 'work' && key.startsWith('live')) await workReleased
      }),
      napWorkflow(record),
    ],
    runLeaseDurationMs: HELD_LEASE_MS,
    heartbeatIntervalMs: HELD_HEARTBEAT_MS,
    hooks: { onError: (error) => void executions.push({ engine: name, step: `error ${error.message}`, key: '', at: Date.now() }) },
  })
  await engine.start(POLL_MS)
  started.push({ engine, storage })
  return engine
}

async function stopAll(): Promise<void> {
  for (const { engine, storage } of started.splice(0)) {
    await engine.stop()
    await storage.close()
  }
}

async function runRow(key: string) {
  const [row] = await sql<{ id: string; status: string; lease_id: string | null; interruptions: number }>(
    `select id, status, lease_id, interruptions from "${schema}".reflow_runs where idempotency_key = $1`,
    [key],
  )
  return row
}

async function attempts(key: string) {
  return sql<{ step_name: string; status: string }>(
    `select a.step_name, a.status from "${schema}".reflow_attempts a join "${schema}".reflow_runs r on r.id = a.run_id
     where r.idempotency_key = $1 order by a.id`,
    [key],
  )
}

/** Resolves once `condition` holds, checking every few milliseconds; fails after `deadlineMs`. */
async function eventually(condition: () => boolean | Promise<boolean>, what: string, deadlineMs = 10_000): Promise<void> {
  const deadline = Date.now() + deadlineMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for: ${what}`)
    await Bun.sleep(10)
  }
}

const ran = (step: string, key: string) => executions.filter((e) => e.step === step && e.key === key)
const errors = () => executions.filter((e) => e.step.startsWith('error'))

beforeAll(async () => {
  const storage = new PostgresStorage(url, { maxConnections: 2 })
  await storage.initialize()
  await storage.close()
})

afterEach(async () => {
  releaseWork()
  await killLiveWorkers()
  await stopAll()
  workReleased = new Promise<void>((resolve) => (releaseWork = resolve))
})

afterAll(dropSchemas)

test('an engine an hour ahead takes over no live lease: the step runs once, in the engine that holds it', async () => {
  const onTime = await startEngine('on time', 0)
  const run = await onTime.enqueue('held', { key: 'live-1' }, { idempotencyKey: 'live-1' })
  await eventually(() => ran('work', 'live-1').length === 1, 'the on-time engine to start work')
  const leased = await runRow('live-1')
  expect(leased?.status).toBe('running')

  await startEngine('ahead', HOUR_MS)
  // The exposure window: the ahead engine polls through several leases' worth of time while the
  // on-time engine keeps the lease alive by its heartbeats.
  const windowEnd = performance.now() + 3 * HELD_LEASE_MS
  while (performance.now() < windowEnd) {
    await Bun.sleep(HELD_HEARTBEAT_MS)
    const row = await runRow('live-1')
    expect({ status: row?.status, lease: row?.lease_id, interruptions: row?.interruptions }).toEqual({
      status: 'running',
      lease: leased!.lease_id,
      interruptions: 0,
    })
  }
  releaseWork()
  expect(await onTime.result(run.id, { timeout: '10s' })).toEqual({ status: 'completed', output: undefined })
  expect(ran('work', 'live-1').map((e) => e.engine)).toEqual(['on time'])
  expect(await attempts('live-1')).toEqual([])
  expect(errors()).toEqual([])
}, 20_000)

const SLEEPS: [parker: string, parkerOffset: number, resumer: string, resumerOffset: number][] = [
  ['on time', 0, 'ahead', HOUR_MS],
  ['on time', 0, 'behind', -HOUR_MS],
  ['ahead', HOUR_MS, 'on time', 0],
]

for (const [parker, parkerOffset, resumer, resumerOffset] of SLEEPS) {
  test(`a ${NAP_MS} ms sleep parked by an engine ${parker} ends on time in an engine ${resumer}: not early, not an hour late`, async () => {
    const key = `nap-${parker}-${resumer}`.replaceAll(' ', '-')
    const first = await startEngine(parker, parkerOffset)
    await first.enqueue('napper', { key }, { idempotencyKey: key })
    await eventually(async () => (await runRow(key))?.status === 'waiting', 'the run to park in its sleep')
    await stopAll()
    const second = await startEngine(resumer, resumerOffset)
    const row = await runRow(key)
    const result = await second.result(row!.id, { timeout: NAP_MS + 5_000 }).catch((error: Error) => error.message)
    expect(result).toEqual({ status: 'completed', output: undefined })
    const [before] = ran('before', key)
    const [after] = ran('after', key)
    expect(before?.engine).toBe(parker)
    expect(after?.engine).toBe(resumer)
    const slept = after!.at - before!.at
    expect(slept).toBeGreaterThanOrEqual(NAP_MS - ROUNDING_MS)
    expect(slept).toBeLessThan(NAP_MS + 2_000)
    expect(errors()).toEqual([])
  }, 20_000)
}

test('an engine an hour behind takes over a SIGKILLed worker\'s run once its lease expires, not an hour later, and never before', async () => {
  const worker = Worker.command('held worker', [process.execPath, `${import.meta.dir}/fixtures/pg-held-worker.ts`, url])
  await worker.waitFor('ready')
  const behind = await startEngine('behind', -HOUR_MS)
  const run = await behind.enqueue('held', { key: 'dead-1' }, { idempotencyKey: 'dead-1' })
  // Either engine may claim it first; the test needs the worker to hold it.
  await eventually(() => worker.marked('working dead-1').length === 1 || ran('work', 'dead-1').length > 0, 'the run to be claimed')
  expect(ran('work', 'dead-1')).toEqual([])
  // Exposure window: the worker is alive and heartbeating; the behind engine must leave it alone.
  const windowEnd = performance.now() + 2 * HELD_LEASE_MS
  while (performance.now() < windowEnd) await Bun.sleep(HELD_HEARTBEAT_MS)
  expect(ran('work', 'dead-1')).toEqual([])

  const killedAt = Date.now()
  worker.signal('SIGKILL')
  expect((await worker.exited).signal).toBe('SIGKILL')
  expect(await behind.result(run.id, { timeout: '10s' })).toEqual({ status: 'completed', output: undefined })
  const [takeover] = ran('work', 'dead-1')
  expect(takeover?.engine).toBe('behind')
  // Within a lease of the kill (plus a poll and the time a claim takes), never before the lease ran out.
  expect(takeover!.at - killedAt).toBeLessThan(HELD_LEASE_MS + POLL_MS + 1_000)
  expect(takeover!.at - killedAt).toBeGreaterThanOrEqual(HELD_LEASE_MS - HELD_HEARTBEAT_MS - ROUNDING_MS)
  expect(await attempts('dead-1')).toEqual([{ step_name: 'work', status: 'interrupted' }])
  expect(errors()).toEqual([])
}, 20_000)
