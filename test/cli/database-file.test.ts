/**
 * --db must name a regular file. /dev/null, a directory, a FIFO or any other device is refused by
 * every command with one clear line (exit 1) before anything opens it: nothing is created beside it
 * (no -wal or -shm), nothing blocks on it (opening a FIFO waits for a writer), nothing runs.
 */

import { Database } from 'bun:sqlite'
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { cleanEnv, reflowBinary, removeTempDirs, tempDir } from './helpers.ts'

const WORKFLOWS = `import { createWorkflow } from 'reflow-ts'
const input = { '~standard': { version: 1, vendor: 'test', validate: (value) => ({ value }) } }
export const w = createWorkflow({ name: 'w', input }).step('s', () => 1)
`

let project: string
const targets: Record<string, { path: string; kind: string }> = {}

beforeAll(async () => {
  project = tempDir()
  writeFileSync(path.join(project, 'workflows.ts'), WORKFLOWS)
  const fifo = path.join(tempDir(), 'fifo')
  expect(Bun.spawnSync(['mkfifo', fifo]).exitCode).toBe(0)
  targets['/dev/null'] = { path: '/dev/null', kind: 'a character device' }
  targets['a directory'] = { path: tempDir(), kind: 'a directory' }
  targets['a FIFO'] = { path: fifo, kind: 'a FIFO (named pipe)' }
  await reflowBinary()
}, 60_000)
afterAll(removeTempDirs)

const RUN_ID = '01a22a87-e345-773a-96e3-dfd3c65578a2'
const COMMANDS: Record<string, string[]> = {
  runs: ['runs'],
  show: ['show', RUN_ID],
  stats: ['stats'],
  retry: ['retry', RUN_ID],
  cancel: ['cancel', RUN_ID],
  purge: ['purge', '--older-than', '1d'],
  'purge --dry-run': ['purge', '--older-than', '1d', '--dry-run'],
  worker: ['worker', 'workflows.ts'],
  enqueue: ['enqueue', 'workflows.ts', 'w', '{}'],
}

/** Runs reflow, killing it if it has not exited within 10 s (the bug being tested includes hangs). */
async function reflow(args: string[]) {
  const child = Bun.spawn([await reflowBinary(), ...args], { cwd: project, env: cleanEnv(), stdout: 'pipe', stderr: 'pipe' })
  let hung = false
  const deadline = setTimeout(() => {
    hung = true
    child.kill('SIGKILL')
  }, 10_000)
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  clearTimeout(deadline)
  return { code, stdout, stderr, hung }
}

/** SQLite's files beside `target` (-journal, -wal, -shm), and what is inside it if it is a directory. */
function around(target: string): string[] {
  const beside = readdirSync(path.dirname(target)).filter((name) => name.startsWith(`${path.basename(target)}-`))
  return statSync(target).isDirectory() ? [...beside, ...readdirSync(target)] : beside
}

describe('a --db that is not a regular file is refused by every command, creating nothing', () => {
  for (const name of ['/dev/null', 'a directory', 'a FIFO']) {
    for (const [command, args] of Object.entries(COMMANDS)) {
      test(`${command} --db ${name}`, async () => {
        const target = targets[name]!
        const before = around(target.path)
        const result = await reflow([...args, '--db', target.path])
        expect(result.hung).toBe(false)
        expect(result.stdout).toBe('')
        expect(result.stderr).toBe(`reflow: ${target.path} is ${target.kind}, not a regular file: the database must be a SQLite file\n`)
        expect(result.code).toBe(1)
        expect(around(target.path)).toEqual(before)
      })
    }
  }

  test('REFLOW_DB is checked the same way', async () => {
    const child = Bun.spawn([await reflowBinary(), 'stats'], { cwd: project, env: cleanEnv({ REFLOW_DB: '/dev/zero' }), stderr: 'pipe' })
    const [stderr, code] = await Promise.all([new Response(child.stderr).text(), child.exited])
    expect(code).toBe(1)
    expect(stderr).toBe('reflow: /dev/zero is a character device, not a regular file: the database must be a SQLite file\n')
  })
})

describe('an empty file', () => {
  test('retry, cancel and purge leave it empty: only worker and enqueue make a new database', async () => {
    for (const command of ['retry', 'cancel', 'purge']) {
      const file = path.join(tempDir(), 'empty.db')
      writeFileSync(file, '')
      const result = await reflow([...COMMANDS[command]!, '--db', file])
      expect(result.stderr).toBe(`reflow: "${file}" has no reflow tables (another application's database, or one no reflow engine has used yet)\n`)
      expect(result.code).toBe(1)
      expect(readFileSync(file).length).toBe(0)
      expect(around(file)).toEqual([])
    }
    const file = path.join(tempDir(), 'empty.db')
    writeFileSync(file, '')
    const enqueued = await reflow([...COMMANDS.enqueue!, '--db', file])
    expect(enqueued.stderr).toBe('')
    expect(enqueued.code).toBe(0)
    expect(readFileSync(file).length).toBeGreaterThan(0)
  })
})

describe("another application's SQLite database", () => {
  test('worker and enqueue add reflow tables beside the application\'s, as the library does; the other commands refuse it', async () => {
    const file = path.join(tempDir(), 'app.db')
    const app = new Database(file)
    app.run('create table users (id integer primary key, name text)')
    app.run("insert into users (name) values ('ada')")
    app.close()
    for (const command of ['runs', 'retry', 'cancel', 'purge']) {
      const refused = await reflow([...COMMANDS[command]!, '--db', file])
      expect(refused.code).toBe(1)
      expect(refused.stderr).toContain('has no reflow tables')
    }
    const enqueued = await reflow([...COMMANDS.enqueue!, '--db', file])
    expect(enqueued.stderr).toBe('')
    expect(enqueued.code).toBe(0)
    const after = new Database(file, { readonly: true })
    expect(after.query('select name from users').all()).toEqual([{ name: 'ada' }])
    const tables = (after.query("select name from sqlite_master where type = 'table' order by name").all() as { name: string }[]).map((t) => t.name)
    after.close()
    expect(tables.filter((t) => !t.startsWith('reflow_'))).toEqual(['users'])
    expect(tables).toContain('reflow_runs')
  })
})
