/**
 * The `time` bench section: durable sleeps and events on a real file.
 *
 * - wake-up lateness: runs sleep until staggered due times (`sleepUntil`), a started engine wakes
 *   them; lateness = the next step's start − the due time, p50/p99.
 * - idle CPU with 10,000 parked runs sleeping 10 days, and sleeping a year, each in a fresh process.
 * - emits per second with one waiting run per key (each emit wakes one run), and the latency from an
 *   emit in another process to the woken run's next step, p50/p99.
 *
 * Child modes (this file run directly): `bun scripts/bench/time.ts idle <parked> <seconds>` prints the
 * idle figure as JSON; `bun scripts/bench/time.ts emit <db> <count> <gap ms>` emits `count` events
 * (keys k0…), each stamped with the epoch time taken just before `emit()`.
 */

import { Database } from 'bun:sqlite'
import path from 'node:path'
import { createEngine, createWorkflow, defineEvent } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import type { StandardSchemaV1 } from '../../src/workflow/schema.ts'
import { anyInput, cleanup, cpuPercentOver, epochMs, freshDb, percentile, sleepMs } from './harness.ts'

const tickSchema: StandardSchemaV1<unknown, { t: number }> = {
  '~standard': { version: 1, vendor: 'bench', validate: (value) => ({ value: value as { t: number } }) },
}
const tick = defineEvent('bench.tick', tickSchema)

type AnyEngine = { enqueue(name: string, input: unknown): Promise<{ id: string }>; start(): Promise<void>; stop(): Promise<void> }

function sleeper(onMark: (lateMs: number) => void) {
  return createWorkflow({ name: 'sleeper', input: anyInput })
    .sleepUntil('s', ({ input }) => input.t!)
    .step('mark', ({ input }) => onMark(epochMs() - input.t!))
}

function waiter(onMark: (latencyMs: number) => void) {
  return createWorkflow({ name: 'waiter', input: anyInput })
    .waitForEvent('e', tick, { key: ({ input }) => `k${input.i}` })
    .step('mark', ({ prev }) => onMark(epochMs() - prev.t))
}

/** Polls the file until `count` runs are waiting (the engine parks them asynchronously). */
async function untilWaiting(db: string, count: number): Promise<void> {
  const reader = new Database(db, { readonly: true })
  try {
    while ((reader.query(`select count(*) as n from reflow_runs where status = 'waiting'`).get() as { n: number }).n < count) await sleepMs(10)
  } finally {
    reader.close()
  }
}

async function enqueueAll(engine: AnyEngine, name: string, inputs: unknown[]): Promise<void> {
  for (let i = 0; i < inputs.length; i += 1000) await Promise.all(inputs.slice(i, i + 1000).map((input) => engine.enqueue(name, input)))
}

export interface LatenessResult {
  runs: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

/** `runs` sleeping runs, due one after another over `spreadMs` starting `leadMs` from now. */
export async function measureLateness(runs: number, spreadMs: number, leadMs = 1000): Promise<LatenessResult> {
  const db = freshDb('time-lateness.db')
  const storage = new SQLiteStorage(db)
  const late: number[] = []
  let done: () => void
  const finished = new Promise<void>((resolve) => (done = resolve))
  const engine = createEngine({
    storage,
    workflows: [sleeper((ms) => (late.push(ms), late.length === runs && done()))],
    concurrency: 16,
  }) as unknown as AnyEngine
  await engine.start()
  const start = epochMs() + leadMs
  await enqueueAll(engine, 'sleeper', Array.from({ length: runs }, (_, i) => ({ i, t: start + (i * spreadMs) / runs })))
  await finished
  await engine.stop()
  storage.close()
  cleanup()
  late.sort((a, b) => a - b)
  return { runs, p50Ms: percentile(late, 50), p99Ms: percentile(late, 99), maxMs: late.at(-1)! }
}

/** CPU of a started engine over `seconds` with `parked` runs sleeping `days`, as a share of one core. */
export async function measureParkedIdleCpu(parked: number, seconds: number, days: number): Promise<{ cpuPercent: number; parked: number }> {
  const db = freshDb('time-idle.db')
  const storage = new SQLiteStorage(db)
  const engine = createEngine({ storage, workflows: [sleeper(() => {})], concurrency: 16 }) as unknown as AnyEngine
  await engine.start()
  const far = epochMs() + days * 86_400_000
  await enqueueAll(engine, 'sleeper', Array.from({ length: parked }, (_, i) => ({ i, t: far })))
  await untilWaiting(db, parked)
  Bun.gc(true)
  await sleepMs(300)
  const cpuPercent = await cpuPercentOver(seconds)
  await engine.stop()
  storage.close()
  cleanup()
  return { cpuPercent, parked }
}

/**
 * `measureParkedIdleCpu` in a fresh process. Its stderr is dropped: past 2^31 ms (24.8 days) every
 * due-timer arm prints a TimeoutOverflowWarning (setTimeout then fires after 1 ms).
 */
export async function measureParkedIdleCpuIsolated(parked: number, seconds: number, days: number): Promise<{ cpuPercent: number; parked: number }> {
  const child = Bun.spawn(['bun', import.meta.path, 'idle', String(parked), String(seconds), String(days)], { stdout: 'pipe', stderr: 'ignore' })
  const output = await new Response(child.stdout).text()
  if ((await child.exited) !== 0) throw new Error('time idle child failed')
  return JSON.parse(output)
}

export interface EventsResult {
  emits: number
  emitsPerSec: number
  /** From the first emit to the last woken run's next step. */
  wokenPerSec: number
  crossProcess: { samples: number; p50Ms: number; p99Ms: number }
}

/**
 * `emits` runs waiting on keys k0…, then that many awaited emits from the engine's own process
 * (emits/s, and how fast the woken runs finish); then `samples` runs woken by a child process's
 * emits, one every 20-40 ms: emit → the woken run's next step.
 */
export async function measureEvents(emits: number, samples: number): Promise<EventsResult> {
  const db = freshDb('time-events.db')
  const storage = new SQLiteStorage(db)
  const latencies: number[] = []
  let marked = 0
  let target = emits
  let done: () => void
  let finished = new Promise<void>((resolve) => (done = resolve))
  const engine = createEngine({
    storage,
    workflows: [waiter((ms) => (latencies.push(ms), ++marked === target && done()))],
    concurrency: 16,
  })
  const enqueuer = engine as unknown as AnyEngine
  await engine.start()
  await enqueueAll(enqueuer, 'waiter', Array.from({ length: emits }, (_, i) => ({ i })))
  await untilWaiting(db, emits)
  const t0 = performance.now()
  for (let i = 0; i < emits; i++) await engine.emit(tick, { key: `k${i}`, payload: { t: epochMs() } })
  const emitMs = performance.now() - t0
  await finished
  const wokenMs = performance.now() - t0

  latencies.length = 0
  marked = 0
  target = samples
  finished = new Promise<void>((resolve) => (done = resolve))
  await enqueueAll(enqueuer, 'waiter', Array.from({ length: samples }, (_, i) => ({ i: emits + i })))
  await untilWaiting(db, samples)
  const child = Bun.spawn(['bun', import.meta.path, 'emit', db, String(samples), '20', String(emits)], { stdout: 'inherit', stderr: 'inherit' })
  if ((await child.exited) !== 0) throw new Error('time emit child failed')
  await finished
  await engine.stop()
  storage.close()
  cleanup()
  latencies.sort((a, b) => a - b)
  return {
    emits,
    emitsPerSec: emits / (emitMs / 1000),
    wokenPerSec: emits / (wokenMs / 1000),
    crossProcess: { samples, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) },
  }
}

if (import.meta.main) {
  const [mode, ...args] = process.argv.slice(2)
  if (mode === 'idle') {
    const result = await measureParkedIdleCpu(Number(args[0] ?? 10_000), Number(args[1] ?? 3), Number(args[2] ?? 10))
    process.stdout.write(`${JSON.stringify(result)}\n`)
  } else if (mode === 'emit') {
    const [db, count, gap, first] = args
    const storage = new SQLiteStorage(db!)
    await storage.initialize()
    const engine = createEngine({ storage, workflows: [] })
    const gapMs = Number(gap ?? 20)
    for (let i = 0; i < Number(count); i++) {
      await sleepMs(gapMs + Math.random() * gapMs)
      await engine.emit(tick, { key: `k${Number(first ?? 0) + i}`, payload: { t: epochMs() } })
    }
    storage.close()
  } else {
    throw new Error(`usage: ${path.basename(import.meta.path)} idle <parked> <seconds> <days> | emit <db> <count> <gap ms> <first key>`)
  }
}
