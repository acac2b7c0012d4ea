/**
 * Chaos on Postgres: Bun and Node worker processes (src/ and the built dist/, alternating)
 * SIGKILLed at random moments and restarted while a few hundred runs flow through one schema, each
 * with a step that fails once and is retried after a delay, and a sleep (see chaos.ts for the
 * design and the invariants, postgres-chaos.ts for the backend). CHAOS_RUNS, CHAOS_WORKERS and
 * CHAOS_KILLS make it bigger.
 */

import { afterAll, beforeAll, expect, test } from 'bun:test'
import { buildLibrary } from '../../scripts/build-lib.ts'
import { dropSchemas, freshSchema, POSTGRES_URL } from '../postgres/server.ts'
import { runChaos } from './chaos.ts'
import { killLiveWorkers, scratch } from './harness.ts'
import { postgresChaos } from './postgres-chaos.ts'

const RUNS = Number(process.env.CHAOS_RUNS ?? 300)
const WORKERS = Number(process.env.CHAOS_WORKERS ?? 4)
const KILLS = Number(process.env.CHAOS_KILLS ?? 8)
const files = scratch('chaos-postgres')

// The Node workers run the package as npm ships it.
beforeAll(() => buildLibrary(), 120_000)

afterAll(async () => {
  await killLiveWorkers()
  await dropSchemas()
  files.remove()
})

test(
  `${RUNS} runs (a retried step, a sleep) on ${WORKERS} Bun and Node workers, ${KILLS} SIGKILLs: every run completes, every step recorded once, never run twice at once`,
  async () => {
    const backend = postgresChaos(POSTGRES_URL, freshSchema('reflow_chaos'), files.logPath, (i) => (i % 2 === 0 ? 'node' : 'bun'))
    const report = await runChaos({ backend, logPath: files.logPath, runs: RUNS, workers: WORKERS, kills: KILLS, progress: console.log })
    console.log(`${report.executions} executions, ${report.reexecutedSteps} re-executed after a kill, ${report.failedAttempts} retried failures, ${report.durationMs} ms`)
    expect(report.violations).toEqual([])
    expect(report.kills).toHaveLength(KILLS)
    // The test proves something only if kills really interrupted steps that then ran again, and
    // if failures really were retried.
    expect(report.reexecutedSteps).toBeGreaterThan(0)
    expect(report.failedAttempts).toBeGreaterThan(0)
    // A step the log shows unfinished at a kill runs again unless its record was committed: the
    // server can commit a batch the killed worker sent just before it died (the log has no line for
    // that), so at most every interrupted step runs again, never more. Running a recorded step again
    // is what the violations above would catch.
    expect(report.reexecutedSteps).toBeLessThanOrEqual(report.kills.reduce((n, kill) => n + kill.interrupted.length, 0))
    expect(report.executions).toBe(RUNS * 3 + report.reexecutedSteps + report.failedAttempts)
  },
  60_000 + KILLS * 5_000 + RUNS * 50,
)
