/**
 * The worker process of the postgres bench section (postgres.ts): one engine on
 * `new PostgresStorage(url)`, as an application would run it. It counts the statements its `pg`
 * clients send (pg.Client.prototype.query, which pool.query goes through too) and reports on stdout,
 * one line each:
 *
 *   bun scripts/bench/postgres-worker.ts run <url> <steps> <concurrency>
 *     a started engine with a <steps>-step no-op workflow: `ready`, then while runs complete (every
 *     50 ms) `c <completed> <epoch ms of the last completion> <statements since ready>`.
 *   bun scripts/bench/postgres-worker.ts dispatch <url>
 *     a started idle engine with a 1-step workflow whose step prints `s <epoch ms now − input.t>`.
 *   bun scripts/bench/postgres-worker.ts idle <url> <seconds> [<parked> [sleep|event]]
 *     a started engine with nothing to do (after parking <parked> runs, default 0, sleeping 10 days or
 *     waiting for an event that never comes):
 *     prints `{ cpuPercent, statements, seconds, parked, waitFor, kinds }` over <seconds> and exits.
 *
 * `run` and `dispatch` stop the engine on SIGTERM, print `k <statements by kind, as JSON>` (since
 * ready) and `cpu <µs>` (their CPU since ready), and exit.
 */

import pg from 'pg'
import { createEngine, createWorkflow, defineEvent } from '../../src/index.ts'
import { PostgresStorage } from '../../src/postgres.ts'
import { noopWorkflow, WORKFLOW } from './engine-runs.ts'
import { anyInput, epochMs, sleepMs } from './harness.ts'

let statements = 0
/** Statements by kind: their first words, schema and parameters left out. */
const kinds = new Map<string, number>()
const query = pg.Client.prototype.query as (...args: unknown[]) => unknown
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  statements++
  const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string } | undefined)?.text ?? '')
  const kind = text.replace(/"[^"]*"\./g, '').replace(/\$\d+::[\w\[\]]+/g, '?').replace(/\s+/g, ' ').trim().slice(0, 70)
  kinds.set(kind, (kinds.get(kind) ?? 0) + 1)
  return query.apply(this, args)
} as typeof pg.Client.prototype.query

const [mode, url, ...args] = process.argv.slice(2)
if (!mode || !url) throw new Error('usage: postgres-worker.ts run <url> <steps> <concurrency> | dispatch <url> | idle <url> <seconds>')

const write = (line: string) => process.stdout.write(`${line}\n`)

async function untilTerminated(engine: { stop(): Promise<void> }, storage: PostgresStorage, cpu0: NodeJS.CpuUsage, onStop?: () => void): Promise<void> {
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()))
  onStop?.()
  const cpu = process.cpuUsage(cpu0)
  write(`k ${JSON.stringify(Object.fromEntries([...kinds].sort((a, b) => b[1] - a[1])))}`)
  await engine.stop()
  await storage.close()
  write(`cpu ${cpu.user + cpu.system}`)
  process.exit(0)
}

if (mode === 'run') {
  const steps = Number(args[0] ?? 1)
  const concurrency = Number(args[1] ?? 16)
  const storage = new PostgresStorage(url)
  let completed = 0
  let lastAt = 0
  const engine = createEngine({
    storage,
    workflows: [noopWorkflow(steps)],
    concurrency,
    hooks: {
      onRunComplete: () => {
        completed++
        lastAt = epochMs()
      },
      onError: (error) => process.stderr.write(`postgres-worker: ${String(error)}\n`),
    },
  })
  await engine.start()
  await sleepMs(100)
  const statements0 = statements
  kinds.clear()
  const cpu0 = process.cpuUsage()
  let reported = -1
  const report = () => {
    if (completed === reported) return
    reported = completed
    write(`c ${completed} ${lastAt} ${statements - statements0}`)
  }
  const timer = setInterval(report, 50)
  write('ready')
  await untilTerminated(engine, storage, cpu0, () => {
    clearInterval(timer)
    report()
  })
} else if (mode === 'dispatch') {
  const storage = new PostgresStorage(url)
  const wf = createWorkflow({ name: WORKFLOW, input: anyInput }).step('first', ({ input }) => {
    if (input.t !== undefined) write(`s ${epochMs() - input.t}`)
  })
  const engine = createEngine({ storage, workflows: [wf], concurrency: 16 })
  await engine.start()
  await sleepMs(100)
  const cpu0 = process.cpuUsage()
  write('ready')
  await untilTerminated(engine, storage, cpu0)
} else if (mode === 'idle') {
  const seconds = Number(args[0] ?? 3)
  const parked = Number(args[1] ?? 0)
  const storage = new PostgresStorage(url)
  const far = Date.now() + 10 * 86_400_000
  const waitFor = args[2] === 'event' ? 'event' : 'sleep'
  const sleeper = createWorkflow({ name: 'sleeper', input: anyInput }).sleepUntil('s', () => far).step('after', () => undefined)
  const waiter = createWorkflow({ name: 'waiter', input: anyInput })
    .waitForEvent('e', defineEvent('bench.never', anyInput), { key: ({ input }) => `k${input.i}` })
    .step('after', () => undefined)
  const engine = createEngine({ storage, workflows: [noopWorkflow(1), sleeper, waiter], concurrency: 16 })
  await engine.start()
  if (parked > 0) {
    for (let i = 0; i < parked; i += 500) {
      await Promise.all(Array.from({ length: Math.min(500, parked - i) }, (_, j) => engine.enqueue(waitFor === 'event' ? 'waiter' : 'sleeper', { i: i + j })))
    }
    const plain = new URL(url)
    plain.searchParams.delete('schema')
    const client = new pg.Client({ connectionString: plain.toString() })
    await client.connect()
    const schema = storage.schema
    while (Number((await client.query(`select count(*) as n from "${schema}".reflow_runs where status = 'waiting'`)).rows[0].n) < parked) await sleepMs(20)
    await client.end()
  }
  await sleepMs(300)
  Bun.gc(true)
  const statements0 = statements
  kinds.clear()
  const cpu0 = process.cpuUsage()
  const wall0 = performance.now()
  await sleepMs(seconds * 1000)
  const cpu = process.cpuUsage(cpu0)
  const wallMs = performance.now() - wall0
  const result = {
    cpuPercent: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
    statements: statements - statements0,
    seconds: wallMs / 1000,
    parked,
    waitFor,
    kinds: Object.fromEntries([...kinds].sort((a, b) => b[1] - a[1])),
  }
  await engine.stop()
  await storage.close()
  write(JSON.stringify(result))
  process.exit(0)
} else {
  throw new Error(`unknown mode ${mode}`)
}
