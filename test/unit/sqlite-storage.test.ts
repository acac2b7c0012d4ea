// What is specific to the SQLite adapter: opening and refusing files, migrations, pragmas, group
// commit, persistence and the closed state. The generic semantics are in test/contract/.

import { Database } from 'bun:sqlite'
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ManualClock } from '../../src/core/clock.ts'
import { StorageError } from '../../src/core/errors.ts'
import type { StepResult, WorkflowRun } from '../../src/core/types.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../src/storage/sqlite/migrations.ts'

let dir: string
let dbPath: string
const opened: SQLiteStorage[] = []

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'reflow-sqlite-'))
  dbPath = join(dir, 'reflow.db')
})

afterEach(() => {
  for (const storage of opened.splice(0)) storage.close()
  rmSync(dir, { recursive: true, force: true })
})

function open(path = dbPath, options?: ConstructorParameters<typeof SQLiteStorage>[1]): SQLiteStorage {
  const storage = new SQLiteStorage(path, options)
  opened.push(storage)
  return storage
}

let nextId = 0
function newRun(overrides: Partial<WorkflowRun> = {}): WorkflowRun {
  nextId++
  return {
    id: `run-${nextId}`,
    workflow: 'wf',
    input: { n: nextId },
    status: 'pending',
    idempotencyKey: null,
    createdAt: 1000 + nextId,
    updatedAt: 1000 + nextId,
    ...overrides,
  }
}

function step(runId: string, name: string, status: StepResult['status'] = 'completed'): StepResult {
  return {
    runId,
    name,
    status,
    output: status === 'completed' ? { name } : undefined,
    error: status === 'failed' ? 'boom' : null,
    attempts: 1,
    createdAt: 5,
    updatedAt: 5,
  }
}

/** Bytes of the database and its WAL (null when absent), to prove a refused file was not touched. */
function snapshot(path: string): [string | null, string | null] {
  const read = (p: string) => (existsSync(p) ? readFileSync(p).toString('base64') : null)
  return [read(path), read(`${path}-wal`)]
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (error: unknown) => error,
  )
}

describe('opening and refusing files', () => {
  test('a missing directory is a StorageError and is not created', () => {
    const missing = join(dir, 'nope', 'reflow.db')
    expect(() => new SQLiteStorage(missing)).toThrow(StorageError)
    expect(() => new SQLiteStorage(missing)).toThrow(`directory "${join(dir, 'nope')}" does not exist`)
    expect(existsSync(join(dir, 'nope'))).toBe(false)
  })

  test('a file that is not SQLite is refused and left byte for byte unchanged', async () => {
    writeFileSync(dbPath, 'hello world')
    const storage = open()
    const error = await rejection(storage.initialize())
    expect(error).toBeInstanceOf(StorageError)
    expect((error as Error).message).toBe(`"${dbPath}" is not a SQLite database`)
    // Every later call fails the same way.
    expect(await rejection(storage.getRun('x'))).toBe(error)
    expect(await rejection(storage.createRun(newRun()))).toBe(error)
    storage.close()
    expect(readFileSync(dbPath, 'utf8')).toBe('hello world')
    expect(existsSync(`${dbPath}-wal`)).toBe(false)
  })

  test('a schema version newer than this code is refused, file and WAL untouched', async () => {
    const first = open()
    await first.createRun(newRun())
    first.close()
    // Rollback-journal mode, so that even the WAL pragma would visibly change the file header.
    const raw = new Database(dbPath)
    raw.run('pragma journal_mode = delete')
    raw.run('insert into reflow_migrations (version, applied_at_ms) values (999, 0)')
    raw.close(true)
    const before = snapshot(dbPath)

    const storage = open()
    const error = await rejection(storage.initialize())
    expect(error).toBeInstanceOf(StorageError)
    expect((error as Error).message).toContain('schema version 999')
    expect((error as Error).message).toContain(`supports up to ${LATEST_SCHEMA_VERSION}`)
    expect((error as Error).message).toContain('upgrade reflow-ts')
    storage.close()
    expect(snapshot(dbPath)).toEqual(before)
  })

  test('readonly: a missing file is an error and is not created', () => {
    expect(() => new SQLiteStorage(dbPath, { readonly: true })).toThrow(`Database "${dbPath}" does not exist`)
    expect(existsSync(dbPath)).toBe(false)
  })

  test('readonly: a SQLite file without the reflow schema is refused', async () => {
    const raw = new Database(dbPath)
    raw.run('create table other (x)')
    raw.close(true)
    const error = await rejection(open(dbPath, { readonly: true }).initialize())
    expect((error as Error).message).toBe(`"${dbPath}" has no reflow tables (another application's database, or one no reflow engine has used yet)`)
  })

  test('readonly: reads a reflow database and rejects writes', async () => {
    const writer = open()
    const run = newRun()
    await writer.createRun(run)
    const reader = open(dbPath, { readonly: true })
    expect((await reader.getRun(run.id))?.input).toEqual(run.input)
    const error = await rejection(reader.createRun(newRun()))
    expect(error).toBeInstanceOf(StorageError)
    expect((error as Error).message).toContain('readonly')
  })

  test('bad options name the value and what was expected', () => {
    expect(() => new SQLiteStorage(dbPath, { synchronous: 'off' as 'full' })).toThrow(
      'synchronous must be "normal" or "full", got "off"',
    )
    expect(() => new SQLiteStorage(dbPath, { busyTimeoutMs: -1 })).toThrow('got -1')
  })
})

describe('schema and pragmas', () => {
  test('initialize records the schema version once and is idempotent', async () => {
    const storage = open()
    await storage.initialize()
    await storage.initialize()
    await open().initialize()
    const raw = new Database(dbPath, { readonly: true })
    // Each migration recorded exactly once, up to the latest.
    expect(raw.query('select version from reflow_migrations order by version').all()).toEqual(MIGRATIONS.map((m) => ({ version: m.version })))
    expect(MIGRATIONS.at(-1)!.version).toBe(LATEST_SCHEMA_VERSION)
    raw.close(true)
  })

  test('the file is in WAL mode', async () => {
    await open().initialize()
    const raw = new Database(dbPath, { readonly: true })
    expect(raw.query('pragma journal_mode').get()).toEqual({ journal_mode: 'wal' })
    raw.close(true)
  })

  test('synchronous defaults to normal and "full" is applied', async () => {
    const normal = open()
    const full = open(join(dir, 'full.db'), { synchronous: 'full' })
    await normal.initialize()
    await full.initialize()
    const synchronous = (storage: SQLiteStorage) => storage.withStatements('pragma', 'read', (stmt) => stmt('pragma synchronous').get())
    expect(await synchronous(normal)).toEqual({ synchronous: 1 })
    expect(await synchronous(full)).toEqual({ synchronous: 2 })
  })

  test('several instances initialise one new file at once', async () => {
    const storages = [open(), open(), open()]
    await Promise.all(storages.map((s) => s.initialize()))
    expect(await storages[2]!.getRun('none')).toBeNull()
  })

  test('several processes initialise one new file at once', async () => {
    const entry = join(import.meta.dir, '../../src/sqlite-bun.ts')
    const script = `const { SQLiteStorage } = await import(${JSON.stringify(entry)});
      const s = new SQLiteStorage(process.argv[1]); await s.initialize();
      await s.createRun({ id: crypto.randomUUID(), workflow: 'wf', input: 1, status: 'pending', idempotencyKey: null, createdAt: 1, updatedAt: 1 });
      s.close(); console.log('ok')`
    const children = Array.from({ length: 4 }, () =>
      Bun.spawn([process.execPath, '-e', script, dbPath], { stdout: 'pipe', stderr: 'pipe' }),
    )
    const outputs = await Promise.all(
      children.map(async (child) => {
        await child.exited
        return `${await new Response(child.stdout).text()}${await new Response(child.stderr).text()}`.trim()
      }),
    )
    expect(outputs).toEqual(['ok', 'ok', 'ok', 'ok'])
    const raw = new Database(dbPath, { readonly: true })
    expect(raw.query('select count(*) as n from reflow_runs').get()).toEqual({ n: 4 })
    expect(raw.query('select count(*) as n from reflow_migrations').get()).toEqual({ n: MIGRATIONS.length })
    raw.close(true)
  })
})

describe('group commit', () => {
  test('writes issued in one turn commit in one transaction', async () => {
    const storage = open()
    await storage.initialize()
    const before = storage.transactionCount
    const runs = Array.from({ length: 25 }, () => newRun())
    const results = await Promise.all([
      ...runs.map((run) => storage.createRun(run)),
      ...runs.map((run) => storage.saveStepResult(step(run.id, 'a'))),
    ])
    expect(storage.transactionCount - before).toBe(1)
    expect(results.slice(25)).toEqual(Array(25).fill(true))
    expect(await storage.getStepResults(runs[24]!.id)).toHaveLength(1)
  })

  test('a failing write rejects alone; the rest of its batch commits', async () => {
    const storage = open()
    const taken = newRun()
    await storage.createRun(taken)
    const before = storage.transactionCount
    const good = [newRun(), newRun(), newRun()]
    const settled = await Promise.allSettled([
      storage.createRun(good[0]!),
      storage.createRun({ ...newRun(), id: taken.id }),
      storage.createRun(good[1]!),
      storage.createRun(good[2]!),
    ])
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
    const reason = (settled[1] as PromiseRejectedResult).reason
    expect(reason).toBeInstanceOf(StorageError)
    expect(reason.message).toContain(`Creating run ${taken.id} failed`)
    expect(reason.message).toContain('UNIQUE constraint failed')
    // The batch was rolled back once and committed without the failing write.
    expect(storage.transactionCount - before).toBe(1)
    for (const run of good) expect((await storage.getRun(run.id))?.id).toBe(run.id)
  })

  test('nothing is acknowledged before its commit: close flushes queued writes first', async () => {
    const storage = open()
    const run = newRun()
    const created = storage.createRun(run)
    storage.close()
    expect((await created).created).toBe(true)
    expect((await open().getRun(run.id))?.id).toBe(run.id)
  })
})

describe('lifecycle', () => {
  test('data persists across close and reopen', async () => {
    const clock = new ManualClock(10_000)
    const first = open(dbPath, { clock })
    const run = newRun({ input: { deep: [1, 'two', { three: null }] }, idempotencyKey: 'k' })
    await first.createRun(run)
    const claimed = await first.claimNextRun(['wf'])
    expect(await first.saveStepResult(step(run.id, 'a'), claimed!.leaseId)).toBe(true)
    first.close()

    const second = open(dbPath, { clock })
    expect(await second.getRun(run.id)).toEqual({ ...run, status: 'running', updatedAt: 10_000 })
    expect(await second.getStepResults(run.id)).toEqual([step(run.id, 'a')])
    expect((await second.createRun({ ...newRun(), idempotencyKey: 'k' })).created).toBe(false)
  })

  test('a stale run is reclaimed with its steps attached', async () => {
    const clock = new ManualClock(10_000)
    const storage = open(dbPath, { clock })
    const run = newRun()
    await storage.createRun(run)
    const first = await storage.claimNextRun(['wf'])
    await storage.saveStepResult(step(run.id, 'a'), first!.leaseId)
    expect(await storage.claimNextRun(['wf'], 10_000)).toBeNull()
    await clock.advance(5_000)
    const again = await storage.claimNextRun(['wf'], 12_000)
    expect(again?.leaseId).not.toBe(first!.leaseId)
    expect(again?.steps).toEqual([step(run.id, 'a')])
    expect(await storage.heartbeatRun(run.id, first!.leaseId)).toBe(false)
  })

  test('retryRun keeps completed steps and deletes failed ones', async () => {
    const storage = open()
    const run = newRun()
    await storage.createRun(run)
    const claimed = await storage.claimNextRun(['wf'])
    await storage.saveStepResult(step(run.id, 'a'), claimed!.leaseId)
    expect(await storage.saveStepResult(step(run.id, 'b', 'failed'), claimed!.leaseId)).toBe(true)
    expect(await storage.updateClaimedRunStatus(run.id, claimed!.leaseId, 'failed')).toBe(true)
    expect((await storage.getStepResults(run.id)).map((s) => s.status)).toEqual(['completed', 'failed'])

    expect(await storage.retryRun(run.id)).toBe(true)
    expect((await storage.getRun(run.id))?.status).toBe('pending')
    expect((await storage.getStepResults(run.id)).map((s) => s.name)).toEqual(['a'])
    expect(await storage.retryRun(run.id)).toBe(false)
  })

  test('after close every call fails with a StorageError naming the file', async () => {
    const storage = open()
    await storage.initialize()
    storage.close()
    storage.close()
    for (const call of [storage.getRun('x'), storage.createRun(newRun()), storage.initialize()]) {
      const error = await rejection(call)
      expect(error).toBeInstanceOf(StorageError)
      expect((error as Error).message).toBe(`SQLite storage "${dbPath}" is closed`)
    }
  })
})
