/**
 * A database written by an older reflow-ts (schema version 1) is read as it is by the read-only
 * commands, never migrated by them; a writing command migrates it and keeps every run.
 */

import { Database } from 'bun:sqlite'
import { afterAll, expect, test } from 'bun:test'
import path from 'node:path'
import { MIGRATIONS } from '../../src/storage/sqlite/migrations.ts'
import { cli, cliJson, removeTempDirs, tempDir } from './helpers.ts'

afterAll(removeTempDirs)

function versionOne(file: string): void {
  const db = new Database(file, { create: true })
  db.run('pragma journal_mode = wal')
  db.run(MIGRATIONS.find((m) => m.version === 1)!.sql)
  db.run('insert into reflow_migrations (version, applied_at_ms) values (1, 0)')
  db.run(`insert into reflow_runs (id, workflow, status, input_json, created_at_ms, updated_at_ms, started_at_ms, finished_at_ms)
    values ('run-1', 'signup', 'failed', '{"email":"ada@example.com"}', 1000, 3000, 1000, 3000)`)
  db.run(`insert into reflow_steps (run_id, name, seq, status, output_json, error, attempts, created_at_ms, updated_at_ms)
    values ('run-1', 'create-account', 1, 'completed', '{"id":1}', null, 1, 1000, 2000),
           ('run-1', 'send-welcome', 2, 'failed', null, 'smtp down', 3, 2000, 3000)`)
  db.close()
}

const schemaVersion = (file: string) => {
  const db = new Database(file, { readonly: true })
  const version = (db.query('select max(version) as v from reflow_migrations').get() as { v: number }).v
  db.close()
  return version
}

test('runs and show read a version 1 file without migrating it; retry migrates it and keeps the run', async () => {
  const file = path.join(tempDir(), 'old.db')
  versionOne(file)

  const runs = await cliJson<{ id: string; status: string; error: string | null }[]>(['runs', '--db', file, '--json'])
  expect(runs).toMatchObject([{ id: 'run-1', status: 'failed', error: 'smtp down' }])
  const shown = await cliJson(['show', 'run-1', '--db', file, '--json'])
  expect(shown.run).toMatchObject({ id: 'run-1', status: 'failed', availableAt: null, attempt: 0 })
  expect(shown.steps.map((s: { name: string }) => s.name)).toEqual(['create-account', 'send-welcome'])
  expect(shown.attempts).toEqual([])
  expect(schemaVersion(file)).toBe(1)

  const retried = await cli(['retry', 'run-1', '--db', file])
  expect(retried.code).toBe(0)
  expect(schemaVersion(file)).toBe(MIGRATIONS.at(-1)!.version)
  const after = await cliJson(['show', 'run-1', '--db', file, '--json'])
  expect(after.run.status).toBe('pending')
  expect(after.steps).toMatchObject([{ name: 'create-account', status: 'completed', output: { id: 1 } }])
})
