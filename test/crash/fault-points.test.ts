/**
 * Crash recovery at named fault points. Worker 1 runs the three-step `crash` workflow and SIGKILLs
 * itself at the fault point; worker 2, a fresh process on the same file, must reclaim the run once
 * worker 1's lease has expired and finish it. The verdict comes from the database file (read
 * directly) and the append-only side-effect log: the run completes, each step is recorded exactly
 * once, a step recorded before the crash never runs again, and the interrupted step runs at most twice.
 * The takeover is on record: one interrupted attempt of the step the run was at, which therefore
 * finishes as its attempt 2.
 */

import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { FAULT_LEASE_MS, FAULT_POINTS, FAULT_STEPS, faultWorkflow, neverExecuted, type FaultPoint, type StepOutput } from './fixtures/child.ts'
import { enqueue, inspect, killLiveWorkers, readExecutions, scratch, Worker } from './harness.ts'

interface Expectation {
  /** Steps whose results are in the file when worker 1 is dead. */
  recordedAtCrash: string[]
  /** The side-effect log, in order: which step ran in which worker. */
  executions: Array<[step: string, worker: 1 | 2]>
  /** The run's current step when worker 1 died (the next one to record, started or not). */
  interrupted: string
}

const EXPECTED: Record<FaultPoint, Expectation> = {
  'after-claim': {
    recordedAtCrash: [],
    executions: [['one', 2], ['two', 2], ['three', 2]],
    interrupted: 'one',
  },
  'step-returned-before-record': {
    recordedAtCrash: ['one'],
    executions: [['one', 1], ['two', 1], ['two', 2], ['three', 2]],
    interrupted: 'two',
  },
  'in-record-transaction': {
    recordedAtCrash: ['one'],
    executions: [['one', 1], ['two', 1], ['two', 2], ['three', 2]],
    interrupted: 'two',
  },
  'after-record': {
    recordedAtCrash: ['one', 'two'],
    executions: [['one', 1], ['two', 1], ['three', 2]],
    interrupted: 'three',
  },
  'before-run-complete': {
    recordedAtCrash: ['one', 'two'],
    executions: [['one', 1], ['two', 1], ['three', 1], ['three', 2]],
    interrupted: 'three',
  },
  'during-heartbeat': {
    recordedAtCrash: ['one'],
    executions: [['one', 1], ['two', 1], ['two', 2], ['three', 2]],
    interrupted: 'two',
  },
}

let files: ReturnType<typeof scratch>

beforeEach(() => {
  files = scratch('crash')
})

afterEach(async () => {
  await killLiveWorkers()
  files.remove()
})

describe('a worker SIGKILLed at a fault point', () => {
  test.each([...FAULT_POINTS])('%s: a fresh worker resumes the run and records every step exactly once', async (point) => {
    const { dbPath, logPath } = files
    const expected = EXPECTED[point]
    const [runId] = await enqueue(dbPath, faultWorkflow(neverExecuted), ['run-1'])

    const first = Worker.spawn('worker 1', 'fault-worker.ts', [dbPath, logPath, point])
    await first.waitFor(`fault ${point}`)
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' })

    // The file as the crash left it: still claimed by the dead worker, with only what it committed.
    const atCrash = inspect(dbPath, (db) => ({ run: db.run(runId!)!, steps: db.steps(runId) }))
    expect(atCrash.run.status).toBe('running')
    expect(atCrash.run.lease_id).not.toBeNull()
    expect(atCrash.steps.map((step) => step.name)).toEqual(expected.recordedAtCrash)

    const second = Worker.spawn('worker 2', 'fault-worker.ts', [dbPath, logPath, 'none'])
    await second.waitFor(`done ${runId}`)
    expect(await second.exited).toEqual({ code: 0, signal: null })
    expect([...first.marked('error'), ...second.marked('error')]).toEqual([])

    // Reclaimed once, and only after the dead worker's lease had run out.
    const claims = second.marked(`claimed ${runId}`)
    expect(claims).toHaveLength(1)
    const claimedAt = Number(claims[0]!.split(' ')[2])
    expect(claimedAt - atCrash.run.heartbeat_at_ms!).toBeGreaterThanOrEqual(FAULT_LEASE_MS)

    const final = inspect(dbPath, (db) => ({ run: db.run(runId!)!, steps: db.steps(runId), attempts: db.attempts(runId) }))
    expect(final.run.status).toBe('completed')
    expect(final.run.lease_id).toBeNull()
    expect(final.steps.map((s) => [s.name, s.seq, s.status, s.attempts])).toEqual(
      FAULT_STEPS.map((name, i) => [name, i + 1, 'completed', name === expected.interrupted ? 2 : 1]),
    )
    expect(final.attempts.map((a) => [a.step_name, a.attempt, a.status])).toEqual([[expected.interrupted, 1, 'interrupted']])
    // Results recorded before the crash are the dead worker's, untouched; the rest are worker 2's.
    for (const step of final.steps) {
      const output = JSON.parse(step.output_json!) as StepOutput
      const before = atCrash.steps.find((s) => s.name === step.name)
      if (before) expect(step).toEqual(before)
      expect(output).toMatchObject({ step: step.name, pid: before ? first.pid : second.pid })
    }

    const executions = readExecutions(logPath)
    expect(executions.every((e) => e.key === 'run-1')).toBe(true)
    expect(executions.map((e): [string, number] => [e.step, e.pid === first.pid ? 1 : e.pid === second.pid ? 2 : e.pid])).toEqual(
      expected.executions,
    )
    for (const step of FAULT_STEPS) {
      const runs = executions.filter((e) => e.step === step)
      expect(runs.length).toBeGreaterThanOrEqual(1)
      expect(runs.length).toBeLessThanOrEqual(2)
      if (expected.recordedAtCrash.includes(step)) expect(runs.map((e) => e.pid)).toEqual([first.pid])
    }
  }, 30_000)
})
