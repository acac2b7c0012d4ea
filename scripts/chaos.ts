/**
 * The chaos run at any size, outside the test runner:
 *
 *   bun scripts/chaos.ts [--runs 2000] [--workers 4] [--kills 40] [--keep]
 *
 * Prints each kill and the verdict; exits 1 on any violated invariant (see test/crash/chaos.ts).
 * With --keep the database and side-effect log are left in place for inspection.
 */

import { parseArgs } from 'node:util'
import { runChaos } from '../test/crash/chaos.ts'
import { scratch } from '../test/crash/harness.ts'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: process.env.CHAOS_RUNS ?? '1000' },
    workers: { type: 'string', default: process.env.CHAOS_WORKERS ?? '3' },
    kills: { type: 'string', default: process.env.CHAOS_KILLS ?? '25' },
    keep: { type: 'boolean', default: false },
  },
})
const [runs, workers, kills] = [values.runs, values.workers, values.kills].map(Number) as [number, number, number]
for (const [name, value] of Object.entries({ runs, workers, kills })) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got ${value}`)
}

const files = scratch('chaos')
console.log(`chaos: ${runs} runs, ${workers} workers, ${kills} kills in ${files.dir}`)
const report = await runChaos({ dbPath: files.dbPath, logPath: files.logPath, runs, workers, kills, progress: console.log })
console.log(
  `${report.executions} step executions, ${report.reexecutedSteps} re-executed after a kill, ` +
    `${report.kills.filter((kill) => kill.interrupted.length > 0).length}/${kills} kills interrupted a step, ${report.durationMs} ms`,
)
if (!values.keep) files.remove()
if (report.violations.length > 0) {
  console.error(`${report.violations.length} violation(s):\n${report.violations.join('\n')}`)
  process.exit(1)
}
console.log('all invariants hold')
