/**
 * `bun run bench`: reflow-ts against SQLite's own limit, on this machine, in one run.
 *
 * Every figure is measured in the same run as its reference: the floor (raw bun:sqlite on the same
 * file settings) and the engine's throughput are measured in alternating rounds and each ratio is
 * the median of the per-round ratios, so a noisy machine moves both sides together. Databases are
 * files in a temp directory, WAL mode, the engine's default durability (synchronous=normal: a
 * process crash loses nothing acknowledged) unless a row says `full` (power-loss safe).
 *
 *   bun run bench                          all sections, table on stdout, bench-results.json
 *   bun run bench --section throughput     one section (floor, throughput, overhead, dispatch, scale, rss, idle, codec, time, retention, postgres; comma-separated)
 *   bun run bench --quick                  smaller sizes, one round (a smoke run, under a minute)
 *   bun run bench --json                   only the JSON document, on stdout
 *
 * Sizes: --rounds N, --runs N (1-step runs at concurrency 16; other rows scale from it),
 * --scale-rows N (finished runs in the big scale file, default 1,000,000), --rss-runs N (default
 * 100,000), --samples N (dispatch samples), --seconds N (floor and idle durations), --out FILE.
 *
 * The time section (scripts/bench/time.ts): wake-up lateness of --sleep-runs N sleeping runs
 * (default 2,000; --quick 500), the idle CPU of a started engine with 10,000 parked runs (--quick
 * 2,000) sleeping 10 days and a year, emits/s with one waiting run per emit, and emit (another process) → woken step p50/p99.
 *
 * The retention section (scripts/bench/retention.ts): a retention pass deleting --retention-rows N
 * finished runs (default 100,000; --quick 20,000) while a worker engine on another connection runs
 * 1-step runs at concurrency 16: the longest write-lock hold of one batch (target < 100 ms) and the
 * worker's runs/s during the pass next to its runs/s before it.
 *
 * The codec section times the stored-value codec (encode/decode of plain and tagged data) against
 * JSON.stringify/JSON.parse in the same rounds; `bun scripts/bench/codec.ts` prints it on its own.
 *
 * The postgres section (scripts/bench/postgres.ts) is not part of a default run (it needs a server):
 *
 *   bun run bench --postgres               only the postgres section (with --section: those and postgres)
 *   bun run bench --section postgres       the same
 *   --postgres-url URL                     default REFLOW_TEST_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/test
 *   --pg-runs N                            1-step runs per engine measurement (default 1,500; --quick 400; 5-step: N / 5)
 *
 * It measures, in --rounds rounds (default 2; --quick 1), the raw skip-locked claim-then-complete
 * floor on reflow's own table shape and the engine's 1-step and 5-step runs/s at concurrency 16 in
 * one and in four worker processes (each ratio against the floor of its own round); then dispatch
 * from another process (enqueue → first step, over NOTIFY), emit → woken step, and what a started
 * engine with nothing to do costs: CPU and the statements it sends per second (counted in its pg
 * client), idle, and with runs parked on a sleep and on an event. Every measurement gets a fresh
 * schema, dropped afterwards.
 */

import fs from 'node:fs'
import os from 'node:os'
import { parseArgs } from 'node:util'
import { crossProcessDispatch, sameProcessDispatch } from './bench/dispatch.ts'
import { measureCodec } from './bench/codec.ts'
import { directHandlerUs, measureEnqueue, measureRuns } from './bench/engine-runs.ts'
import { claimCompleteFloor, insertFloor } from './bench/floor.ts'
import { cleanup, formatTable, log, median, settle, type Row, type Synchronous } from './bench/harness.ts'
import { measureIdleCpuIsolated, measureRss } from './bench/resources.ts'
import { claimPlans, filledDb, measureScale } from './bench/scale.ts'
import { measureRetention } from './bench/retention.ts'
import { measureEvents, measureLateness, measureParkedIdleCpuIsolated } from './bench/time.ts'
import {
  DEFAULT_POSTGRES_URL,
  dropPostgresSchemas,
  measurePgRuns,
  pgClaimCompleteFloor,
  pgCrossProcessDispatch,
  pgEventLatency,
  pgIdle,
  postgresSettings,
  redact,
  type PgRunsResult,
} from './bench/postgres.ts'

const SECTIONS = ['floor', 'throughput', 'overhead', 'dispatch', 'scale', 'rss', 'idle', 'codec', 'time', 'retention', 'postgres'] as const
type Section = (typeof SECTIONS)[number]
/** What a run without --section measures: everything but what needs a Postgres server. */
const DEFAULT_SECTIONS = SECTIONS.filter((s) => s !== 'postgres')

const { values: flags } = parseArgs({
  options: {
    section: { type: 'string', multiple: true },
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    runs: { type: 'string' },
    'scale-rows': { type: 'string' },
    'rss-runs': { type: 'string' },
    samples: { type: 'string' },
    'sleep-runs': { type: 'string' },
    'retention-rows': { type: 'string' },
    seconds: { type: 'string' },
    postgres: { type: 'boolean', default: false },
    'postgres-url': { type: 'string' },
    'pg-runs': { type: 'string' },
    out: { type: 'string', default: 'bench-results.json' },
    help: { type: 'boolean', default: false },
  },
})

if (flags.help) {
  const doc = fs.readFileSync(new URL(import.meta.url), 'utf8').match(/\/\*\*([\s\S]*?)\*\//)?.[1] ?? ''
  process.stdout.write(`${doc.replace(/^ \* ?/gm, '').trim()}\n`)
  process.exit(0)
}

const num = (value: string | undefined, fallback: number): number => {
  if (value === undefined) return fallback
  const n = Number(value.replace(/_/g, ''))
  if (!Number.isFinite(n) || n <= 0) throw new Error(`expected a positive number, got ${value}`)
  return n
}

const quick = flags.quick
const selected = new Set<Section>(
  (flags.section ?? (flags.postgres ? [] : [...DEFAULT_SECTIONS])).flatMap((s) => s.split(',')).map((s) => {
    if (!SECTIONS.includes(s as Section)) throw new Error(`unknown section "${s}"; expected one of ${SECTIONS.join(', ')}`)
    return s as Section
  }),
)
if (flags.postgres) selected.add('postgres')
const postgresUrl = flags['postgres-url'] ?? DEFAULT_POSTGRES_URL
const pgRuns = Math.round(num(flags['pg-runs'], quick ? 400 : 1_500))
const runs16 = Math.round(num(flags.runs, quick ? 5_000 : 20_000))
const config = {
  rounds: Math.round(num(flags.rounds, quick ? 1 : 5)),
  seconds: num(flags.seconds, quick ? 0.5 : 1),
  runs16,
  runs1: Math.max(100, Math.round(runs16 / 5)),
  runs5: Math.max(100, Math.round(runs16 / 4)),
  scaleRows: Math.round(num(flags['scale-rows'], quick ? 100_000 : 1_000_000)),
  rssRuns: Math.round(num(flags['rss-runs'], quick ? 20_000 : 100_000)),
  samples: Math.round(num(flags.samples, quick ? 50 : 200)),
  sleepRuns: Math.round(num(flags['sleep-runs'], quick ? 500 : 2_000)),
  retentionRows: Math.round(num(flags['retention-rows'], quick ? 20_000 : 100_000)),
  ...(selected.has('postgres') && {
    postgres: {
      rounds: Math.round(num(flags.rounds, quick ? 1 : 2)),
      runs1: pgRuns,
      runs5: Math.max(100, Math.round(pgRuns / 5)),
      floorJobs: Math.max(2_000, pgRuns * 4),
      floorEachJobs: Math.max(500, pgRuns),
      samples: Math.max(20, Math.round(num(flags.samples, quick ? 50 : 200) / 2)),
      idleSeconds: Math.max(1.5, num(flags.seconds, quick ? 0.5 : 1) * 3),
      parked: quick ? 200 : 300,
      eventBudgetMs: quick ? 1_500 : 4_000,
    },
  }),
}
const quiet = flags.json
const rows: Row[] = []
/** Figures later sections compare against, when measured in this run. */
const reference: { insertTxPerSec?: number } = {}
const details: Record<string, unknown> = {}
const say = (message: string) => log(quiet, message)

function add(row: Row): void {
  rows.push(row)
  if (!quiet) say(`  ${row.section} · ${row.name}: ${row.value.toFixed(2)} ${row.unit}${row.ratio === undefined ? '' : ` (${row.ratio.toFixed(2)}× ${row.ratioTo})`}`)
}

function target(value: number, goal: { atLeast?: number; below?: number }, text: string): { target: string; met: boolean } {
  const met = goal.atLeast !== undefined ? value >= goal.atLeast : value < goal.below!
  return { target: text, met }
}

// Floor and throughput: alternating rounds, ratios per round.

interface ThroughputCase {
  key: string
  name: string
  steps: number
  concurrency: number
  runs: number
  synchronous: Synchronous
  goal?: number
}

async function floorAndThroughput(): Promise<void> {
  const withEngine = selected.has('throughput')
  const modes: Synchronous[] = ['normal', 'full']
  const cases: ThroughputCase[] = withEngine
    ? [
        { key: '1x16', name: '1-step runs, concurrency 16', steps: 1, concurrency: 16, runs: config.runs16, synchronous: 'normal', goal: 1.5 },
        { key: '1x1', name: '1-step runs, concurrency 1', steps: 1, concurrency: 1, runs: config.runs1, synchronous: 'normal', goal: 0.6 },
        { key: '5x16', name: '5-step runs, concurrency 16', steps: 5, concurrency: 16, runs: config.runs5, synchronous: 'normal', goal: 0.5 },
        { key: '5x1', name: '5-step runs, concurrency 1', steps: 5, concurrency: 1, runs: Math.round(config.runs1 / 2), synchronous: 'normal' },
        { key: '1x16full', name: '1-step runs, concurrency 16, full', steps: 1, concurrency: 16, runs: Math.round(config.runs16 / 2), synchronous: 'full' },
        { key: '1x1full', name: '1-step runs, concurrency 1, full', steps: 1, concurrency: 1, runs: Math.round(config.runs1 / 4), synchronous: 'full' },
      ]
    : []
  const floor: Record<Synchronous, { insert: number[]; job: number[] }> = { normal: { insert: [], job: [] }, full: { insert: [], job: [] } }
  const engine: Record<string, { rate: number[]; tx: number[]; ratio: number[] }> = {}
  for (const c of cases) engine[c.key] = { rate: [], tx: [], ratio: [] }
  for (let round = 1; round <= config.rounds; round++) {
    say(`floor/throughput round ${round}/${config.rounds}`)
    for (const mode of modes) {
      floor[mode].job.push(claimCompleteFloor(mode, config.seconds))
      const jobFloor = floor[mode].job.at(-1)!
      for (const c of cases.filter((c) => c.synchronous === mode)) {
        await settle()
        const result = await measureRuns(c)
        engine[c.key]!.rate.push(result.runsPerSec)
        engine[c.key]!.tx.push(result.txPerRun)
        engine[c.key]!.ratio.push(result.runsPerSec / jobFloor)
        cleanup()
      }
      floor[mode].insert.push(insertFloor(mode, config.seconds))
      cleanup()
    }
  }
  reference.insertTxPerSec = median(floor.normal.insert)
  for (const mode of modes) {
    const suffix = mode === 'full' ? ', full' : ''
    add({ section: 'floor', name: `raw insert transactions${suffix}`, value: median(floor[mode].insert), unit: 'tx/s', note: 'bun:sqlite, one single-row insert per transaction' })
    add({ section: 'floor', name: `raw claim-then-complete${suffix}`, value: median(floor[mode].job), unit: 'jobs/s', note: 'update … returning, then update; one transaction each' })
  }
  for (const c of cases) {
    const e = engine[c.key]!
    const ratio = median(e.ratio)
    add({
      section: 'throughput',
      name: c.name,
      value: median(e.rate),
      unit: 'runs/s',
      ratio,
      ratioTo: c.synchronous === 'full' ? 'full floor' : 'floor',
      ...(c.goal === undefined ? {} : target(ratio, { atLeast: c.goal }, `≥ ${c.goal}× floor`)),
      note: `${median(e.tx).toFixed(3)} transactions/run`,
    })
    add({ section: 'throughput', name: `  transactions per run (${c.key})`, value: median(e.tx), unit: 'tx/run' })
  }
  details.throughputRounds = { floor, engine }
  if (withEngine) {
    say('enqueue')
    const enqueue = await measureEnqueue({ count: config.runs16, batch: 1000 })
    cleanup()
    add({ section: 'throughput', name: 'enqueue, one awaited call at a time', value: enqueue.single, unit: 'runs/s' })
    add({
      section: 'throughput',
      name: 'enqueue, 1000 concurrent calls (group commit)',
      value: enqueue.batched,
      unit: 'runs/s',
      note: `${enqueue.txPerBatchedEnqueue.toFixed(4)} transactions/run`,
    })
    // The marginal cost of a step under load: what four more steps add to a run at concurrency 16.
    const r1 = median(engine['1x16']!.rate)
    const r5 = median(engine['5x16']!.rate)
    const amortised = ((1 / r5 - 1 / r1) / 4) * 1e6
    add({
      section: 'overhead',
      name: 'per step, durable, concurrency 16 (5-step vs 1-step throughput)',
      value: amortised,
      unit: 'µs',
      ...target(amortised, { below: 50 }, '< 50 µs'),
      note: 'wall time per extra step with 16 runs in flight: their step writes share commits',
    })
  }
}

// Per-step overhead: what a step costs beyond calling its handler.

async function overhead(): Promise<void> {
  const runs = Math.max(200, Math.round(config.runs1 / 2))
  const direct = await directHandlerUs(200_000)
  // (time per run of a (1 + extra)-step workflow − time per run of a 1-step one) / extra − the handler itself
  const perStep = async (memory: boolean, extra: number, runCount: number) => {
    const samples: number[] = []
    for (let round = 0; round < config.rounds; round++) {
      await settle()
      const one = await measureRuns({ steps: 1, concurrency: 1, runs: runCount, memory })
      const many = await measureRuns({ steps: 1 + extra, concurrency: 1, runs: runCount, memory })
      cleanup()
      samples.push((1e6 / many.runsPerSec - 1e6 / one.runsPerSec) / extra - direct)
    }
    return median(samples)
  }
  say('per-step overhead')
  const sqlite = await perStep(false, 10, runs)
  const memory = await perStep(true, 40, Math.max(100, Math.round(runs / 4)))
  add({ section: 'overhead', name: 'calling a no-op async handler directly', value: direct, unit: 'µs' })
  const rawTxUs = reference.insertTxPerSec === undefined ? undefined : 1e6 / reference.insertTxPerSec
  add({
    section: 'overhead',
    name: 'per step, durable (SQLite, concurrency 1)',
    value: sqlite,
    unit: 'µs',
    ...(rawTxUs === undefined ? {} : { ratio: sqlite / rawTxUs, ratioTo: 'raw insert tx' }),
    ...target(sqlite, { below: 50 }, '< 50 µs'),
    note: `11-step vs 1-step runs; each step waits for its own commit${rawTxUs === undefined ? '' : ` (a raw single-row insert transaction: ${rawTxUs.toFixed(0)} µs)`}`,
  })
  add({
    section: 'overhead',
    name: 'per step, engine only (MemoryStorage, concurrency 1)',
    value: memory,
    unit: 'µs',
    ...target(memory, { below: 50 }, '< 50 µs'),
    note: '41-step vs 1-step runs, no durability: the engine’s own code per step',
  })
}

async function dispatch(): Promise<void> {
  say('dispatch: same process')
  const same = await sameProcessDispatch(config.samples)
  cleanup()
  say('dispatch: another process')
  // Sparse arrivals (one every 40-80 ms), so each finds the engine idle at its slowest change check.
  const crossSamples = Math.max(20, Math.round(config.samples / 2))
  const cross = await crossProcessDispatch(crossSamples, 40)
  cleanup()
  say('dispatch: another process, data_version checks only')
  const polled = await crossProcessDispatch(crossSamples, 40, false)
  cleanup()
  add({ section: 'dispatch', name: 'same process, p50', value: same.p50Ms, unit: 'ms', ...target(same.p50Ms, { below: 1 }, '< 1 ms'), note: 'enqueue → first step start; engine idle, poll 1000 ms' })
  add({ section: 'dispatch', name: 'same process, p99', value: same.p99Ms, unit: 'ms' })
  add({ section: 'dispatch', name: 'other process, p50', value: cross.p50Ms, unit: 'ms', ...target(cross.p50Ms, { below: 20 }, '< 20 ms'), note: 'WAL file notification, then a data_version check' })
  add({ section: 'dispatch', name: 'other process, p99', value: cross.p99Ms, unit: 'ms' })
  add({ section: 'dispatch', name: 'engine CPU while receiving from another process', value: cross.cpuPercent, unit: '% of a core', note: 'about 16 enqueues/s arriving, a run each' })
  add({ section: 'dispatch', name: 'other process, data_version checks only, p50', value: polled.p50Ms, unit: 'ms', ...target(polled.p50Ms, { below: 20 }, '< 20 ms'), note: 'no file notifications: checks back off 5 → 25 ms while idle' })
  add({ section: 'dispatch', name: 'other process, data_version checks only, p99', value: polled.p99Ms, unit: 'ms' })
  add({ section: 'dispatch', name: 'engine CPU, data_version checks only', value: polled.cpuPercent, unit: '% of a core' })
  details.dispatch = { same, cross, polled }
}

async function scale(): Promise<void> {
  const small = 10_000
  const claims = quick ? 200 : 500
  const runs = quick ? 5_000 : 10_000
  say(`scale: ${small.toLocaleString('en-US')} finished runs`)
  const a = await measureScale(small, claims, runs)
  cleanup()
  say(`scale: ${config.scaleRows.toLocaleString('en-US')} finished runs (filling the file takes a while)`)
  const b = await measureScale(config.scaleRows, claims, runs)
  const plans = claimPlans((await filledDb(1000)).path)
  cleanup()
  const big = config.scaleRows.toLocaleString('en-US')
  const claimRatio = b.claimP50Us / a.claimP50Us
  const runRatio = a.runsPerSec / b.runsPerSec
  add({ section: 'scale', name: `claim latency p50, ${small.toLocaleString('en-US')} finished runs`, value: a.claimP50Us, unit: 'µs', note: `p99 ${a.claimP99Us.toFixed(0)} µs` })
  add({
    section: 'scale',
    name: `claim latency p50, ${big} finished runs`,
    value: b.claimP50Us,
    unit: 'µs',
    ratio: claimRatio,
    ratioTo: '10k',
    ...target(claimRatio, { below: 1.5 }, '≤ 1.5× 10k'),
    note: `p99 ${b.claimP99Us.toFixed(0)} µs; file ${b.fileMb.toFixed(0)} MB`,
  })
  add({ section: 'scale', name: `1-step runs c16, ${small.toLocaleString('en-US')} finished runs`, value: a.runsPerSec, unit: 'runs/s' })
  add({
    section: 'scale',
    name: `1-step runs c16, ${big} finished runs`,
    value: b.runsPerSec,
    unit: 'runs/s',
    ratio: b.runsPerSec / a.runsPerSec,
    ratioTo: '10k',
    ...target(runRatio, { below: 1.5 }, 'slowdown ≤ 1.5×'),
  })
  for (const [query, ms] of Object.entries(b.pageMs)) {
    add({ section: 'scale', name: `run list page of 50, ${big} finished runs: ${query}`, value: ms, unit: 'ms', ...target(ms, { below: 100 }, '< 100 ms') })
  }
  const indexed = Object.values(plans).flat().some((d) => d.includes('reflow_runs_claim'))
  add({ section: 'scale', name: 'claim reads use the (status, available_at_ms) index', value: indexed ? 1 : 0, unit: '', note: plans.selectDueCandidates!.join('; ') })
  details.scale = { small: a, big: b, plans }
}

async function retention(): Promise<void> {
  const count = config.retentionRows.toLocaleString('en-US')
  say(`retention: a pass over ${count} finished runs beside a worker`)
  await settle()
  const r = await measureRetention(config.retentionRows, 10_000)
  cleanup()
  add({
    section: 'retention',
    name: `longest write-lock hold of a pass over ${count} finished runs`,
    value: r.longestBatchMs,
    unit: 'ms',
    ...target(r.longestBatchMs, { below: 100 }, '< 100 ms'),
    note: `${r.batches} batches in ${(r.passMs / 1000).toFixed(1)} s; ${r.deletedPerSec.toFixed(0)} runs deleted/s`,
  })
  add({
    section: 'retention',
    name: '1-step runs c16 of a worker during the pass',
    value: r.workerRunsPerSecDuring,
    unit: 'runs/s',
    ratio: r.workerRunsPerSecDuring / r.workerRunsPerSecBefore,
    ratioTo: 'before the pass',
    note: `${r.workerRunsPerSecBefore.toFixed(0)} runs/s before (a producer keeps 10,000 runs queued)`,
  })
  details.retention = r
}

async function rss(): Promise<void> {
  say(`rss: ${config.rssRuns.toLocaleString('en-US')} runs`)
  await settle()
  const r = await measureRss(config.rssRuns)
  cleanup()
  add({ section: 'rss', name: `peak RSS processing ${config.rssRuns.toLocaleString('en-US')} runs`, value: r.peakMb, unit: 'MB', note: `${r.startMb.toFixed(0)} MB at start; ${r.runsPerSec.toFixed(0)} runs/s` })
  const half = Math.round(config.rssRuns / 2).toLocaleString('en-US')
  add({
    section: 'rss',
    name: `RSS growth over the second ${half} runs`,
    value: r.endMb - r.halfMb,
    unit: 'MB',
    note: `25% ${r.quarterMb.toFixed(0)} MB, 50% ${r.halfMb.toFixed(0)} MB, 100% ${r.endMb.toFixed(0)} MB`,
  })
  details.rss = r
}

async function idle(): Promise<void> {
  say('idle CPU')
  const r = await measureIdleCpuIsolated(Math.max(2, config.seconds * 3))
  add({
    section: 'idle',
    name: 'CPU of a started engine with nothing to do',
    value: r.cpuPercent,
    unit: '% of a core',
    ...target(r.cpuPercent, { below: 1 }, '< 1%'),
    note: `a fresh process; ${r.changeChecks} data_version checks in ${Math.max(2, config.seconds * 3)} s`,
  })
}

async function time(): Promise<void> {
  say('time: sleeps and events')
  const spreadMs = 2000
  const late = await measureLateness(config.sleepRuns, spreadMs)
  const note = `${late.runs} runs due over ${spreadMs / 1000} s, concurrency 16; step start − due time`
  add({ section: 'time', name: 'sleep wake-up lateness, p50', value: late.p50Ms, unit: 'ms', note })
  add({ section: 'time', name: 'sleep wake-up lateness, p99', value: late.p99Ms, unit: 'ms', note: `max ${late.maxMs.toFixed(1)} ms` })
  const parked = quick ? 2_000 : 10_000
  const seconds = Math.max(2, config.seconds * 3)
  const idle: Record<string, unknown> = {}
  for (const days of [10, 365]) {
    const r = await measureParkedIdleCpuIsolated(parked, seconds, days)
    idle[`${days}d`] = r
    const name = `CPU of a started engine with ${parked.toLocaleString('en-US')} runs sleeping ${days} days`
    add({ section: 'time', name, value: r.cpuPercent, unit: '% of a core', ...target(r.cpuPercent, { below: 1 }, '< 1%'), note: `a fresh process, ${seconds} s` })
  }
  const events = await measureEvents(quick ? 500 : 2_000, config.samples)
  add({ section: 'time', name: 'emit, one awaited call at a time, each waking one run', value: events.emitsPerSec, unit: 'emits/s', note: `${events.emits} runs waiting; woken runs finished at ${Math.round(events.wokenPerSec)} runs/s` })
  const cross = events.crossProcess
  add({ section: 'time', name: 'emit (another process) → woken step, p50', value: cross.p50Ms, unit: 'ms', note: `${cross.samples} samples, one emit every 20-40 ms` })
  add({ section: 'time', name: 'emit (another process) → woken step, p99', value: cross.p99Ms, unit: 'ms' })
  details.time = { lateness: late, idle, events }
}

async function codec(): Promise<void> {
  say('codec: encode/decode against JSON.stringify/JSON.parse')
  await settle()
  const results = measureCodec({ rounds: Math.max(3, config.rounds), sliceMs: quick ? 50 : 200 })
  for (const r of results) {
    const size = r.bytes < 1024 ? `${r.bytes} B` : `${(r.bytes / 1024).toFixed(1)} KB`
    add({
      section: 'codec',
      name: `encode, ${r.case}`,
      value: r.encodeOps,
      unit: 'ops/s',
      ratio: r.encodeRatio,
      ratioTo: 'JSON.stringify',
      note: `JSON.stringify ${Math.round(r.stringifyOps).toLocaleString('en-US')} ops/s; ${size} encoded`,
    })
    add({
      section: 'codec',
      name: `decode, ${r.case}`,
      value: r.decodeOps,
      unit: 'ops/s',
      ratio: r.decodeRatio,
      ratioTo: 'JSON.parse',
      note: `JSON.parse ${Math.round(r.parseOps).toLocaleString('en-US')} ops/s`,
    })
  }
  details.codec = results
}

// Postgres: the engine on PostgresStorage against raw pg on the same server and table shape.

/** DBOS's figure quoted in the Postgres issue: 1-step workflows per second with 10 in flight. */
const DBOS_RUNS_PER_SEC = 530

/** The median, the mean of the middle two for an even count (the default two rounds). */
function mid(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const half = sorted.length / 2
  return Number.isInteger(half) ? (sorted[half - 1]! + sorted[half]!) / 2 : sorted[Math.floor(half)]!
}

async function postgres(): Promise<void> {
  const pg = config.postgres!
  const t0 = performance.now()
  const say = (message: string) => log(quiet, `${message} (${((performance.now() - t0) / 1000).toFixed(0)} s)`)
  const url = postgresUrl
  const settings = await postgresSettings(url)
  details.postgresServer = settings
  const cases = [
    { key: '1x16w1', name: '1-step runs, concurrency 16, one worker process', steps: 1, workers: 1, runs: pg.runs1, goal: 0.5 },
    { key: '5x16w1', name: '5-step runs, concurrency 16, one worker process', steps: 5, workers: 1, runs: pg.runs5 },
    { key: '1x16w4', name: '1-step runs, concurrency 16 each, four worker processes', steps: 1, workers: 4, runs: pg.runs1, goal: 0.5 },
    { key: '5x16w4', name: '5-step runs, concurrency 16 each, four worker processes', steps: 5, workers: 4, runs: pg.runs5 },
  ]
  const floor: number[] = []
  const floorEach: number[] = []
  const engine: Record<string, { result: PgRunsResult[]; ratio: number[]; ratioEach: number[] }> = {}
  for (const c of cases) engine[c.key] = { result: [], ratio: [], ratioEach: [] }
  for (let round = 1; round <= pg.rounds; round++) {
    say(`postgres floor/throughput round ${round}/${pg.rounds}`)
    await settle()
    const f = await pgClaimCompleteFloor(url, pg.floorJobs)
    floor.push(f.jobsPerSec)
    say(`  floor: ${f.jobsPerSec.toFixed(0)} jobs/s`)
    await settle()
    const fe = await pgClaimCompleteFloor(url, pg.floorEachJobs, { each: true })
    floorEach.push(fe.jobsPerSec)
    say(`  floor, a commit per job: ${fe.jobsPerSec.toFixed(0)} jobs/s`)
    for (const c of cases) {
      await settle()
      const r = await measurePgRuns(url, { steps: c.steps, workers: c.workers, concurrency: 16, runs: c.runs })
      engine[c.key]!.result.push(r)
      engine[c.key]!.ratio.push(r.runsPerSec / f.jobsPerSec)
      engine[c.key]!.ratioEach.push(r.runsPerSec / fe.jobsPerSec)
      say(`  ${c.key}: ${r.runsPerSec.toFixed(0)} runs/s`)
    }
  }
  add({
    section: 'postgres',
    name: 'raw claim-then-complete, skip locked, batches of 16',
    value: mid(floor),
    unit: 'jobs/s',
    note: `${pg.floorJobs.toLocaleString('en-US')} runs inserted; 16 loops on a pg Pool of 16: update … where id in (select … for update skip locked limit 16) returning id, then one update for the batch`,
  })
  add({
    section: 'postgres',
    name: 'raw claim-then-complete, skip locked, a commit per job',
    value: mid(floorEach),
    unit: 'jobs/s',
    ratio: mid(floorEach.map((v, i) => v / floor[i]!)),
    ratioTo: 'pg floor',
    note: `${pg.floorEachJobs.toLocaleString('en-US')} runs; the same claims, then an update of its own per job (as the engine records a step): the server's commit rate`,
  })
  const rate = (key: string) => mid(engine[key]!.result.map((r) => r.runsPerSec))
  for (const c of cases) {
    const e = engine[c.key]!
    const ratio = mid(e.ratio)
    const value = rate(c.key)
    const perRun = mid(e.result.map((r) => r.statementsPerRun))
    const cpu = mid(e.result.map((r) => r.workerCpuPercent))
    const dbos = c.steps === 1 && c.workers === 1 ? `; ${(value / DBOS_RUNS_PER_SEC).toFixed(2)}× DBOS's ≈ ${DBOS_RUNS_PER_SEC} 1-step runs/s at 10 in flight` : ''
    add({
      section: 'postgres',
      name: c.name,
      value,
      unit: 'runs/s',
      ratio,
      ratioTo: 'pg floor',
      ...(c.goal === undefined ? {} : target(ratio, { atLeast: c.goal }, `≥ ${c.goal}× floor`)),
      note: `${mid(e.ratioEach).toFixed(2)}× the commit-per-job floor; ${c.runs.toLocaleString('en-US')} runs; ${perRun.toFixed(2)} statements/run; workers' CPU ${cpu.toFixed(0)}% of a core${dbos}`,
    })
  }
  for (const workers of [1, 4]) {
    const w = workers === 1 ? 'w1' : 'w4'
    const perStep = ((1 / rate(`5x16${w}`) - 1 / rate(`1x16${w}`)) / 4) * 1e6
    add({
      section: 'postgres',
      name: `per step, concurrency 16, ${workers === 1 ? 'one worker process' : 'four worker processes'} (5-step vs 1-step)`,
      value: perStep,
      unit: 'µs',
      note: 'wall time per extra step: one fenced statement (and its commit) each',
    })
  }
  details.postgresThroughput = { floor, floorEach, engine }

  say('postgres: dispatch from another process')
  await settle()
  const dispatch = await pgCrossProcessDispatch(url, pg.samples, 40)
  add({
    section: 'postgres',
    name: 'dispatch, other process, p50',
    value: dispatch.p50Ms,
    unit: 'ms',
    ...target(dispatch.p50Ms, { below: 10 }, '< 10 ms'),
    note: `enqueue → first step start; an idle started engine in a worker process, woken by NOTIFY; ${dispatch.samples} enqueues, one every 40-80 ms`,
  })
  add({ section: 'postgres', name: 'dispatch, other process, p99', value: dispatch.p99Ms, unit: 'ms', note: `the worker's CPU meanwhile ${dispatch.cpuPercent.toFixed(1)}% of a core` })

  say('postgres: emit → woken step')
  await settle()
  const events = await pgEventLatency(url, Math.min(50, pg.samples), { gapMs: 20, budgetMs: pg.eventBudgetMs, minSamples: quick ? 4 : 10 })
  const eventNote = (n: number) => `${n} emits, one every 20-40 ms, each waking one waiting run (at most ${pg.eventBudgetMs / 1000} s of them)`
  add({ section: 'postgres', name: 'emit (another engine) → woken step, p50', value: events.other.p50Ms, unit: 'ms', note: `${eventNote(events.other.samples)}; the emitter has its own pool: the wake-up travels by NOTIFY` })
  add({ section: 'postgres', name: 'emit (another engine) → woken step, p99', value: events.other.p99Ms, unit: 'ms' })
  add({ section: 'postgres', name: 'emit (the same engine) → woken step, p50', value: events.same.p50Ms, unit: 'ms', note: eventNote(events.same.samples) })
  add({ section: 'postgres', name: 'emit (the same engine) → woken step, p99', value: events.same.p99Ms, unit: 'ms' })
  details.postgresLatency = { dispatch, events }

  say('postgres: idle')
  const idle: Record<string, unknown> = {}
  const parked = pg.parked.toLocaleString('en-US')
  const probes = [
    ['empty', 0, 'sleep', 'with nothing to do'],
    ['sleeping', pg.parked, 'sleep', `with ${parked} runs sleeping 10 days`],
    ['waiting', pg.parked, 'event', `with ${parked} runs waiting for an event`],
  ] as const
  // --quick runs the three probes at once (each in its own process, its own CPU and statements).
  const results = quick
    ? await Promise.all(probes.map(([, count, waitFor]) => pgIdle(url, pg.idleSeconds, count, waitFor)))
    : []
  for (const [i, [key, count, waitFor, what]] of probes.entries()) {
    if (!quick) await settle()
    const r = results[i] ?? (await pgIdle(url, pg.idleSeconds, count, waitFor))
    idle[key] = r
    add({
      section: 'postgres',
      name: `CPU of a started engine ${what}`,
      value: r.cpuPercent,
      unit: '% of a core',
      ...target(r.cpuPercent, { below: 1 }, '< 1%'),
      note: `a fresh worker process, ${r.seconds.toFixed(1)} s${quick ? ' (--quick: the three probes at once)' : ''}`,
    })
    add({
      section: 'postgres',
      name: `  statements it sends (${key})`,
      value: r.statementsPerSec,
      unit: '/s',
      note: 'counted in its pg client (pg.Client.prototype.query): pg_stat_database is database-wide, shared with other sessions',
    })
  }
  details.postgresIdle = idle
}

const started = performance.now()
try {
  if (selected.has('floor') || selected.has('throughput')) await floorAndThroughput()
  if (selected.has('overhead')) await overhead()
  if (selected.has('dispatch')) await dispatch()
  if (selected.has('scale')) await scale()
  if (selected.has('rss')) await rss()
  if (selected.has('idle')) await idle()
  if (selected.has('codec')) await codec()
  if (selected.has('time')) await time()
  if (selected.has('retention')) await retention()
  if (selected.has('postgres')) await postgres()
} finally {
  cleanup()
  if (selected.has('postgres')) await dropPostgresSchemas(postgresUrl)
}

// Section by section, in the order of SECTIONS, each in the order its figures were measured.
rows.sort((a, b) => SECTIONS.indexOf(a.section as Section) - SECTIONS.indexOf(b.section as Section))

const document = {
  generatedAt: new Date().toISOString(),
  durationS: (performance.now() - started) / 1000,
  command: `bun run bench${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
  environment: {
    bun: Bun.version,
    sqlite: (() => {
      const { Database } = require('bun:sqlite') as typeof import('bun:sqlite')
      const db = new Database(':memory:')
      const version = (db.query('select sqlite_version() as v').get() as { v: string }).v
      db.close()
      return version
    })(),
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    tmpdir: os.tmpdir(),
    ...(details.postgresServer !== undefined && { postgres: details.postgresServer }),
  },
  durability:
    'WAL, synchronous=normal (the default: a process crash loses nothing acknowledged, every promise settles after COMMIT); rows marked "full" use synchronous=full (power-loss safe)',
  config,
  rows,
  details,
}
fs.writeFileSync(flags.out!, `${JSON.stringify(document, null, 2)}\n`)
if (flags.json) {
  process.stdout.write(`${JSON.stringify(document, null, 2)}\n`)
} else {
  process.stdout.write(`\nreflow-ts bench · bun ${document.environment.bun} · SQLite ${document.environment.sqlite} · ${document.environment.cpus} CPUs · ${document.durationS.toFixed(0)} s\n`)
  process.stdout.write(`durability: ${document.durability}\n`)
  const server = details.postgresServer as { version: string; synchronousCommit: string } | undefined
  if (server) process.stdout.write(`postgres: ${server.version}, synchronous_commit=${server.synchronousCommit}, ${redact(postgresUrl)}\n`)
  process.stdout.write('\n')
  process.stdout.write(`${formatTable(rows)}\n\nwritten to ${flags.out}\n`)
}
