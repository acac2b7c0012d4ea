/**
 * Chaos: worker processes SIGKILLed at random moments and restarted while a few hundred three-step
 * runs flow through one file (see chaos.ts for the design and the invariants). CI size by default;
 * CHAOS_RUNS, CHAOS_WORKERS and CHAOS_KILLS make it bigger (or run scripts/chaos.ts).
 */

import { afterAll, expect, test } from 'bun:test'
import { runChaos } from './chaos.ts'
import { killLiveWorkers, scratch } from './harness.ts'

const RUNS = Number(process.env.CHAOS_RUNS ?? 200)
const WORKERS = Number(process.env.CHAOS_WORKERS ?? 3)
const KILLS = Number(process.env.CHAOS_KILLS ?? 8)
const files = scratch('chaos')

afterAll(async () => {
  await killLiveWorkers()
  files.remove()
})

test(
  `${RUNS} runs on ${WORKERS} workers, ${KILLS} SIGKILLs: every run completes, every step recorded once, never run twice at once`,
  async () => {
    const report = await runChaos({ dbPath: files.dbPath, logPath: files.logPath, runs: RUNS, workers: WORKERS, kills: KILLS })
    expect(report.violations).toEqual([])
    expect(report.kills).toHaveLength(KILLS)
    // The test proves something only if kills really interrupted steps that then ran again.
    expect(report.reexecutedSteps).toBeGreaterThan(0)
    expect(report.reexecutedSteps).toBe(report.kills.reduce((n, kill) => n + kill.interrupted.length, 0))
    expect(report.executions).toBe(RUNS * 3 + report.reexecutedSteps)
  },
  60_000 + KILLS * 5_000 + RUNS * 50,
)
