/**
 * Resources: resident memory while a started engine works through a large backlog, and the CPU an
 * idle started engine uses (its poll timer and change checks) with nothing to do.
 */

import path from 'node:path'
import { createEngine } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { STORE } from '../../src/storage/store.ts'
import { enqueueMany, noopWorkflow, type Engine } from './engine-runs.ts'
import { cpuPercentOver, freshDb, sleepMs } from './harness.ts'

export interface RssResult {
  runs: number
  runsPerSec: number
  /** RSS when processing began (after enqueuing the backlog and a full GC). */
  startMb: number
  peakMb: number
  /** RSS after a quarter, half and all of the runs: growth after warm-up is what would scale with runs. */
  quarterMb: number
  halfMb: number
  endMb: number
  samples: Array<{ processed: number; rssMb: number }>
}

export async function measureRss(runs: number): Promise<RssResult> {
  const storage = new SQLiteStorage(freshDb())
  let processed = 0
  let finish!: () => void
  const done = new Promise<void>((resolve) => (finish = resolve))
  const engine = createEngine({
    storage,
    workflows: [noopWorkflow(1)],
    concurrency: 16,
    hooks: { onRunComplete: () => void (++processed === runs && finish()) },
  }) as unknown as Engine
  await storage.initialize()
  await enqueueMany(engine, runs, 5000)
  Bun.gc(true)
  const mb = () => process.memoryUsage.rss() / 1024 / 1024
  const samples: RssResult['samples'] = []
  const startMb = mb()
  let peakMb = startMb
  let quarterMb = NaN
  let halfMb = NaN
  const sampler = setInterval(() => {
    const rssMb = mb()
    peakMb = Math.max(peakMb, rssMb)
    samples.push({ processed, rssMb })
    if (Number.isNaN(quarterMb) && processed >= runs / 4) quarterMb = rssMb
    if (Number.isNaN(halfMb) && processed >= runs / 2) halfMb = rssMb
  }, 100)
  const start = performance.now()
  await engine.start()
  await done
  const elapsed = performance.now() - start
  clearInterval(sampler)
  const endMb = mb()
  peakMb = Math.max(peakMb, endMb)
  await engine.stop()
  storage.close()
  return { runs, runsPerSec: runs / (elapsed / 1000), startMb, peakMb, quarterMb, halfMb, endMb, samples }
}

/** `measureIdleCpu` in a fresh process (idle-child.ts). */
export async function measureIdleCpuIsolated(seconds: number): Promise<{ cpuPercent: number; changeChecks: number }> {
  const child = Bun.spawn(['bun', path.join(import.meta.dir, 'idle-child.ts'), String(seconds)], { stdout: 'pipe', stderr: 'inherit' })
  const output = await new Response(child.stdout).text()
  if ((await child.exited) !== 0) throw new Error('idle-child failed')
  return JSON.parse(output) as { cpuPercent: number; changeChecks: number }
}

/** CPU used by a started engine with an empty queue, as a share of one core, over `seconds`. */
export async function measureIdleCpu(seconds: number): Promise<{ cpuPercent: number; changeChecks: number }> {
  const storage = new SQLiteStorage(freshDb())
  let changeChecks = 0
  const changes = storage[STORE]().changes!
  const version = changes.version.bind(changes)
  changes.version = () => {
    changeChecks++
    return version()
  }
  const engine = createEngine({ storage, workflows: [noopWorkflow(1)], concurrency: 16 })
  await engine.start()
  await sleepMs(300)
  changeChecks = 0
  const cpuPercent = await cpuPercentOver(seconds)
  await engine.stop()
  storage.close()
  return { cpuPercent, changeChecks }
}
