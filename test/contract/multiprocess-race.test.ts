/**
 * Real concurrency: several OS processes, each with its own SQLite connection, claim from one file
 * at once. Every run must be claimed exactly once across all of them.
 */

import { afterAll, expect, test } from 'bun:test'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'

const WORKERS = 4
const RUNS = 200
const WORKFLOW = 'race'
const worker = path.join(import.meta.dir, 'fixtures', 'claim-worker.ts')
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflow-race-'))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

test(`${WORKERS} processes claiming ${RUNS} runs from one file claim each exactly once`, async () => {
  const file = path.join(dir, 'reflow.db')
  const storage = new SQLiteStorage(file)
  await storage.initialize()
  const ids: string[] = []
  for (let i = 0; i < RUNS; i++) {
    const id = `run-${String(i).padStart(3, '0')}`
    ids.push(id)
    const now = Date.now()
    await storage.createRun({ id, workflow: WORKFLOW, input: { i }, status: 'pending', idempotencyKey: null, createdAt: now, updatedAt: now })
  }
  storage.close()

  const startAt = String(Date.now() + 1_000)
  const children = Array.from({ length: WORKERS }, () =>
    Bun.spawn([process.execPath, worker, file, startAt, WORKFLOW], { stdout: 'pipe', stderr: 'pipe' }),
  )
  const outputs = await Promise.all(
    children.map(async (child) => {
      const [stdout, stderr, code] = await Promise.all([
        new Response(child.stdout).text(),
        new Response(child.stderr).text(),
        child.exited,
      ])
      if (code !== 0) throw new Error(`claim worker exited with ${code}:\n${stderr}`)
      return stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { id: string; leaseId: string; pid: number })
    }),
  )

  const claimed = outputs.flat()
  expect(claimed.length).toBe(RUNS)
  expect(claimed.map((c) => c.id).sort()).toEqual(ids)
  expect(new Set(claimed.map((c) => c.leaseId)).size).toBe(RUNS)

  const check = new SQLiteStorage(file)
  await check.initialize()
  for (const id of ids) expect((await check.getRun(id))?.status).toBe('running')
  check.close()
  // Not an assertion (one fast process may legitimately win every claim), but worth seeing when it does.
  const busy = outputs.filter((o) => o.length > 0).length
  if (busy < 2) console.warn(`multiprocess race: only ${busy} of ${WORKERS} workers claimed anything`)
}, 60_000)
