/**
 * The idle-CPU probe, in a process of its own so the figure is the engine's and not the garbage of
 * earlier bench sections: starts an engine on an empty file, lets it settle, then prints (as JSON)
 * the CPU it used over `seconds` and how many data_version checks it made.
 *
 *   bun scripts/bench/idle-child.ts <seconds>
 */

import { measureIdleCpu } from './resources.ts'
import { cleanup } from './harness.ts'

const seconds = Number(process.argv[2] ?? 3)
const result = await measureIdleCpu(seconds)
cleanup()
process.stdout.write(`${JSON.stringify(result)}\n`)
