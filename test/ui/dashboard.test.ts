/**
 * The dashboard end to end, in a real browser (playwright-core driving Debian's chromium): a real
 * SQLite file written by a started engine in this process, the dashboard on its own connection to
 * that file (so live updates come through the store's change notifications, as with a separate
 * worker process), and the CLI itself for the refusal to listen without --auth.
 *
 * Screenshots of the main pages go to test/ui/output/ (gitignored), to be looked at.
 */

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { z } from 'zod'
import type { Clock } from '../../src/core/clock.ts'
import { SystemClock } from '../../src/core/clock.ts'
import { createEngine, createWorkflow, defineEvent } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { startUi, type RunningUi } from '../../src/ui/server.ts'
import { deferred } from '../engine/helpers.ts'
import { lineReader } from '../cli/helpers.ts'

const ROOT = path.resolve(import.meta.dir, '../..')
const OUTPUT = path.join(import.meta.dir, 'output')
const CHROMIUM = '/usr/bin/chromium'

const dir = mkdtempSync(path.join(os.tmpdir(), 'reflow-ui-test-'))
const file = path.join(dir, 'reflow.db')

let failCharge = true
const gate = deferred<void>()
const approved = defineEvent('expense.approved', z.object({ by: z.string() }))
const greet = createWorkflow({ name: 'greet', input: z.object({ name: z.string() }) })
  .step('hello', ({ input }) => ({ greeting: `hello ${input.name}`, at: new Date(Date.UTC(2026, 10, 30, 10)), tags: new Set(['vip']) }))
  .step('count', () => 42n)
const charge = createWorkflow({ name: 'charge', input: z.object({ amount: z.number() }) })
  .step('reserve', ({ input }) => ({ reservation: `r-${input.amount}` }))
  .step('charge', {
    retry: { maxAttempts: 2, initialDelayMs: 1 },
    handler: ({ prev }) => {
      if (failCharge) throw new Error(`card declined for ${prev.reservation} <script>alert(1)</script>`)
      return { charged: true }
    },
  })
const expense = createWorkflow({ name: 'expense', input: z.object({ id: z.string() }) })
  .step('submit', ({ input }) => ({ id: input.id }))
  .waitForEvent('approval', approved, { key: ({ input }) => input.id, timeout: '3d' })
  .step('decide', ({ prev }) => (prev.received ? `approved by ${prev.payload.by}` : 'escalated'))
const blocker = createWorkflow({ name: 'blocker', input: z.object({}) }).step('block', async () => {
  await gate.promise
  return 'unblocked'
})
const workflows = [greet, charge, expense, blocker] as const
const startEngine = async (storage: SQLiteStorage) => {
  const started = createEngine({
    storage,
    workflows,
    concurrency: 4,
    schedules: [{ id: 'nightly-greeting', workflow: 'greet', cron: '0 3 * * *', input: { name: 'night' } }],
  })
  await started.start(50)
  return started
}

let engineStorage: SQLiteStorage
let engine: Awaited<ReturnType<typeof startEngine>>
let uiStorage: SQLiteStorage
let ui: RunningUi
let context: BrowserContext
let page: Page
const ids: Record<string, string> = {}

/** Checks `predicate` every 10 ms (for the engine's state, which a page does not show yet). */
async function until(predicate: () => Promise<boolean>, what: string): Promise<void> {
  for (const started = Date.now(); Date.now() - started < 15_000; ) {
    if (await predicate()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`timed out waiting for ${what}`)
}

const statusOf = async (id: string) => (await engine.getRunStatus(id))?.run.status

beforeAll(async () => {
  mkdirSync(OUTPUT, { recursive: true })
  // A run claimed ten minutes ago by a worker that vanished: the overview's stuck list must show it.
  const past: Clock = { now: () => Date.now() - 10 * 60_000, setTimer: SystemClock.setTimer }
  const legacy = createWorkflow({ name: 'legacy', input: z.object({}) }).step('work', () => 1)
  const oldStorage = new SQLiteStorage(file, { clock: past })
  ids.stuck = (await createEngine({ storage: oldStorage, workflows: [legacy], clock: past }).enqueue('legacy', {})).id
  if ((await oldStorage.claimNextRun(['legacy']))?.id !== ids.stuck) throw new Error('expected to claim the legacy run')
  oldStorage.close()

  engineStorage = new SQLiteStorage(file)
  engine = await startEngine(engineStorage)
  for (const name of ['ada', 'bob', 'cy']) {
    const run = await engine.enqueue('greet', { name }, name === 'bob' ? { idempotencyKey: 'greet-bob' } : {})
    ids[name] = run.id
    await engine.result(run, { timeout: '20s' })
  }
  const failed = await engine.enqueue('charge', { amount: 5 })
  ids.failed = failed.id
  expect((await engine.result(failed, { timeout: '20s' })).status).toBe('failed')
  ids.waiting = (await engine.enqueue('expense', { id: 'e-1' })).id
  await until(async () => (await statusOf(ids.waiting!)) === 'waiting', 'the expense run to wait')
  ids.delayed = (await engine.enqueue('greet', { name: 'later' }, { delay: '1h' })).id

  uiStorage = new SQLiteStorage(file)
  ui = await startUi({ storage: uiStorage, port: 0, workflows })
  const profile = mkdtempSync(path.join(os.tmpdir(), 'reflow-ui-chromium-'))
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
  })
  context.setDefaultTimeout(20_000)
  page = context.pages()[0] ?? (await context.newPage())
}, 60_000)

afterAll(async () => {
  gate.resolve()
  await context?.close()
  await ui?.close()
  await engine?.stop()
  engineStorage?.close()
  uiStorage?.close()
  rmSync(dir, { recursive: true, force: true })
})

const runRows = () => page.locator('table.runs tbody tr')
const liveStatus = () => page.locator('#live dl.fields .status').first()

describe('runs list', () => {
  test('lists every run, and filters by status, workflow and id prefix', async () => {
    await page.goto(`${ui.url}/`)
    expect(await runRows().count()).toBe(7)
    await page.screenshot({ path: path.join(OUTPUT, 'runs.png'), fullPage: true })

    await page.selectOption('select[name=status]', 'failed')
    await page.click('form.filters button[type=submit]')
    await page.waitForURL(/status=failed/)
    expect(await runRows().count()).toBe(1)
    expect(await runRows().first().getAttribute('data-run')).toBe(ids.failed!)
    expect(await runRows().first().textContent()).toContain('card declined')

    await page.goto(`${ui.url}/?workflow=greet`)
    expect(await runRows().count()).toBe(4)
    await page.goto(`${ui.url}/?workflow=greet&status=completed`)
    expect(await runRows().count()).toBe(3)

    await page.goto(`${ui.url}/`)
    await page.fill('input[name=id]', ids.waiting!.slice(0, 30))
    await page.click('form.filters button[type=submit]')
    await page.waitForURL(/id=/)
    expect(await runRows().count()).toBe(1)
    expect(await runRows().first().getAttribute('data-run')).toBe(ids.waiting!)

    await page.goto(`${ui.url}/?key=greet-bob`)
    expect(await runRows().count()).toBe(1)
    expect(await runRows().first().getAttribute('data-run')).toBe(ids.bob!)
  })
})

describe('run page', () => {
  test('a failed run: its error (escaped), every attempt with its stack, its input and outputs', async () => {
    await page.goto(`${ui.url}/runs/${ids.failed}`)
    expect(await liveStatus().textContent()).toBe('failed')
    const attempts = page.locator('table.attempts tbody tr')
    expect(await attempts.count()).toBe(2)
    expect(await attempts.nth(0).textContent()).toContain('charge #1')
    expect(await attempts.nth(1).textContent()).toContain('Error: card declined for r-5 <script>alert(1)</script>')
    await page.click('table.attempts tbody tr:nth-child(2) details summary')
    expect(await page.locator('table.attempts tbody tr:nth-child(2) pre.stack').textContent()).toMatch(/at .*dashboard\.test\.ts/)
    expect(await page.locator('table.steps tr[data-step=reserve]').textContent()).toContain('reservation: "r-5"')
    expect(await page.locator('table.steps svg.timeline').count()).toBe(2)
    await page.screenshot({ path: path.join(OUTPUT, 'run-failed.png'), fullPage: true })
  })

  test('stored values render readably (a Date, a Set, a BigInt)', async () => {
    await page.goto(`${ui.url}/runs/${ids.ada}`)
    const hello = page.locator('table.steps tr[data-step=hello]')
    await hello.locator('summary').click()
    const text = await hello.locator('pre').textContent()
    expect(text).toContain('at: Date(2026-11-30T10:00:00.000Z)')
    expect(text).toContain('tags: Set(1) {')
    expect(await page.locator('table.steps tr[data-step=count]').textContent()).toContain('42n')
  })

  test('retry from a chosen step: confirmed, then a worker runs it to completion, attempts kept', async () => {
    failCharge = false
    await page.goto(`${ui.url}/runs/${ids.failed}`)
    await page.click('text=Retry from a step…')
    await page.waitForURL(/\/retry/)
    await page.selectOption('select[name=fromStep]', 'reserve')
    await page.click('button:has-text("Retry the run")')
    await page.waitForURL(/done=retried/)
    expect(await page.locator('.notice').textContent()).toContain('Run retried from step reserve')
    await page.locator('#live dl.fields .s-completed').waitFor()
    expect(await page.locator('table.steps tbody tr').count()).toBe(2)
    expect(await page.locator('table.attempts tbody tr').count()).toBe(2)
  })

  test('cancel: a confirmation page, then the result', async () => {
    await page.goto(`${ui.url}/runs/${ids.delayed}`)
    expect(await liveStatus().textContent()).toBe('pending')
    await page.click('text=Cancel run…')
    await page.waitForURL(/\/cancel$/)
    expect(await statusOf(ids.delayed!)).toBe('pending')
    await page.click('button:has-text("Cancel the run")')
    await page.waitForURL(/done=cancelled/)
    expect(await page.locator('.notice').textContent()).toContain('Run cancelled.')
    expect(await liveStatus().textContent()).toBe('cancelled')
    expect(await statusOf(ids.delayed!)).toBe('cancelled')
  })

  test('a running run updates live, without a reload, when its step finishes', async () => {
    const run = await engine.enqueue('blocker', {})
    await until(async () => (await statusOf(run.id)) === 'running', 'the blocker to run')
    await page.goto(`${ui.url}/runs/${run.id}`)
    expect(await liveStatus().textContent()).toBe('running')
    expect(await page.locator('#live').textContent()).toContain('Held by')
    await page.locator('#live-state.on').waitFor() // the event stream is open
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 1))
    gate.resolve()
    await page.locator('#live dl.fields .s-completed').waitFor()
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(1)
    expect(Number(await page.locator('body').getAttribute('data-refreshes'))).toBeGreaterThan(0)
  })

  test('a waiting run: what it waits for; emit prefilled, validated, confirmed; the run completes', async () => {
    await page.goto(`${ui.url}/runs/${ids.waiting}`)
    const waits = page.locator('dl.fields dd', { hasText: 'expense.approved' })
    expect(await waits.textContent()).toContain('with key e-1')
    await page.screenshot({ path: path.join(OUTPUT, 'run-waiting.png'), fullPage: true })
    await page.click('text=Emit expense.approved…')
    expect(await page.inputValue('input[name=name]')).toBe('expense.approved')
    expect(await page.inputValue('input[name=key]')).toBe('e-1')
    await page.fill('textarea[name=payload]', '{"by": 1}')
    await page.click('button:has-text("Review")')
    expect(await page.locator('.validation').textContent()).toContain('by')
    expect(await statusOf(ids.waiting!)).toBe('waiting')
    await page.fill('textarea[name=payload]', '{"by": "ada"}')
    await page.click('button:has-text("Review")')
    expect(await page.locator('pre.value').textContent()).toContain('by: "ada"')
    await page.click('button:has-text("Emit the event")')
    await page.waitForURL(/done=emitted/)
    expect(await page.locator('.notice').textContent()).toContain('expense.approved')
    await page.locator('#live dl.fields .s-completed').waitFor()
    expect(await page.locator('table.steps tr[data-step=decide]').textContent()).toContain('approved by ada')
  })

  test('start a run from JSON: the schema\'s errors, then the run', async () => {
    await page.goto(`${ui.url}/start`)
    await page.selectOption('select[name=workflow]', 'greet')
    await page.fill('textarea[name=input]', '{"name": 5}')
    await page.click('button:has-text("Review")')
    expect(await page.locator('.validation').textContent()).toContain('name')
    await page.fill('textarea[name=input]', '{"name": "zed"}')
    await page.click('button:has-text("Review")')
    await page.click('button:has-text("Start the run")')
    await page.waitForURL(/done=started/)
    await page.locator('#live dl.fields .s-completed').waitFor()
    expect(await page.locator('table.steps tr[data-step=hello]').textContent()).toContain('hello zed')
  })
})

describe('overview', () => {
  test('throughput charts, queue, the stuck run, schedules', async () => {
    await page.goto(`${ui.url}/overview`)
    expect(await page.locator('svg.chart').count()).toBeGreaterThanOrEqual(2)
    expect(await page.locator('svg.chart rect.ok').count()).toBeGreaterThan(0)
    expect(await page.locator('table.stuck').textContent()).toContain(ids.stuck!)
    expect(await page.locator('table.schedules').textContent()).toContain('nightly-greeting')
    expect(await page.locator('table.schedules').textContent()).toContain('cron 0 3 * * *')
    await page.screenshot({ path: path.join(OUTPUT, 'overview.png'), fullPage: true })
  })
})

describe('safety', () => {
  test('a cross-site POST is refused: from another origin\'s page, and with a foreign Origin or no CSRF token', async () => {
    const target = await engine.enqueue('greet', { name: 'target' }, { delay: '1h' })
    const action = `${ui.url}/runs/${target.id}/cancel`
    const evil: Server = createServer((_, res) => {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end(`<form method="post" action="${action}"><input name="csrf" value="guess"></form><script>document.forms[0].submit()</script>`)
    })
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve))
    try {
      const response = page.waitForResponse((r) => r.url() === action)
      await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`)
      expect((await response).status()).toBe(403)
    } finally {
      evil.close()
    }
    // The real token, taken from the confirmation page, is not enough from another origin; the right origin is not enough without it.
    const confirm = await (await fetch(action)).text()
    const csrf = /name="csrf" value="([^"]+)"/.exec(confirm)![1]!
    const post = (headers: Record<string, string>, body: string) =>
      fetch(action, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body })
    expect((await post({ origin: 'http://evil.example' }, `csrf=${csrf}`)).status).toBe(403)
    expect((await post({ origin: ui.url }, 'csrf=')).status).toBe(403)
    expect((await post({}, `csrf=${csrf}`)).status).toBe(403)
    expect(await statusOf(target.id)).toBe('pending')
    expect((await post({ origin: ui.url }, `csrf=${csrf}`)).status).toBe(303)
    expect(await statusOf(target.id)).toBe('cancelled')
  })

  test('read-only: no actions on any page, and POSTs refused with 403', async () => {
    const readOnlyStorage = new SQLiteStorage(file, { readonly: true })
    const readOnly = await startUi({ storage: readOnlyStorage, port: 0, readOnly: true, workflows })
    try {
      await page.goto(`${readOnly.url}/runs/${ids.stuck}`)
      expect(await liveStatus().textContent()).toBe('running')
      expect(await page.locator('.actions, form[method=post]').count()).toBe(0)
      expect(await page.locator('header nav a').allTextContents()).toEqual(['Runs', 'Overview'])
      await page.goto(`${readOnly.url}/runs/${ids.stuck}/cancel`)
      expect(await page.locator('form[method=post]').count()).toBe(0)
      const response = await fetch(`${readOnly.url}/runs/${ids.stuck}/cancel`, { method: 'POST', headers: { origin: readOnly.url }, body: '' })
      expect(response.status).toBe(403)
      expect(await statusOf(ids.stuck!)).toBe('running')
    } finally {
      await readOnly.close()
      readOnlyStorage.close()
    }
  })

  test('the CLI refuses a non-loopback host without --auth (exit 2); with --auth, no credentials get 401', async () => {
    const cli = (args: string[]) =>
      Bun.spawn(['bun', path.join(ROOT, 'src/cli/main.ts'), 'ui', '--db', file, '--port', '0', ...args], { stdout: 'pipe', stderr: 'pipe' })
    const refused = cli(['--host', '0.0.0.0'])
    expect(await refused.exited).toBe(2)
    expect(await new Response(refused.stderr).text()).toContain('refusing to listen on 0.0.0.0 without --auth')

    const served = cli(['--host', '0.0.0.0', '--auth', 's3cret-token'])
    try {
      const line = await lineReader(served.stdout).waitFor('listening on')
      const port = /:(\d+)$/.exec(line.trim())![1]
      const url = `http://127.0.0.1:${port}/`
      expect((await fetch(url)).status).toBe(401)
      expect((await fetch(url, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
      expect((await fetch(url, { headers: { authorization: 'Bearer s3cret-token' } })).status).toBe(200)
      const login = await fetch(`${url}?token=s3cret-token`, { redirect: 'manual' })
      expect(login.status).toBe(303)
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!
      expect((await fetch(url, { headers: { cookie } })).status).toBe(200)
    } finally {
      served.kill('SIGTERM')
    }
    expect(await served.exited).toBe(0)
  })
})
