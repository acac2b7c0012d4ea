/**
 * Real concurrency across runtimes: Node processes (better-sqlite3) and Bun processes (bun:sqlite),
 * each with its own connection, claim from one file at once. Both drivers take SQLite's locks on
 * the same file, so every run must be claimed exactly once across all of them.
 */

import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { SQLiteStorage } from 'reflow-ts/sqlite-node'
import { describeExit, start } from './child.mjs'

const RUNTIMES = ['node', 'bun', 'node', 'bun']
const RUNS = 200
const WORKFLOW = 'race'
const worker = fileURLToPath(new URL('./fixtures/claim-worker.mjs', import.meta.url))
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflow-node-race-'))
after(() => fs.rmSync(dir, { recursive: true, force: true }))

test(`${RUNTIMES.join(' + ')} processes claiming ${RUNS} runs from one file claim each exactly once`, async () => {
  const file = path.join(dir, 'reflow.db')
  const storage = new SQLiteStorage(file)
  const ids = Array.from({ length: RUNS }, (_, i) => `run-${String(i).padStart(3, '0')}`)
  const now = Date.now()
  await Promise.all(ids.map((id) => storage.createRun({ id, workflow: WORKFLOW, input: { id }, status: 'pending', idempotencyKey: null, createdAt: now, updatedAt: now })))
  storage.close()

  const workers = RUNTIMES.map((runtime) => start(runtime, [worker, file, WORKFLOW]))
  const ready = await Promise.all(workers.map((w) => w.line('ready')))
  assert.deepEqual(ready, workers.map(() => true), 'every worker opened the file')
  for (const w of workers) w.stdin.end('go\n')
  const results = await Promise.all(workers.map((w) => w.exited))
  for (const result of results) assert.equal(result.code, 0, describeExit(result))

  const claimed = results.flatMap((r) => r.lines.filter((line) => line !== 'ready').map((line) => JSON.parse(line)))
  assert.equal(claimed.length, RUNS, 'no run claimed twice, none missed')
  assert.deepEqual(claimed.map((c) => c.id).sort(), ids)
  assert.equal(new Set(claimed.map((c) => c.leaseId)).size, RUNS)

  const check = new SQLiteStorage(file, { readonly: true })
  for (const id of ids) assert.equal((await check.getRun(id))?.status, 'running')
  check.close()
  // Not an assertion (one fast process may legitimately win every claim), but worth seeing.
  const count = (runtime) => claimed.filter((c) => c.runtime === runtime).length
  console.log(`# claims: node ${count('node')}, bun ${count('bun')}`)
})
