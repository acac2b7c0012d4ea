/**
 * Durable time and events from the compiled binary: a worker parks runs at a sleep and at a wait for
 * an event; `reflow show`, `runs --status waiting` and `stats` say so; `reflow emit` (validated with
 * --workflows, or stored as given) wakes the waiting run, which the running worker completes.
 */

import { afterAll, afterEach, beforeAll, expect, test } from 'bun:test'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { cleanEnv, cli, cliJson, lineReader, reflowBinary, removeTempDirs, tempDir } from './helpers.ts'

const WORKFLOWS = `
import { createWorkflow, defineEvent } from 'reflow-ts'
import { z } from 'zod'

export const approved = defineEvent('expense.approved', z.object({ by: z.string() }))

export const expense = createWorkflow({ name: 'expense', input: z.object({ id: z.string() }) })
  .step('submit', ({ input }) => ({ id: input.id }))
  .waitForEvent('approval', approved, { key: ({ input }) => input.id })
  .step('pay', ({ prev }) => ({ paidBy: prev.by }))

export const timed = createWorkflow({ name: 'timed', input: z.object({ id: z.string() }) })
  .waitForEvent('approval', approved, { key: ({ input }) => input.id, timeout: '3d' })
  .step('decide', ({ prev }) => ({ approved: prev.received }))

export const reminder = createWorkflow({ name: 'reminder', input: z.object({ to: z.string() }) })
  .sleep('nap', '2h')
  .step('send', ({ input }) => ({ sentTo: input.to }))
`

function project() {
  const dir = tempDir()
  writeFileSync(path.join(dir, 'workflows.ts'), WORKFLOWS)
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', type: 'module' }))
  mkdirSync(path.join(dir, 'node_modules'))
  symlinkSync(path.join(import.meta.dir, '../../node_modules/zod'), path.join(dir, 'node_modules', 'zod'), 'dir')
  return { dir, db: path.join(dir, 'reflow.db') }
}

const workers: Bun.Subprocess[] = []
afterEach(() => {
  for (const child of workers.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

async function startWorker(dir: string) {
  const child = Bun.spawn([await reflowBinary(), 'worker', 'workflows.ts', '--poll', '20'], { cwd: dir, env: cleanEnv(), stdout: 'pipe', stderr: 'pipe' })
  workers.push(child)
  const out = lineReader(child.stdout)
  await out.waitFor('worker started')
  return { child, out }
}

/** Polls `reflow show` until the run has the status (a worker parks it asynchronously). */
async function untilStatus(db: string, id: string, status: string): Promise<any> {
  const deadline = Date.now() + 20_000
  for (;;) {
    const shown = await cliJson<any>(['show', id, '--db', db])
    if (shown.run.status === status) return shown
    if (Date.now() > deadline) throw new Error(`run ${id} is still ${shown.run.status}, not ${status}`)
    await Bun.sleep(20)
  }
}

beforeAll(async () => {
  await reflowBinary()
}, 60_000)
afterAll(removeTempDirs)

test('show, runs and stats describe waiting runs; emit --workflows validates, then wakes the run a worker completes', async () => {
  const { dir, db } = project()
  const enqueue = (workflow: string, input: object) => cli(['enqueue', 'workflows.ts', workflow, JSON.stringify(input)], { cwd: dir }).then((r) => r.stdout.trim())
  const expenseId = await enqueue('expense', { id: 'e-1' })
  const timedId = await enqueue('timed', { id: 'e-9' })
  const reminderId = await enqueue('reminder', { to: 'ada' })
  const worker = await startWorker(dir)

  const parked = await untilStatus(db, expenseId, 'waiting')
  expect(parked.run.wait).toEqual({ kind: 'event', step: 'approval', event: 'expense.approved', key: 'e-1', timeoutAt: null })
  const sleeping = await untilStatus(db, reminderId, 'waiting')
  expect(sleeping.run.wait).toEqual({ kind: 'sleep', step: 'nap', until: expect.any(Number) })
  expect(sleeping.run.wait.until - sleeping.run.createdAt).toBeGreaterThanOrEqual(2 * 3_600_000)
  const timedParked = await untilStatus(db, timedId, 'waiting')
  expect(timedParked.run.wait.timeoutAt - timedParked.run.createdAt).toBeGreaterThanOrEqual(3 * 86_400_000)

  const human = (id: string) => cli(['show', id, '--db', db]).then((r) => r.stdout)
  expect(await human(expenseId)).toContain('Waits    for event expense.approved key e-1 (no timeout), step "approval"\n')
  expect(await human(timedId)).toMatch(/Waits {4}for event expense\.approved key e-9 until \S+Z \(in 3d\), step "approval"\n/)
  expect(await human(reminderId)).toMatch(/Waits {4}sleeps until \S+Z \(in 2h\), step "nap"\n/)

  const waiting = await cliJson<any[]>(['runs', '--status', 'waiting', '--db', db])
  expect(waiting.map((r) => r.id).sort()).toEqual([expenseId, timedId, reminderId].sort())
  const stats = await cliJson<any>(['stats', '--db', db])
  expect(stats.byStatus.waiting).toBe(3)
  expect((await cli(['stats', '--db', db])).stdout).toMatch(/WAITING[\s\S]*expense .* 1 /)

  // An invalid payload: exit 1 naming the schema's complaint, and nothing stored (the run still waits).
  const invalid = await cli(['emit', 'expense.approved', 'e-1', '{"by":42}', '--workflows', 'workflows.ts', '--db', db], { cwd: dir })
  expect(invalid.code).toBe(1)
  expect(invalid.stderr).toContain('expense.approved')
  expect(invalid.stdout).toBe('')
  const unknown = await cli(['emit', 'expense.rejected', 'e-1', '{}', '--workflows', 'workflows.ts', '--db', db], { cwd: dir })
  expect(unknown).toEqual({ code: 1, stdout: '', stderr: 'reflow: workflows.ts has no event "expense.rejected" (its events: "expense.approved")\n' })
  const bad = await cli(['emit', 'expense.approved', 'e-1', '{nope', '--db', db], { cwd: dir })
  expect(bad.code).toBe(2)
  expect((await cliJson<any>(['show', expenseId, '--db', db])).run.status).toBe('waiting')
  const events = new (await import('bun:sqlite')).Database(db, { readonly: true })
  try {
    expect(events.query('select count(*) as n from reflow_events').get()).toEqual({ n: 0 })
  } finally {
    events.close()
  }

  const emitted = await cliJson<any>(['emit', 'expense.approved', 'e-1', '{"by":"ada"}', '--workflows', 'workflows.ts', '--idempotency-key', 'approve-e-1', '--db', db], { cwd: dir })
  expect(emitted).toEqual({ eventId: expect.any(Number), event: 'expense.approved', key: 'e-1', created: true, validated: true })
  await worker.out.waitFor(`run ${expenseId} completed (expense)`)
  const done = await cliJson<any>(['show', expenseId, '--db', db])
  expect(done.run.status).toBe('completed')
  expect(done.steps.map((s: any) => [s.name, s.output])).toEqual([['submit', { id: 'e-1' }], ['approval', { by: 'ada' }], ['pay', { paidBy: 'ada' }]])

  // The same idempotency key again stores nothing; with another payload it fails.
  const again = await cliJson<any>(['emit', 'expense.approved', 'e-1', '{"by":"ada"}', '--workflows', 'workflows.ts', '--idempotency-key', 'approve-e-1', '--db', db], { cwd: dir })
  expect(again).toEqual({ ...emitted, created: false })
  const conflict = await cli(['emit', 'expense.approved', 'e-1', '{"by":"bob"}', '--idempotency-key', 'approve-e-1', '--db', db], { cwd: dir })
  expect(conflict.code).toBe(1)
  expect(conflict.stderr).toContain('already used by event')

  // Without --workflows: stored as given, said on stderr; the run waiting with a timeout gets it.
  const raw = await cli(['emit', 'expense.approved', 'e-9', '{"by":"grace"}', '--db', db], { cwd: dir })
  expect(raw.code).toBe(0)
  expect(raw.stdout).toMatch(/^event \d+ emitted: expense\.approved key e-9\n$/)
  expect(raw.stderr).toContain('was not validated')
  await worker.out.waitFor(`run ${timedId} completed (timed)`)
  expect((await cliJson<any>(['show', timedId, '--db', db])).steps.at(-1).output).toEqual({ approved: true })

  // A waiting run can be cancelled from outside; the sleeping run is untouched by all of this.
  const cancelled = await cliJson<any>(['cancel', reminderId, '--db', db])
  expect(cancelled.previousStatus).toBe('waiting')
})

test('enqueue --wait prints the result once an emit from another process has woken the run', async () => {
  const { dir, db } = project()
  await startWorker(dir)
  const waiter = Bun.spawn([await reflowBinary(), 'enqueue', 'workflows.ts', 'expense', '{"id":"e-2"}', '--wait', '--timeout', '20s', '--json'], {
    cwd: dir,
    env: cleanEnv(),
    stdout: 'pipe',
    stderr: 'pipe',
  })
  workers.push(waiter)
  const deadline = Date.now() + 20_000
  let id: string | undefined
  while (id === undefined) {
    const runs = await cliJson<any[]>(['runs', '--status', 'waiting', '--db', db]).catch(() => [])
    id = runs[0]?.id
    if (Date.now() > deadline) throw new Error('the run never started waiting')
    if (id === undefined) await Bun.sleep(20)
  }
  const emitted = await cli(['emit', 'expense.approved', 'e-2', '{"by":"ada"}', '--workflows', 'workflows.ts', '--db', db], { cwd: dir })
  expect(emitted.code).toBe(0)
  const [stdout, code] = await Promise.all([new Response(waiter.stdout).text(), waiter.exited])
  expect(code).toBe(0)
  expect(JSON.parse(stdout)).toEqual({ id, status: 'completed', output: { paidBy: 'ada' } })
})

test('emit --help documents it; emit without a key is a usage error', async () => {
  const help = await cli(['emit', '--help'])
  expect(help.code).toBe(0)
  expect(help.stdout).toStartWith('Usage: reflow emit EVENT KEY JSON')
  expect((await cli(['--help'])).stdout).toMatch(/\n {2}emit +Store an event and wake the runs waiting for it\.\n/)
  const missing = await cli(['emit', 'expense.approved', '{}'])
  expect(missing.code).toBe(2)
})
