/**
 * The compiled `reflow` binary's read-only commands (runs, show, stats): their --json shapes, human
 * output, errors and exit codes, against a database made by the library.
 */

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync, statSync, writeFileSync, existsSync } from 'node:fs'
import path from 'node:path'
import { Database } from 'bun:sqlite'
import { populate, type Fixture } from './fixture.ts'
import { cleanEnv, cli, cliJson, reflowBinary, removeTempDirs, tempDir } from './helpers.ts'

let dir: string
let db: string
let ids: Fixture

beforeAll(async () => {
  dir = tempDir()
  db = path.join(dir, 'reflow.db')
  ids = await populate(db)
  await reflowBinary()
}, 60_000)
afterAll(removeTempDirs)

const STATUSES = ['pending', 'running', 'waiting', 'completed', 'failed', 'cancelled']

describe('runs', () => {
  test('--json lists every run newest first with its failed or last step', async () => {
    const runs = await cliJson<any[]>(['runs', '--db', db])
    expect(runs).toHaveLength(6)
    const created = runs.map((r) => r.createdAt)
    expect(created).toEqual([...created].sort((a, b) => b - a))
    const byId = new Map(runs.map((r) => [r.id, r]))
    expect(byId.get(ids.oldFailed)).toEqual({
      id: ids.oldFailed,
      workflow: 'charge',
      status: 'failed',
      step: { name: 'charge', status: 'failed', attempts: 2 },
      error: 'card declined',
      stepsRecorded: 2,
      createdAt: expect.any(Number),
      updatedAt: expect.any(Number),
      startedAt: expect.any(Number),
      finishedAt: expect.any(Number),
      durationMs: expect.any(Number),
    })
    expect(byId.get(ids.oldCompleted)).toMatchObject({ status: 'completed', step: { name: 'essay', status: 'completed', attempts: 1 } })
    expect(byId.get(ids.oldCompleted)!.durationMs).toBe(1_750)
    expect(byId.get(ids.oldCompleted)!.error).toBeNull()
    expect(byId.get(ids.pending)).toMatchObject({ status: 'pending', step: null, stepsRecorded: 0, startedAt: null, durationMs: null })
    expect(byId.get(ids.running)).toMatchObject({ status: 'running', finishedAt: null, durationMs: null })
  })

  test('--status (a list), --workflow and --limit filter', async () => {
    const failed = await cliJson<any[]>(['runs', '--db', db, '--status', 'failed'])
    expect(failed.map((r) => r.id)).toEqual([ids.oldFailed])
    const several = await cliJson<any[]>(['runs', '--db', db, '--status', 'pending,running'])
    expect(several.map((r) => r.id).sort()).toEqual([ids.pending, ids.running].sort())
    const charge = await cliJson<any[]>(['runs', '--db', db, '--workflow', 'charge'])
    expect(charge.map((r) => r.workflow)).toEqual(['charge', 'charge'])
    const all = await cliJson<any[]>(['runs', '--db', db])
    const two = await cliJson<any[]>(['runs', '--db', db, '--limit', '2'])
    expect(two).toEqual(all.slice(0, 2))
  })

  test('prints aligned columns, relative ages and durations, no colour when piped', async () => {
    const { code, stdout, stderr } = await cli(['runs', '--db', db])
    expect(code).toBe(0)
    expect(stderr).toBe('')
    expect(stdout).not.toContain('\x1b[')
    const [header, ...rows] = stdout.trimEnd().split('\n')
    expect(header!.split(/\s{2,}/)).toEqual(['ID', 'WORKFLOW', 'STATUS', 'STEP', 'ATTEMPTS', 'AGE', 'DURATION', 'ERROR'])
    expect(rows).toHaveLength(6)
    for (const column of ['WORKFLOW', 'STATUS', 'STEP', 'AGE']) {
      const at = header!.indexOf(column)
      for (const row of rows) expect(row[at - 1]).toBe(' ')
      for (const row of rows) expect(row[at]).not.toBe(' ')
    }
    const failed = rows.find((row) => row.startsWith(ids.oldFailed))!
    expect(failed.split(/\s{2,}/)).toEqual([ids.oldFailed, 'charge', 'failed', 'charge', '2', '10d ago', '1ms', 'card declined'])
    const recent = rows.find((row) => row.startsWith(ids.recentCompleted))!
    expect(recent).toContain('30m ago')
    expect(recent).toContain('1.8s')
  })

  test('an empty database says so', async () => {
    const empty = path.join(tempDir(), 'empty.db')
    const storage = new (await import('../../src/sqlite-bun.ts')).SQLiteStorage(empty)
    await storage.initialize()
    storage.close()
    expect((await cli(['runs', '--db', empty])).stdout).toBe('No runs.\n')
    expect(await cliJson(['runs', '--db', empty])).toEqual([])
  })

  test('usage errors exit 2 with a usage line', async () => {
    for (const args of [['runs', '--status', 'bogus'], ['runs', '--limit', '0'], ['runs', '--limit'], ['runs', 'extra'], ['runs', '--nope']]) {
      const { code, stdout, stderr } = await cli([...args, '--db', db])
      expect(code).toBe(2)
      expect(stdout).toBe('')
      expect(stderr).toMatch(/^reflow: runs: .+\nusage: reflow runs /)
    }
  })
})

describe('show', () => {
  test('--json gives the run and its full step timeline', async () => {
    const shown = await cliJson<any>(['show', ids.oldCompleted, '--db', db])
    expect(Object.keys(shown)).toEqual(['run', 'steps', 'attempts'])
    expect(shown.run).toEqual({
      id: ids.oldCompleted,
      workflow: 'greet',
      status: 'completed',
      input: { name: 'ada' },
      idempotencyKey: null,
      availableAt: null,
      currentStep: null,
      attempt: 0,
      interruptions: 0,
      wait: null,
      schedule: null,
      leaseId: null,
      leaseOwner: expect.stringMatching(/^pid \d+ on /),
      heartbeatAt: expect.any(Number),
      createdAt: expect.any(Number),
      updatedAt: expect.any(Number),
      startedAt: expect.any(Number),
      finishedAt: expect.any(Number),
      durationMs: 1_750,
    })
    expect(shown.attempts).toEqual([])
    expect(shown.steps).toEqual([
      { seq: 1, name: 'hello', status: 'completed', output: { greeting: 'hello ada' }, error: null, attempts: 1, createdAt: expect.any(Number), updatedAt: expect.any(Number), durationMs: 1_500 },
      { seq: 2, name: 'essay', status: 'completed', output: { text: 'x'.repeat(300) }, error: null, attempts: 1, createdAt: expect.any(Number), updatedAt: expect.any(Number), durationMs: 250 },
    ])
    const failed = await cliJson<any>(['show', ids.oldFailed, '--db', db])
    expect(failed.steps.map((s: any) => [s.name, s.status, s.attempts, s.error])).toEqual([
      ['reserve', 'completed', 1, null],
      ['charge', 'failed', 2, 'card declined'],
    ])
    expect(failed.run).toMatchObject({ status: 'failed', currentStep: 'charge' })
    expect(failed.attempts.map((a: any) => [a.stepName, a.attempt, a.status, a.errorMessage])).toEqual([
      ['charge', 1, 'failed', 'card declined'],
      ['charge', 2, 'failed', 'card declined'],
    ])
    expect('output' in failed.steps[1]).toBe(false)
    const pending = await cliJson<any>(['show', ids.pending, '--db', db])
    expect(pending.run).toMatchObject({ status: 'pending', idempotencyKey: 'dee-1', startedAt: null })
    expect(pending.steps).toEqual([])
  })

  test('human output truncates outputs unless --full, and shows errors', async () => {
    const short = await cli(['show', ids.oldCompleted, '--db', db])
    expect(short.code).toBe(0)
    expect(short.stdout).toContain(`Run ${ids.oldCompleted}`)
    expect(short.stdout).toMatch(/1\. hello\s+completed\s+1 attempt\s+1\.5s/)
    expect(short.stdout).toContain('output: {greeting: "hello ada"}')
    expect(short.stdout).toContain('…')
    expect(short.stdout).not.toContain('x'.repeat(300))
    const full = await cli(['show', ids.oldCompleted, '--db', db, '--full'])
    expect(full.stdout).toContain('x'.repeat(300))
    const failed = await cli(['show', ids.oldFailed, '--db', db])
    expect(failed.stdout).toMatch(/2\. charge\s+failed\s+2 attempts/)
    expect(failed.stdout).toContain('error:  card declined')
    expect(failed.stdout).toContain('Failed attempts')
    expect(failed.stdout).toMatch(/charge #1\s+failed\s+\S+ \(10d ago\)\n\s+Error: card declined/)
    expect(failed.stdout).toMatch(/charge #2\s+failed/)
  })

  test('an unknown run id fails with one line, exit 1', async () => {
    const { code, stdout, stderr } = await cli(['show', 'no-such-run', '--db', db])
    expect(code).toBe(1)
    expect(stdout).toBe('')
    expect(stderr).toBe(`reflow: no run no-such-run in ${db}\n`)
  })

  test('a missing RUN_ID is a usage error', async () => {
    const { code, stderr } = await cli(['show', '--db', db])
    expect(code).toBe(2)
    expect(stderr).toBe('reflow: show: missing RUN_ID\nusage: reflow show RUN_ID [--full] [--db PATH] [--json]\n')
  })
})

describe('stats', () => {
  test('--json counts by workflow and status, the oldest pending run and recent completions', async () => {
    const stats = await cliJson<any>(['stats', '--db', db])
    expect(stats).toEqual({
      total: 6,
      byStatus: { pending: 1, running: 1, waiting: 0, completed: 2, failed: 1, cancelled: 1 },
      workflows: [
        { workflow: 'charge', total: 2, byStatus: { pending: 0, running: 1, waiting: 0, completed: 0, failed: 1, cancelled: 0 } },
        { workflow: 'greet', total: 4, byStatus: { pending: 1, running: 0, waiting: 0, completed: 2, failed: 0, cancelled: 1 } },
      ],
      oldestPending: { id: ids.pending, workflow: 'greet', createdAt: expect.any(Number), ageMs: expect.any(Number) },
      completedLastMinute: 0,
      completedLastHour: 1,
    })
    expect(Object.keys(stats.byStatus)).toEqual(STATUSES)
    expect(stats.oldestPending.ageMs).toBeGreaterThan(9 * 86_400_000)
  })

  test('human output: a table with totals and the queue', async () => {
    const { code, stdout } = await cli(['stats', '--db', db])
    expect(code).toBe(0)
    const lines = stdout.split('\n')
    expect(lines[0]!.split(/\s+/)).toEqual(['WORKFLOW', 'PENDING', 'RUNNING', 'WAITING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TOTAL'])
    expect(lines[2]!.split(/\s+/)).toEqual(['greet', '1', '0', '0', '2', '0', '1', '4'])
    expect(lines[3]!.split(/\s+/)).toEqual(['(all)', '1', '1', '0', '2', '1', '1', '6'])
    expect(stdout).toContain(`Oldest pending: 10d ago (run ${ids.pending}, greet)`)
    expect(stdout).toContain('0 in the last minute, 1 in the last hour')
  })
})

describe('database errors', () => {
  test('a missing database: one line, exit 1, and no file is created', async () => {
    const missing = path.join(tempDir(), 'missing.db')
    for (const args of [['runs'], ['show', 'x'], ['stats'], ['cancel', 'x'], ['retry', 'x'], ['purge', '--older-than', '1d']]) {
      const { code, stdout, stderr } = await cli([...args, '--db', missing])
      expect(code).toBe(1)
      expect(stdout).toBe('')
      expect(stderr).toBe(`reflow: no database at ${missing} (pass --db PATH or set REFLOW_DB)\n`)
    }
    expect(existsSync(missing)).toBe(false)
  })

  test('REFLOW_DB is the default, then ./reflow.db in the working directory', async () => {
    const viaEnv = await cliJson<any[]>(['runs'], { env: cleanEnv({ REFLOW_DB: db }) })
    expect(viaEnv).toHaveLength(6)
    const viaCwd = await cliJson<any[]>(['runs'], { cwd: dir })
    expect(viaCwd).toHaveLength(6)
    const flagWins = await cli(['runs', '--db', path.join(dir, 'nope.db')], { env: cleanEnv({ REFLOW_DB: db }) })
    expect(flagWins.code).toBe(1)
  })

  test('a file that is not a reflow database is refused and left untouched, by readers and writers', async () => {
    const other = path.join(tempDir(), 'app.db')
    const sqlite = new Database(other)
    sqlite.run('create table users (id integer primary key, name text)')
    sqlite.close()
    const text = path.join(tempDir(), 'notes.db')
    writeFileSync(text, 'these are not the droids you are looking for, not a database at all'.repeat(20))
    for (const [file, message] of [[other, "has no reflow tables (another application's database, or one no reflow engine has used yet)"], [text, 'is not a SQLite database']] as const) {
      const before = readFileSync(file)
      for (const args of [['runs'], ['stats'], ['show', 'x'], ['cancel', 'x'], ['retry', 'x'], ['purge', '--older-than', '1s']]) {
        const { code, stderr } = await cli([...args, '--db', file])
        expect(code).toBe(1)
        expect(stderr).toBe(`reflow: "${file}" ${message}\n`)
      }
      expect(readFileSync(file).equals(before)).toBe(true)
    }
  })

  test('read-only commands leave the database file unchanged', async () => {
    const before = readFileSync(db)
    const mtime = statSync(db).mtimeMs
    await cli(['runs', '--db', db])
    await cli(['show', ids.oldCompleted, '--db', db])
    await cli(['stats', '--db', db])
    expect(readFileSync(db).equals(before)).toBe(true)
    expect(statSync(db).mtimeMs).toBe(mtime)
  })
})
