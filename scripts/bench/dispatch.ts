/**
 * Dispatch latency: from just before `enqueue()` to the first step starting, with the engine
 * already started (default poll interval, 1000 ms) and idle, so any figure well under a second
 * comes from a wake-up, not a poll. Same process: the enqueue wakes the engine directly. Another
 * process: the engine notices through its store's change source; the engine process's CPU use over
 * that phase shows what the change checks cost.
 */

import path from 'node:path'
import { createEngine, createWorkflow } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { STORE } from '../../src/storage/store.ts'
import { WORKFLOW, type Engine } from './engine-runs.ts'
import { anyInput, epochMs, freshDb, percentile, sleepMs } from './harness.ts'

export interface DispatchResult {
  p50Ms: number
  p99Ms: number
  samples: number
  /** CPU time of this process over the phase, as a share of one core. */
  cpuPercent: number
}

async function startedEngine(file: string, onStart: (latencyMs: number) => void, notifications = true): Promise<{ engine: Engine; storage: SQLiteStorage }> {
  const storage = new SQLiteStorage(file)
  // Without file-system notifications the engine finds changes by its data_version checks alone.
  if (!notifications) {
    const store = storage[STORE]()
    const { version } = store.changes!
    Object.defineProperty(store, 'changes', { value: { version, watch: () => undefined } })
  }
  const wf = createWorkflow({ name: WORKFLOW, input: anyInput }).step('first', ({ input }) => {
    if (input.t !== undefined) onStart(epochMs() - input.t)
  })
  const engine = createEngine({ storage, workflows: [wf], concurrency: 16 }) as unknown as Engine
  await engine.start()
  return { engine, storage }
}

function summarise(latencies: number[], cpuMicros: number, wallMs: number): DispatchResult {
  const sorted = [...latencies].sort((a, b) => a - b)
  return {
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    samples: sorted.length,
    cpuPercent: (cpuMicros / 1000 / wallMs) * 100,
  }
}

/** Enqueues `samples` runs one at a time, each after the previous one started and a short pause. */
export async function sameProcessDispatch(samples: number): Promise<DispatchResult> {
  const latencies: number[] = []
  let started: (() => void) | undefined
  const { engine, storage } = await startedEngine(freshDb(), (ms) => {
    latencies.push(ms)
    started?.()
  })
  await sleepMs(50)
  const cpu0 = process.cpuUsage()
  const wall0 = performance.now()
  for (let i = 0; i < samples; i++) {
    const startedOnce = new Promise<void>((resolve) => (started = resolve))
    await engine.enqueue(WORKFLOW, { i, t: epochMs() })
    await startedOnce
    // Let the engine finish the run and go idle again before the next enqueue.
    await sleepMs(2 + Math.random() * 3)
  }
  const cpu = process.cpuUsage(cpu0)
  const wall = performance.now() - wall0
  await engine.stop()
  storage.close()
  return summarise(latencies, cpu.user + cpu.system, wall)
}

/** A child process enqueues `samples` runs into the started engine's file, one every `gapMs` to 2 × `gapMs`. */
export async function crossProcessDispatch(samples: number, gapMs: number, notifications = true): Promise<DispatchResult> {
  const file = freshDb()
  const latencies: number[] = []
  let allStarted!: () => void
  const done = new Promise<void>((resolve) => (allStarted = resolve))
  const { engine, storage } = await startedEngine(
    file,
    (ms) => {
      latencies.push(ms)
      if (latencies.length === samples) allStarted()
    },
    notifications,
  )
  const cpu0 = process.cpuUsage()
  const wall0 = performance.now()
  const child = Bun.spawn(['bun', path.join(import.meta.dir, 'enqueue-child.ts'), file, String(samples), String(gapMs)], {
    stdout: 'inherit',
    stderr: 'inherit',
  })
  const exited = await Promise.race([done.then(() => 'done' as const), child.exited.then(() => 'exited' as const)])
  if (exited === 'exited') {
    // The child finished enqueuing; every run still has to start (give it up to two poll intervals).
    await Promise.race([done, sleepMs(2_500)])
  }
  const cpu = process.cpuUsage(cpu0)
  const wall = performance.now() - wall0
  await child.exited
  await engine.stop()
  storage.close()
  if (latencies.length < samples) throw new Error(`cross-process dispatch: only ${latencies.length} of ${samples} runs started`)
  return summarise(latencies, cpu.user + cpu.system, wall)
}
