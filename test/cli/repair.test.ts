/**
 * The compiled `reflow` binary's writing commands (cancel, retry, purge): their effect on the
 * database as the library sees it, their --json shapes, errors and exit codes. Each test works on its
 * own copy of one populated database.
 */

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync } from 'node:fs'
import path from 'node:path'
import { Database } from 'bun:sqlite'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { createInspector } from '../../src/inspect/inspector.ts'
import { STORE, type FinishedStatus } from '../../src/storage/store.ts'
import { populate, type Fixture } from './fixture.ts'
import { cli, cliJson, reflowBinary, removeTempDirs, tempDir } from './helpers.ts'

let master: string
let ids: Fixture

beforeAll(async () => {
  master = path.join(tempDir(), 'master.db')
  ids = await populate(master)
  await reflowBinary()
}, 60_000)
afterAll(removeTempDirs)

function copy(): string {
  const file = path.join(tempDir(), 'reflow.db')
  copyFileSync(master, file)
  return file
}

async function read(file: string) {
  const storage = new SQLiteStorage(file, { readonly: true })
  const statuses = new Map<string, string>()
  for (const id of Object.values(ids)) {
    const run = await storage.getRun(id)
    if (run) statuses.set(id, run.status)
  }
  const stepsOf = async (id: string) => (await storage.getStepResults(id)).map((s) => `${s.name}:${s.status}`)
  const steps = new Map(await Promise.all(Object.values(ids).map(async (id) => [id, await stepsOf(id)] as const)))
  const sqlite = new Database(file, { readonly: true })
  const orphans = sqlite.query('select count(*) as n from reflow_steps where run_id not in (select id from reflow_runs)').get() as { n: number }
  sqlite.close()
  storage.close()
  return { statuses, steps, orphans: orphans.n }
}

describe('cancel', () => {
  test('cancels a pending and a running run, like engine.cancel', async () => {
    const db = copy()
    expect(await cliJson(['cancel', ids.pending, '--db', db])).toEqual({
      id: ids.pending, workflow: 'greet', status: 'cancelled', previousStatus: 'pending',
    })
    const human = await cli(['cancel', ids.running, '--db', db])
    expect(human).toEqual({ code: 0, stdout: `Cancelled run ${ids.running} (charge, was running).\n`, stderr: '' })
    const { statuses } = await read(db)
    expect(statuses.get(ids.pending)).toBe('cancelled')
    expect(statuses.get(ids.running)).toBe('cancelled')
  })

  test('a finished run or an unknown id: one line, exit 1, nothing changes', async () => {
    const db = copy()
    const finished = await cli(['cancel', ids.oldCompleted, '--db', db])
    expect(finished).toEqual({
      code: 1, stdout: '', stderr: `reflow: run ${ids.oldCompleted} is completed; only pending, waiting or running runs can be cancelled\n`,
    })
    const unknown = await cli(['cancel', 'nope', '--db', db])
    expect(unknown).toEqual({ code: 1, stdout: '', stderr: `reflow: no run nope in ${db}\n` })
    expect((await read(db)).statuses.get(ids.oldCompleted)).toBe('completed')
    expect((await cli(['cancel', '--db', db])).code).toBe(2)
    expect((await cli(['cancel', 'a', 'b', '--db', db])).code).toBe(2)
  })
})

describe('retry', () => {
  test('a failed run goes back to pending, keeping its completed steps and dropping the failed one', async () => {
    const db = copy()
    expect(await cliJson(['retry', ids.oldFailed, '--db', db])).toEqual({
      id: ids.oldFailed, workflow: 'charge', status: 'pending', previousStatus: 'failed', keptSteps: ['reserve'],
    })
    const { statuses, steps } = await read(db)
    expect(statuses.get(ids.oldFailed)).toBe('pending')
    expect(steps.get(ids.oldFailed)).toEqual(['reserve:completed'])
    const shown = await cliJson<any>(['show', ids.oldFailed, '--db', db])
    expect(shown.run).toMatchObject({ status: 'pending', finishedAt: null, leaseId: null })
  })

  test('a cancelled run can be retried; a pending, running or completed one cannot (exit 1)', async () => {
    const db = copy()
    const human = await cli(['retry', ids.cancelled, '--db', db])
    expect(human.code).toBe(0)
    expect(human.stdout).toBe(`Run ${ids.cancelled} (greet) is pending again (no steps recorded); a worker will resume it.\n`)
    for (const [id, status] of [[ids.pending, 'pending'], [ids.running, 'running'], [ids.oldCompleted, 'completed']] as const) {
      const result = await cli(['retry', id, '--db', db])
      expect(result).toEqual({ code: 1, stdout: '', stderr: `reflow: run ${id} is ${status}; only failed or cancelled runs can be retried\n` })
    }
    expect((await cli(['retry', 'nope', '--db', db])).stderr).toBe(`reflow: no run nope in ${db}\n`)
  })

  test('--from STEP re-runs that recorded step and the ones after it, keeping the steps before it', async () => {
    const db = copy()
    const unknown = await cli(['retry', ids.oldFailed, '--from', 'ship', '--db', db])
    expect(unknown).toEqual({ code: 1, stdout: '', stderr: `reflow: run ${ids.oldFailed} recorded no step "ship" (its recorded steps: "reserve", "charge")\n` })
    expect((await read(db)).statuses.get(ids.oldFailed)).toBe('failed')
    expect(await cliJson(['retry', ids.oldFailed, '--from', 'reserve', '--db', db])).toEqual({
      id: ids.oldFailed, workflow: 'charge', status: 'pending', previousStatus: 'failed', keptSteps: [],
    })
    const shown = await cliJson<any>(['show', ids.oldFailed, '--db', db])
    expect(shown.run).toMatchObject({ status: 'pending', currentStep: 'reserve' })
    expect(shown.attempts.length).toBeGreaterThan(0)
  })
})

describe('purge', () => {
  test('--dry-run reports what would go and removes nothing', async () => {
    const db = copy()
    const report = await cliJson(['purge', '--older-than', '1d', '--dry-run', '--db', db])
    expect(report).toEqual({
      dryRun: true,
      finishedBefore: expect.any(Number),
      statuses: ['completed', 'failed', 'cancelled'],
      runs: 2,
      steps: 4,
      removed: [
        { workflow: 'charge', status: 'failed', runs: 1, steps: 2 },
        { workflow: 'greet', status: 'completed', runs: 1, steps: 2 },
      ],
    })
    expect((await read(db)).statuses.size).toBe(6)
    const human = await cli(['purge', '--older-than', '1d', '--dry-run', '--db', db])
    expect(human.stdout).toMatch(/^Would remove 2 runs and 4 steps \(completed, failed, cancelled, finished before \S+ \(1d ago\)\):\n/)
  })

  test('removes finished runs older than the cutoff with their steps, in the given statuses only', async () => {
    const db = copy()
    const failedOnly = await cliJson<any>(['purge', '--older-than', '7d', '--status', 'failed', '--db', db])
    expect(failedOnly).toMatchObject({ dryRun: false, statuses: ['failed'], runs: 1, steps: 2 })
    let state = await read(db)
    expect(state.statuses.has(ids.oldFailed)).toBe(false)
    expect(state.statuses.has(ids.oldCompleted)).toBe(true)
    expect(state.orphans).toBe(0)

    const human = await cli(['purge', '--older-than', '7d', '--db', db])
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/^Removed 1 run and 2 steps \(completed, failed, cancelled, finished before .+\):\n/)
    expect(human.stdout).toMatch(/greet\s+completed\s+1\s+2/)
    state = await read(db)
    expect([...state.statuses.keys()].sort()).toEqual([ids.recentCompleted, ids.cancelled, ids.pending, ids.running].sort())
    expect(state.steps.get(ids.oldCompleted)).toEqual([])
    expect(state.orphans).toBe(0)
    expect((await cli(['purge', '--older-than', '7d', '--db', db])).stdout).toStartWith('Nothing to purge: ')
  })

  test('never removes pending or running runs, however old', async () => {
    const db = copy()
    const result = await cliJson<any>(['purge', '--older-than', '1s', '--db', db])
    expect(result.runs).toBe(4)
    expect(Object.fromEntries((await read(db)).statuses)).toEqual({ [ids.pending]: 'pending', [ids.running]: 'running' })
    const refused = await cli(['purge', '--older-than', '1s', '--status', 'pending', '--db', db])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toStartWith('reflow: purge: purge never removes pending, running or waiting runs\n')
  })

  test('the status guard is in the SQL itself, and the library refuses non-finished statuses', async () => {
    const db = copy()
    const sqlite = new Database(db)
    // Even a pending or running run carrying a finish time (which the library never writes) stays.
    sqlite.run("update reflow_runs set finished_at_ms = 1 where status in ('pending', 'running')")
    sqlite.close()
    const everything = ['pending', 'running', 'completed', 'failed', 'cancelled'] as unknown as FinishedStatus[]
    const future = Date.now() + 86_400_000
    const storage = new SQLiteStorage(db)
    const { runs } = await storage[STORE]().purgeFinished!({ statuses: everything, finishedBefore: future, limit: 100 })
    expect(runs).toBe(4)
    const left = new Database(db)
    expect(left.query('select status from reflow_runs order by status').all()).toEqual([{ status: 'pending' }, { status: 'running' }])
    left.close()
    const inspector = createInspector(storage[STORE]())
    await expect(inspector.purge({ finishedBefore: future, statuses: ['running'], dryRun: false })).rejects.toThrow(/purge statuses must be among/)
    storage.close()
  })

  test('usage errors: missing or malformed --older-than, unknown status', async () => {
    const db = copy()
    for (const args of [['purge'], ['purge', '--older-than', '7'], ['purge', '--older-than', '3y'], ['purge', '--older-than', '1d', '--status', 'done']]) {
      const { code, stderr } = await cli([...args, '--db', db])
      expect(code).toBe(2)
      expect(stderr).toContain('usage: reflow purge --older-than DURATION')
    }
    expect((await read(db)).statuses.size).toBe(6)
  })
})

describe('vacuum', () => {
  test('after a purge, vacuum rewrites the file without its free pages', async () => {
    const db = copy()
    const sqlite = new Database(db)
    sqlite.run("update reflow_steps set output_json = printf('%.*c', 200000, 'x') where run_id in (select id from reflow_runs where status = 'completed')")
    sqlite.close()
    expect((await cliJson<any>(['purge', '--older-than', '1s', '--status', 'completed', '--db', db])).runs).toBe(2)
    const result = await cliJson<any>(['vacuum', '--db', db])
    expect(result.before.free).toBeGreaterThan(200_000)
    expect(result.after.free).toBe(0)
    expect(result.after.bytes).toBeLessThan(result.before.bytes)
    expect((await read(db)).statuses.size).toBe(4)
    expect((await cli(['vacuum', '--db', db])).stdout).toMatch(/^Vacuumed: [\d.]+ MB → [\d.]+ MB \([\d.]+ MB was free\)\.\n$/)
  })
})
