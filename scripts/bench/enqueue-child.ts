/**
 * The other process of the cross-process dispatch bench: opens the same file through its own
 * SQLiteStorage and enqueues `count` runs, one every `gapMs` (plus jitter, so enqueues never fall
 * into step with the started engine's change checks), each stamped with the epoch time taken just
 * before `enqueue()` was called.
 *
 *   bun scripts/bench/enqueue-child.ts <db path> <count> <gap ms>
 */

import { createEngine } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { noopWorkflow, WORKFLOW, type Engine } from './engine-runs.ts'
import { epochMs, sleepMs } from './harness.ts'

const [path, countArg, gapArg] = process.argv.slice(2)
if (!path) throw new Error('usage: enqueue-child.ts <db path> <count> <gap ms>')
const count = Number(countArg ?? 100)
const gapMs = Number(gapArg ?? 20)

const storage = new SQLiteStorage(path)
const engine = createEngine({ storage, workflows: [noopWorkflow(1)] }) as unknown as Engine
await storage.initialize()
for (let i = 0; i < count; i++) {
  await sleepMs(gapMs + Math.random() * gapMs)
  await engine.enqueue(WORKFLOW, { i, t: epochMs() })
}
storage.close()
