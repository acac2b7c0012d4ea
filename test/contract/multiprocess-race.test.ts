/**
 * Real concurrency: several OS processes, each with its own SQLite connection, claim from one file
 * at once. Every run must be claimed exactly once across all of them: through the public adapter
 * one by one, and through the store in batches that also take over expired leases. (Connections in
 * one process cannot interleave inside a transaction; processes can.)
 */

import { afterAll, expect, test } from 'bun:test'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { STORE } from '../../src/storage/store.ts'

const WORKERS = 4
const RUNS = 200
const WORKFLOW = 'race'
const worker = path.join(import.meta.dir, 'fixtures', 'claim-worker.ts')
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflow-race-'))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const runIds = Array.from({ length: RUNS }, (_, i) => `run-${String(i).padStart(3, '0')}`)

interface Claimed {
  id: string
  leaseId: string
  pid: number
}

/** Starts the workers together on `file` and returns what each claimed. */
async function claimInProcesses(file: string, mode: 'adapter' | 'store'): Promise<Claimed[][]> {
  const startAt = String(Date.now() + 1_000)
  const children = Array.from({ length: WORKERS }, () =>
    Bun.spawn([process.execPath, worker, file, startAt, WORKFLOW, mode], { stdout: 'pipe', stderr: 'pipe' }),
  )
  return Promise.all(
    children.map(async (child) => {
      const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
      if (code !== 0) throw new Error(`claim worker exited with ${code}:\n${stderr}`)
      return stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Claimed)
    }),
  )
}

function expectEachOnce(outputs: Claimed[][]): void {
  const claimed = outputs.flat()
  expect(claimed.length).toBe(RUNS)
  expect(claimed.map((c) => c.id).sort()).toEqual(runIds)
  expect(new Set(claimed.map((c) => c.leaseId)).size).toBe(RUNS)
  // Not an assertion (one fast process may legitimately win every claim), but worth seeing when it does.
  const busy = outputs.filter((o) => o.length > 0).length
  if (busy < 2) console.warn(`multiprocess race: only ${busy} of ${WORKERS} workers claimed anything`)
}

test(`${WORKERS} processes claiming ${RUNS} runs from one file claim each exactly once`, async () => {
  const file = path.join(dir, 'adapter.db')
  const storage = new SQLiteStorage(file)
  await storage.initialize()
  for (const [i, id] of runIds.entries()) {
    const now = Date.now()
    await storage.createRun({ id, workflow: WORKFLOW, input: { i }, status: 'pending', idempotencyKey: null, createdAt: now, updatedAt: now })
  }
  storage.close()

  const outputs = await claimInProcesses(file, 'adapter')
  expectEachOnce(outputs)

  const check = new SQLiteStorage(file)
  await check.initialize()
  for (const id of runIds) expect((await check.getRun(id))?.status).toBe('running')
  check.close()
}, 60_000)

test(`${WORKERS} processes claiming batches of ${RUNS} runs, a quarter of them expired, take each exactly once`, async () => {
  const file = path.join(dir, 'store.db')
  const storage = new SQLiteStorage(file)
  await storage.initialize()
  const store = storage[STORE]()
  const past = Date.now() - 600_000
  for (const id of runIds) {
    await store.createRun({ id, workflow: WORKFLOW, inputJson: null, input: undefined, idempotencyKey: null, createdAt: past, availableAt: past, firstStep: 'a' })
  }
  // Claimed long ago under a lease that ran out long ago: a crashed engine's runs.
  const crashed = await store.claim({ workflows: [WORKFLOW], limit: RUNS / 4, now: past, leaseMs: 1, includeExpired: false, owner: 'crashed' })
  expect(crashed.length).toBe(RUNS / 4)
  storage.close()

  const outputs = await claimInProcesses(file, 'store')
  expectEachOnce(outputs)

  const check = new SQLiteStorage(file, { readonly: true })
  const checkStore = check[STORE]()
  const leases = new Map(outputs.flat().map((c) => [c.id, c.leaseId]))
  for (const id of runIds) {
    const run = await checkStore.getRun(id)
    expect(run?.leaseId).toBe(leases.get(id)!)
    expect(run?.status).toBe('running')
  }
  // Each expired run was taken over once: one interruption, one interrupted attempt.
  for (const { id } of crashed) {
    expect((await checkStore.getRun(id))?.interruptions).toBe(1)
    expect((await checkStore.getAttempts(id)).map((a) => a.status)).toEqual(['interrupted'])
  }
  check.close()
}, 60_000)

test('processes opening one fresh file at the same moment all initialise it (the switch to WAL waits its turn)', async () => {
  const opener = path.join(dir, 'open.ts')
  fs.writeFileSync(
    opener,
    `import { SQLiteStorage } from ${JSON.stringify(path.resolve(import.meta.dir, '../../src/sqlite-bun.ts'))}
const [file, at] = process.argv.slice(2)
while (Date.now() < Number(at)) {}
const storage = new SQLiteStorage(file!)
await storage.initialize()
storage.close()
console.log('ok')
`,
  )
  for (let round = 0; round < 5; round++) {
    const file = path.join(dir, `fresh-${round}.db`)
    const at = String(Date.now() + 700)
    const results = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const child = Bun.spawn([process.execPath, opener, file, at], { stdout: 'pipe', stderr: 'pipe' })
        const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
        return { code, stdout, stderr: stderr.split('\n')[0] ?? '' }
      }),
    )
    expect(results).toEqual(Array.from({ length: 4 }, () => ({ code: 0, stdout: 'ok\n', stderr: '' })))
  }
}, 60_000)
