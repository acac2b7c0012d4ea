/**
 * The compiled `reflow` binary on Postgres: every command takes `--db postgres://…` (or REFLOW_DB),
 * with the schema from the URL's `schema` parameter; pg is bundled in the binary. Read-only commands
 * run in read-only transactions: they create nothing, not even the schema.
 */

import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { dropSchemas, freshSchema, sql, urlWithSchema } from '../postgres/server.ts'
import { cleanEnv, cli, cliJson, lineReader, reflowBinary, removeTempDirs, tempDir } from './helpers.ts'

const WORKFLOWS = `
import { createWorkflow } from 'reflow-ts'
import { z } from 'zod'

export const double = createWorkflow({ name: 'double', input: z.object({ n: z.number() }) })
  .step('twice', ({ input }) => ({ n: input.n * 2 }))
  .step('check', ({ prev }) => {
    if (prev.n === 6) throw new Error('six is not allowed')
    return prev
  })
`

let dir: string
const url = urlWithSchema(freshSchema('reflow_cli'))

beforeAll(async () => {
  dir = tempDir()
  writeFileSync(path.join(dir, 'workflows.ts'), WORKFLOWS)
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', type: 'module' }))
  mkdirSync(path.join(dir, 'node_modules'))
  symlinkSync(path.resolve(import.meta.dir, '../../node_modules/zod'), path.join(dir, 'node_modules', 'zod'))
  await reflowBinary()
}, 120_000)
afterAll(async () => {
  removeTempDirs()
  await dropSchemas()
})

test('enqueue, worker, runs, show, retry --from and cancel, all on one Postgres schema', async () => {
  const ok = await cliJson<{ id: string }>(['enqueue', 'workflows.ts', 'double', '{"n":1}', '--db', url], { cwd: dir })
  // REFLOW_DB works as --db does.
  const bad = await cliJson<{ id: string }>(['enqueue', 'workflows.ts', 'double', '{"n":3}'], { cwd: dir, env: cleanEnv({ REFLOW_DB: url }) })
  const worker = Bun.spawn([await reflowBinary(), 'worker', 'workflows.ts', '--db', url, '--poll', '50'], { cwd: dir, env: cleanEnv(), stdout: 'pipe', stderr: 'pipe' })
  const log = lineReader(worker.stdout)
  try {
    await log.waitFor(`run ${bad.id} failed`)
    await log.waitFor(`run ${ok.id} completed`)
    const runs = await cliJson<{ id: string; status: string }[]>(['runs', '--db', url])
    expect(Object.fromEntries(runs.map((r) => [r.id, r.status]))).toEqual({ [ok.id]: 'completed', [bad.id]: 'failed' })
    const shown = await cli(['show', bad.id, '--db', url])
    expect(shown.code).toBe(0)
    expect(shown.stdout).toContain('six is not allowed')

    const retried = await cli(['retry', bad.id, '--from', 'twice', '--db', url])
    expect(retried.code).toBe(0)
    // The worker hears of the retry through LISTEN/NOTIFY and runs both steps again: two failures recorded.
    const failures = () => log.lines.filter((line) => line.includes(`run ${bad.id} failed`)).length
    await log.waitFor(`run ${bad.id} failed`)
    while (failures() < 2) await log.waitFor(`run ${bad.id} failed`).then(() => new Promise((r) => setImmediate(r)))
    const detail = await cliJson<{ attempts: { stepName: string }[] }>(['show', bad.id, '--db', url])
    expect(detail.attempts.map((a) => a.stepName)).toEqual(['check', 'check'])
    const cancelled = await cli(['cancel', ok.id, '--db', url])
    expect(cancelled.code).toBe(1)
    expect(cancelled.stderr).toContain(`run ${ok.id} is completed`)
  } finally {
    worker.kill('SIGTERM')
    await worker.exited
  }
  const stats = await cliJson<{ counts: unknown }>(['stats', '--db', url])
  expect(JSON.stringify(stats)).toContain('double')
}, 60_000)

test('read-only commands on a schema without reflow tables fail with one line and create nothing', async () => {
  const schema = freshSchema('reflow_cli_missing')
  for (const command of [['runs'], ['stats'], ['show', 'some-id'], ['schedules']]) {
    const result = await cli([...command, '--db', urlWithSchema(schema)])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`schema "${schema}": there are none`)
  }
  expect(await sql('select 1 from pg_namespace where nspname = $1', [schema])).toEqual([])
})

test('a password in the URL never appears in messages; vacuum is refused on Postgres', async () => {
  const withPassword = new URL(url)
  withPassword.password = 'hunter2'
  withPassword.searchParams.set('schema', freshSchema('reflow_cli_pw'))
  const result = await cli(['runs', '--db', withPassword.toString()])
  expect(result.stderr).not.toContain('hunter2')
  const vacuum = await cli(['vacuum', '--db', url])
  expect(vacuum.code).toBe(1)
  expect(vacuum.stderr).toContain('vacuum compacts a SQLite file')
})
