/**
 * Stored values that are not plain JSON (Dates, Maps, Sets, BigInts...) in the compiled binary's
 * output: `reflow show` renders them readably for people (`Date(…)`, `Map(2) {…}`), cut to the
 * preview length unless --full and still escaped for the terminal; `--json` prints their documented
 * tagged form (src/cli/output.ts), which decodes back to the values, never `{}` for a Map.
 */

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { decode } from '../../src/core/codec.ts'
import { createEngine, createWorkflow } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { cli, cliJson, reflowBinary, removeTempDirs, tempDir } from './helpers.ts'

/** Raw characters a terminal acts on (newline aside): C0, DEL, C1, bidi controls. */
const RAW = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/
const AT = new Date('2026-11-30T10:00:00.000Z')
const DUE = new Date('2026-12-01T00:00:00.000Z')
/** A Map key with a C1 control (CSI), which JSON.stringify leaves raw: the renderer's text must be made printable. */
const ODD_KEY = 'pear\x9b'
const PRICES = new Map([
  ['apple', 150n],
  [ODD_KEY, 90n],
])
const MANY = new Map(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]))

let db: string
let runId: string

beforeAll(async () => {
  db = path.join(tempDir(), 'reflow.db')
  const billing = createWorkflow({ name: 'billing', input: z.object({ due: z.date(), tags: z.set(z.string()) }) })
    .step('when', () => AT)
    .step('prices', () => PRICES)
    .step('many', () => MANY)
  const storage = new SQLiteStorage(db)
  const engine = createEngine({ storage, workflows: [billing] })
  runId = (await engine.enqueue('billing', { due: DUE, tags: new Set(['vip']) })).id
  await engine.tick()
  storage.close()
  await reflowBinary()
}, 60_000)
afterAll(removeTempDirs)

describe('reflow show renders stored values readably', () => {
  test('Dates, Maps, Sets and BigInts by what they are, escaped for the terminal', async () => {
    const { code, stdout, stderr } = await cli(['show', runId, '--db', db])
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(stdout).not.toMatch(RAW)
    expect(stdout).toContain('Input    {due: Date(2026-12-01T00:00:00.000Z), tags: Set(1) {"vip"}}')
    expect(stdout).toContain('output: Date(2026-11-30T10:00:00.000Z)\n')
    expect(stdout).toContain('output: Map(2) {"apple" => 150n, "pear\\x9b" => 90n}\n')
  })

  test('a long value is cut to the preview length unless --full', async () => {
    const short = await cli(['show', runId, '--db', db])
    const line = short.stdout.split('\n').find((l) => l.includes('output: Map(40)'))!
    expect(line.trim()).toStartWith('output: Map(40) {"k0" => 0, "k1" => 1,')
    expect(line).toEndWith('…')
    expect(line.length).toBeLessThanOrEqual('      output: '.length + 72)
    const full = await cli(['show', runId, '--db', db, '--full'])
    expect(full.stdout).toContain(`output: Map(40) {${[...MANY].map(([k, v]) => `"${k}" => ${v}`).join(', ')}}\n`)
  })
})

describe('--json prints the tagged form', () => {
  test('reflow show --json: tagged input and outputs that decode back to the values', async () => {
    const raw = await cli(['show', runId, '--db', db, '--json'])
    expect(raw.code).toBe(0)
    expect(raw.stdout).not.toMatch(RAW)
    const shown = JSON.parse(raw.stdout)
    expect(shown.run.input).toEqual({ due: { '~reflow:Date': DUE.toISOString() }, tags: { '~reflow:Set': ['vip'] } })
    expect(shown.steps.map((s: { output: unknown }) => s.output).slice(0, 2)).toEqual([
      { '~reflow:Date': AT.toISOString() },
      { '~reflow:Map': [['apple', { '~reflow:BigInt': '150' }], [ODD_KEY, { '~reflow:BigInt': '90' }]] },
    ])
    expect(decode(JSON.stringify(shown.run.input))).toEqual({ due: DUE, tags: new Set(['vip']) })
    expect(decode(JSON.stringify(shown.steps[1].output))).toEqual(PRICES)
    expect(decode(JSON.stringify(shown.steps[2].output))).toEqual(MANY)
  })

  test('reflow enqueue --json: the input as the schema produced it, a Date included', async () => {
    const dir = tempDir()
    writeFileSync(
      path.join(dir, 'workflows.ts'),
      `import { createWorkflow } from 'reflow-ts'
import { z } from 'zod'
export const remind = createWorkflow({ name: 'remind', input: z.object({ due: z.coerce.date() }) })
  .step('send', ({ input }) => input.due.getTime())
`,
    )
    mkdirSync(path.join(dir, 'node_modules'))
    symlinkSync(path.join(import.meta.dir, '../../node_modules/zod'), path.join(dir, 'node_modules', 'zod'), 'dir')
    const run = await cliJson<any>(['enqueue', 'workflows.ts', 'remind', '{"due":"2026-11-30T10:00:00Z"}', '--db', path.join(dir, 'r.db')], { cwd: dir })
    expect(run.input).toEqual({ due: { '~reflow:Date': '2026-11-30T10:00:00.000Z' } })
  }, 30_000)
})
