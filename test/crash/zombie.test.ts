/**
 * Zombies: worker A is still alive when its lease expires and worker B reclaims and completes the
 * run. Whatever A does afterwards must not change the run: fencing rejects A's late writes, and A,
 * once it runs again and reads that its lease is gone (a renewal, or a lease check prompted by B's
 * writes), aborts its step with LeaseLostError.
 *
 * The two halves are separate tests because the executor makes them exclusive for one attempt: a
 * step still running when the loss is detected is interrupted (nothing to record), while a step that
 * returned first is recorded, and the record is what fencing rejects.
 */

import { afterEach, beforeEach, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { faultWorkflow, neverExecuted, type StepOutput } from './fixtures/child.ts'
import { enqueue, inspect, killLiveWorkers, processState, readExecutions, scratch, until, Worker } from './harness.ts'

let files: ReturnType<typeof scratch>

beforeEach(() => {
  files = scratch('zombie')
})

afterEach(async () => {
  await killLiveWorkers()
  files.remove()
})

function snapshot(dbPath: string, runId: string) {
  return inspect(dbPath, (db) => ({ run: db.run(runId)!, steps: db.steps(runId) }))
}

test.each([
  ['two', 'save two'],
  ['three', 'finish three'],
])(
  'a worker that finishes step %s after losing its lease has its result rejected, and the winner’s stays',
  async (step, write) => {
    const { dbPath, logPath } = files
    const [runId] = await enqueue(dbPath, faultWorkflow(neverExecuted), ['run-1'])

    // A's renewals never reach the file, so its lease expires while its step is blocked.
    const a = Worker.spawn('worker A', 'fault-worker.ts', [dbPath, logPath, 'none'], {
      REFLOW_BLOCK_STEP: step,
      REFLOW_HEARTBEATS: 'off',
    })
    await a.waitFor(`blocked ${step}`)

    const b = Worker.spawn('worker B', 'fault-worker.ts', [dbPath, logPath, 'none'])
    await b.waitFor(`done ${runId}`)
    expect(await b.exited).toEqual({ code: 0, signal: null })
    const won = snapshot(dbPath, runId!)
    expect(won.run.status).toBe('completed')

    // A's step returns now, long after B finished the run.
    a.send('release')
    expect(await a.waitFor(write)).toBe(`${write} false`)
    a.send('stop')
    expect(await a.exited).toEqual({ code: 0, signal: null })

    expect([...a.marked('error'), ...b.marked('error')]).toEqual([])
    // A's write was fenced, and A wrote nothing else after it.
    const writes = a.lines.filter((line) => /^(save|finish|status) /.test(line))
    expect(writes.at(-1)).toBe(`${write} false`)
    expect(writes.slice(0, -1).every((line) => line.endsWith(' true'))).toBe(true)
    expect(a.marked('aborted')).toEqual([])

    // The file is exactly as B left it: B's results, B's completion.
    expect(snapshot(dbPath, runId!)).toEqual(won)
    const recorded = JSON.parse(won.steps.find((s) => s.name === step)!.output_json!) as StepOutput
    expect(recorded.pid).toBe(b.pid)
    expect(won.steps.map((s) => s.name)).toEqual(['one', 'two', 'three'])

    // A and B both executed the blocked step; A's execution is the one that lost.
    const executions = readExecutions(logPath).filter((e) => e.step === step)
    expect(executions.map((e) => e.pid)).toEqual([a.pid, b.pid])
  },
  30_000,
)

test('a suspended worker, resumed after another completed its run, aborts its step with LeaseLostError', async () => {
  const { dbPath, logPath } = files
  const [runId] = await enqueue(dbPath, faultWorkflow(neverExecuted), ['run-1'])

  // A suspends itself with SIGSTOP inside step two, so it is never frozen holding SQLite's write lock.
  const a = Worker.spawn('worker A', 'fault-worker.ts', [dbPath, logPath, 'none'], {
    REFLOW_BLOCK_STEP: 'two',
    REFLOW_STOP_WHEN_BLOCKED: '1',
  })
  await a.waitFor('blocked two')
  if (existsSync('/proc')) await until(() => processState(a.pid) === 'T', 'worker A to be stopped')

  const b = Worker.spawn('worker B', 'fault-worker.ts', [dbPath, logPath, 'none'])
  await b.waitFor(`done ${runId}`)
  expect(await b.exited).toEqual({ code: 0, signal: null })
  const won = snapshot(dbPath, runId!)
  expect(won.run.status).toBe('completed')

  // Resumed, A reads from the file that the lease is gone, through its first renewal or through the
  // lease check that B's writes prompt (whichever comes first), and aborts the step's signal.
  a.signal('SIGCONT')
  expect(processState(a.pid)).not.toBe('T')
  await a.waitFor('aborted LeaseLostError LEASE_LOST')
  const noticed = a.lines.findIndex((line) => line === 'heartbeat false' || line === 'leases lost')
  expect(noticed).toBeGreaterThan(-1)
  expect(noticed).toBeLessThan(a.lines.indexOf('aborted LeaseLostError LEASE_LOST'))
  a.send('release')
  a.send('stop')
  expect(await a.exited).toEqual({ code: 0, signal: null })

  expect([...a.marked('error'), ...b.marked('error')]).toEqual([])
  // The interrupted step was not recorded by A, and A wrote nothing once it lost the lease.
  expect(a.lines.filter((line) => /^(save|finish|status) /.test(line))).toEqual(['save one true'])
  expect(snapshot(dbPath, runId!)).toEqual(won)
  const two = JSON.parse(won.steps.find((s) => s.name === 'two')!.output_json!) as StepOutput
  expect(two.pid).toBe(b.pid)
  expect(readExecutions(logPath).map((e) => [e.step, e.pid])).toEqual([
    ['one', a.pid],
    ['two', a.pid],
    ['two', b.pid],
    ['three', b.pid],
  ])
}, 30_000)

test('a worker frozen longer than its lease, with slots to spare, never takes its own run over: one execution of the step', async () => {
  const { dbPath, logPath } = files
  const [runId] = await enqueue(dbPath, faultWorkflow(neverExecuted), ['run-1'])

  const a = Worker.spawn('worker A', 'fault-worker.ts', [dbPath, logPath, 'none'], {
    REFLOW_BLOCK_STEP: 'two',
    REFLOW_STOP_WHEN_BLOCKED: '1',
    REFLOW_CONCURRENCY: '4',
  })
  await a.waitFor('blocked two')
  if (existsSync('/proc')) await until(() => processState(a.pid) === 'T', 'worker A to be stopped')
  // Frozen until its lease has expired in the file: on waking, its poll finds its own run expired.
  await until(() => inspect(dbPath, (db) => Number(db.run(runId!)!.available_at_ms) < Date.now() - 100), 'the lease to expire')

  a.signal('SIGCONT')
  // It renews its own lease before it judges anyone's: the renewal succeeds (nobody took the run).
  expect(await a.waitFor('heartbeat')).toBe('heartbeat true')
  a.send('release')
  await a.waitFor(`done ${runId}`)
  expect(await a.exited).toEqual({ code: 0, signal: null })

  expect(a.marked('error')).toEqual([])
  expect(a.marked('aborted')).toEqual([])
  expect(a.lines.filter((line) => line.startsWith(`claimed ${runId}`))).toHaveLength(1)
  expect(readExecutions(logPath).map((e) => e.step)).toEqual(['one', 'two', 'three'])
  expect(inspect(dbPath, (db) => db.run(runId!)!.status)).toBe('completed')
}, 30_000)
