/**
 * Crash recovery of waiting runs: a worker process is SIGKILLed while its run sleeps or waits for
 * an event; the time passes, or this process (which never starts an engine) emits the event, and a
 * fresh worker finishes the run. The side-effect log shows the step before the wait ran once.
 */

import { Database } from 'bun:sqlite'
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { createEngine } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { released, SLEEP_MS, waitWorkflows } from './fixtures/child.ts'
import { enqueue, inspect, killLiveWorkers, readExecutions, scratch, until, Worker } from './harness.ts'

const [sleeper, waiter] = waitWorkflows(() => {
  throw new Error('the test process must not execute steps')
})

let files: ReturnType<typeof scratch>

beforeEach(() => {
  files = scratch('waits')
})

afterEach(async () => {
  await killLiveWorkers()
  files.remove()
})

/** The run's row as the parent reads it, with its wait. */
function runRow(dbPath: string, runId: string) {
  const db = new Database(dbPath, { readonly: true })
  try {
    return db
      .query<{ status: string; lease_id: string | null; available_at_ms: number | null; wait_json: string | null }, [string]>(
        'select status, lease_id, available_at_ms, wait_json from reflow_runs where id = ?',
      )
      .get(runId)!
  } finally {
    db.close()
  }
}

describe('a worker SIGKILLed while its run waits', () => {
  test('sleeping: a fresh worker wakes the run at the recorded time; the step before ran once', async () => {
    const { dbPath, logPath } = files
    const [runId] = await enqueue(dbPath, sleeper, ['nap-1'])
    const first = Worker.spawn('worker 1', 'wait-worker.ts', [dbPath, logPath])
    await until(() => runRow(dbPath, runId!).status === 'waiting', 'the run to sleep')
    first.signal('SIGKILL')
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' })

    const parked = runRow(dbPath, runId!)
    expect(parked.lease_id).toBeNull()
    const wait = JSON.parse(parked.wait_json!) as { kind: string; until: number }
    expect(wait.kind).toBe('sleep')
    expect(parked.available_at_ms).toBe(wait.until)

    const second = Worker.spawn('worker 2', 'wait-worker.ts', [dbPath, logPath])
    await second.waitFor(`done ${runId}`)
    expect([...first.marked('error'), ...second.marked('error')]).toEqual([])
    const executions = readExecutions(logPath)
    expect(executions.map((e) => [e.step, e.pid])).toEqual([
      ['before', first.pid],
      ['after', second.pid],
    ])
    // The sleep was not restarted by the new worker, nor cut short.
    const after = executions[1]!
    expect(after.startedAt).toBeGreaterThanOrEqual(wait.until)
    expect(after.startedAt - wait.until).toBeLessThan(SLEEP_MS)
    const steps = inspect(dbPath, (db) => db.steps(runId))
    expect(steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ['before', 'completed', 1],
      ['nap', 'completed', 1],
      ['after', 'completed', 1],
    ])
    expect(runRow(dbPath, runId!).status).toBe('completed')
    second.send('stop')
    await second.waitFor('stopped')
  }, 30_000)

  test('waiting for an event: another process emits while no worker runs; a fresh worker delivers it', async () => {
    const { dbPath, logPath } = files
    const [runId] = await enqueue(dbPath, waiter, ['order-1'])
    const first = Worker.spawn('worker 1', 'wait-worker.ts', [dbPath, logPath])
    await until(() => runRow(dbPath, runId!).status === 'waiting', 'the run to wait for its event')
    first.signal('SIGKILL')
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' })
    expect(runRow(dbPath, runId!)).toMatchObject({ status: 'waiting', lease_id: null, available_at_ms: null })

    // This process never starts an engine: the emit is stored and wakes the run in one transaction.
    const storage = new SQLiteStorage(dbPath)
    try {
      const emitter = createEngine({ storage, workflows: [] })
      expect((await emitter.emit(released, { key: 'order-1', payload: { by: 'parent' } })).created).toBe(true)
    } finally {
      storage.close()
    }
    const woken = runRow(dbPath, runId!)
    expect(woken.status).toBe('waiting')
    expect(woken.available_at_ms).not.toBeNull()

    const second = Worker.spawn('worker 2', 'wait-worker.ts', [dbPath, logPath])
    await second.waitFor(`done ${runId}`)
    expect([...first.marked('error'), ...second.marked('error')]).toEqual([])
    expect(readExecutions(logPath).map((e) => [e.step, e.pid])).toEqual([
      ['before', first.pid],
      ['after', second.pid],
    ])
    const steps = inspect(dbPath, (db) => db.steps(runId))
    expect(steps.map((s) => [s.name, s.status])).toEqual([
      ['before', 'completed'],
      ['release', 'completed'],
      ['after', 'completed'],
    ])
    expect(JSON.parse(steps[1]!.output_json!)).toEqual({ by: 'parent' })
    expect(JSON.parse(steps[2]!.output_json!)).toEqual({ pid: second.pid, by: 'parent' })
    second.send('stop')
    await second.waitFor('stopped')
  }, 30_000)
})
