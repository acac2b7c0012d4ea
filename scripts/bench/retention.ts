/**
 * Retention: how long one retention pass holds the write lock at a time, and what it costs a worker
 * on the same file. Fills a database with `rows` finished runs (one step each, scale.ts), starts a
 * worker engine (concurrency 16, 1-step runs) on one connection and runs a retention pass that
 * deletes every one of them on another connection of the same process (a producer keeps the
 * worker's backlog at `backlog` runs throughout), then reports the longest
 * batch (request to commit: an upper bound of one write-lock hold), the pass's duration, and the
 * worker's runs/s during the pass next to its runs/s just before it.
 */

import { SystemClock } from '../../src/core/clock.ts'
import { createRetention, supportsRetention } from '../../src/engine/retention.ts'
import { createEngine } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { STORE } from '../../src/storage/store.ts'
import { enqueueMany, noopWorkflow, type Engine } from './engine-runs.ts'
import { sleepMs } from './harness.ts'
import { filledDb } from './scale.ts'

export interface RetentionResult {
  rows: number
  deleted: number
  batches: number
  longestBatchMs: number
  passMs: number
  deletedPerSec: number
  workerRunsPerSecBefore: number
  workerRunsPerSecDuring: number
}

export async function measureRetention(rows: number, backlog: number): Promise<RetentionResult> {
  const { path } = await filledDb(rows)
  const workerStorage = new SQLiteStorage(path)
  let completed = 0
  const worker = createEngine({
    storage: workerStorage,
    workflows: [noopWorkflow(1)],
    concurrency: 16,
    hooks: { onRunComplete: () => void completed++ },
  }) as unknown as Engine
  let enqueued = 0
  let producing = true
  const produce = async () => {
    while (producing) {
      if (enqueued - completed < backlog) {
        await enqueueMany(worker, 2_000)
        enqueued += 2_000
      } else {
        await sleepMs(2)
      }
    }
  }
  await enqueueMany(worker, backlog)
  enqueued = backlog
  await worker.start()
  const producer = produce()
  await sleepMs(300)
  const baselineFrom = completed
  const baselineStart = performance.now()
  await sleepMs(1000)
  const workerRunsPerSecBefore = ((completed - baselineFrom) / (performance.now() - baselineStart)) * 1000

  const storage = new SQLiteStorage(path)
  const store = storage[STORE]()
  if (!supportsRetention(store)) throw new Error('SQLite storage supports retention')
  const retention = createRetention({
    store,
    clock: SystemClock,
    policy: { completed: 60_000 },
    holder: 'bench',
    onPass: () => {},
    reportError: (error) => {
      throw error
    },
  })
  const from = completed
  const start = performance.now()
  const pass = await retention.pass()
  const passMs = performance.now() - start
  const during = completed - from
  producing = false
  await producer
  await worker.stop()
  storage.close()
  workerStorage.close()
  if (!pass) throw new Error('the retention lease was refused')
  return {
    rows,
    deleted: pass.runs,
    batches: pass.batches,
    longestBatchMs: pass.longestBatchMs,
    passMs,
    deletedPerSec: (pass.runs / passMs) * 1000,
    workerRunsPerSecBefore,
    workerRunsPerSecDuring: (during / passMs) * 1000,
  }
}
