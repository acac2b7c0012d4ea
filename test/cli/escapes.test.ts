/**
 * Stored text is data, not terminal commands: workflow and step names, idempotency keys, inputs,
 * outputs and errors holding escape sequences (a title change, a screen clear), C1 controls, DEL or
 * bidi overrides are printed escaped by every human renderer (runs, show, stats, retry, cancel, purge,
 * the worker's log, error lines), while --json keeps the exact values in valid JSON.
 * The database is real, made with the library; the CLI runs as a child process.
 */

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { jsonText, printable } from '../../src/cli/output.ts'
import { createEngine, createWorkflow } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { cleanEnv, cli, cliJson, lineReader, reflowBinary, removeTempDirs, tempDir } from './helpers.ts'

const TITLE = '\x1b]0;pwned\x07'
const CLEAR = '\x1b[2J'
const WORKFLOW = `evil${TITLE}`
const STEP = `clear${CLEAR}`
const FAILING = 'fails\u202e\x1b[8m'
const KEY = `key\u202eabc\u2066\x9b`
const ERROR = `boom ${TITLE} ${CLEAR}\r\nsecond line\x7f\x85`
const OUTPUT = { text: `out\x9b31m\u202dx\x00` }

/** Raw characters a terminal acts on: C0 (newline aside: the renderers' own line breaks), DEL, C1, bidi controls. */
const RAW = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/

let db: string
let failedId: string
let pendingId: string

beforeAll(async () => {
  db = path.join(tempDir(), 'reflow.db')
  const evil = createWorkflow({ name: WORKFLOW, input: z.object({ note: z.string() }) })
    .step(STEP, () => OUTPUT)
    .step(FAILING, () => {
      throw new Error(ERROR)
    })
  const storage = new SQLiteStorage(db)
  const engine = createEngine({ storage, workflows: [evil] })
  failedId = (await engine.enqueue(WORKFLOW, { note: `in${CLEAR}\x85` })).id
  await engine.tick()
  pendingId = (await engine.enqueue(WORKFLOW, { note: 'later' }, { idempotencyKey: KEY })).id
  storage.close()
  await reflowBinary()
}, 60_000)
afterAll(removeTempDirs)

function copy(): string {
  const file = path.join(tempDir(), 'reflow.db')
  copyFileSync(db, file)
  return file
}

/** A successful human command: nothing raw on stdout or stderr. */
async function human(args: string[]): Promise<string> {
  const result = await cli(args)
  expect(result.stderr).not.toMatch(RAW)
  expect(result.stdout).not.toMatch(RAW)
  expect(result.code).toBe(0)
  return result.stdout
}

describe('printable and jsonText', () => {
  test('escape C0, DEL, C1, bidi controls and lone surrogates; keep everything else', () => {
    expect(printable('a\tb\nc\rd\x00\x1b\x7f\x80\x9f')).toBe('a\\tb\\nc\\rd\\x00\\x1b\\x7f\\x80\\x9f')
    expect(printable('\u202a\u202e\u2066\u2069')).toBe('\\u202a\\u202e\\u2066\\u2069')
    expect(printable('x\ud800y\udc00z\udbff')).toBe('x\\ud800y\\udc00z\\udbff')
    expect(printable('café 😀 \u200b \u2028 \\x1b \u00a0')).toBe('café 😀 \u200b \u2028 \\x1b \u00a0')
  })

  test('jsonText is JSON that parses back to the value, with nothing raw', () => {
    const value = { s: 'a\x1b\x7f\x9b\u202e\ud800😀', n: [1, null] }
    for (const space of [undefined, 2]) {
      const text = jsonText(value, space)
      expect(text).not.toMatch(RAW)
      expect(JSON.parse(text)).toEqual(value)
    }
  })
})

describe('human output escapes control characters', () => {
  test('runs', async () => {
    const stdout = await human(['runs', '--db', db])
    expect(stdout).toContain('evil\\x1b]0;pwned\\x07')
    expect(stdout).toContain('fails\\u202e\\x1b[8m')
  })

  test('show: names, key, input, output and error', async () => {
    const failed = await human(['show', failedId, '--db', db])
    expect(failed).toContain('evil\\x1b]0;pwned\\x07')
    expect(failed).toContain('clear\\x1b[2J')
    expect(failed).toContain('boom \\x1b]0;pwned\\x07 \\x1b[2J\\r\\nsecond line\\x7f\\x85')
    // Input and outputs are rendered values: strings as JSON string literals (C0 escaped by JSON),
    // then made printable (C1 and bidi controls escaped like everywhere else).
    expect(failed).toContain('{text: "out\\x9b31m\\u202dx\\u0000"}')
    expect(failed).toContain('{note: "in\\u001b[2J\\x85"}')
    const full = await human(['show', failedId, '--db', db, '--full'])
    expect(full).toContain('{text: "out\\x9b31m\\u202dx\\u0000"}')
    const pending = await human(['show', pendingId, '--db', db])
    expect(pending).toContain('key\\u202eabc\\u2066\\x9b')
  })

  test('stats', async () => {
    expect(await human(['stats', '--db', db])).toContain('evil\\x1b]0;pwned\\x07')
  })

  test('retry, cancel and purge', async () => {
    const file = copy()
    const retried = await human(['retry', failedId, '--db', file])
    expect(retried).toContain('evil\\x1b]0;pwned\\x07')
    expect(retried).toContain('clear\\x1b[2J')
    expect(await human(['cancel', pendingId, '--db', file])).toContain('evil\\x1b]0;pwned\\x07')
    expect(await human(['purge', '--older-than', '0s', '--dry-run', '--db', file])).toContain('evil\\x1b]0;pwned\\x07')
  })

  test('error lines on stderr', async () => {
    const result = await cli(['show', `nope${TITLE}`, '--db', db])
    expect(result.code).toBe(1)
    expect(result.stderr).not.toMatch(RAW)
    expect(result.stderr).toContain('nope\\x1b]0;pwned\\x07')
    const usage = await cli([`frob${CLEAR}`])
    expect(usage.code).toBe(2)
    expect(usage.stderr).not.toMatch(RAW)
  })
})

describe('--json keeps the exact values, in valid JSON with nothing raw', () => {
  test('runs and show', async () => {
    const raw = await cli(['runs', '--db', db, '--json'])
    expect(raw.stdout).not.toMatch(RAW)
    const runs = JSON.parse(raw.stdout)
    expect(runs.map((r: any) => r.workflow)).toEqual([WORKFLOW, WORKFLOW])
    const shownRaw = await cli(['show', failedId, '--db', db, '--json'])
    expect(shownRaw.stdout).not.toMatch(RAW)
    const shown = JSON.parse(shownRaw.stdout)
    expect(shown.steps.map((s: any) => s.name)).toEqual([STEP, FAILING])
    expect(shown.steps[1].error).toBe(ERROR)
    expect(shown.steps[0].output).toEqual(OUTPUT)
    expect((await cliJson<any>(['show', pendingId, '--db', db])).run.idempotencyKey).toBe(KEY)
  })
})

describe('the worker log', () => {
  const workers: Bun.Subprocess[] = []
  afterEach(() => {
    for (const child of workers.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
  })

  test('escapes workflow and step names and errors', async () => {
    const dir = tempDir()
    writeFileSync(
      path.join(dir, 'workflows.ts'),
      `import { createWorkflow } from 'reflow-ts'
import { z } from 'zod'
export const evil = createWorkflow({ name: ${JSON.stringify(WORKFLOW)}, input: z.object({}) })
  .step(${JSON.stringify(STEP)}, () => {
    throw new Error(${JSON.stringify(ERROR)})
  })
`,
    )
    mkdirSync(path.join(dir, 'node_modules'))
    symlinkSync(path.join(import.meta.dir, '../../node_modules/zod'), path.join(dir, 'node_modules', 'zod'), 'dir')
    const { id } = await cliJson<any>(['enqueue', 'workflows.ts', WORKFLOW, '{}'], { cwd: dir })
    const child = Bun.spawn([await reflowBinary(), 'worker', 'workflows.ts', '--poll', '20'], { cwd: dir, env: cleanEnv(), stdout: 'pipe', stderr: 'pipe' })
    workers.push(child)
    const out = lineReader(child.stdout)
    const stderr = new Response(child.stderr).text()
    const failed = await out.waitFor(`run ${id} failed`)
    expect(failed).toContain('(evil\\x1b]0;pwned\\x07) at step "clear\\x1b[2J": boom \\x1b]0;pwned\\x07 \\x1b[2J')
    child.kill('SIGTERM')
    expect(await child.exited).toBe(0)
    await out.done
    expect(out.lines.join('\n')).not.toMatch(RAW)
    expect(out.lines[0]).toContain('(evil\\x1b]0;pwned\\x07)')
    expect(await stderr).not.toMatch(RAW)
  }, 30_000)
})
