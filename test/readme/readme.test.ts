/**
 * Every ```ts block in README.md runs as written (imports through the package name, as a user's
 * code would), so the README cannot drift from what the code does.
 */

import { afterAll, expect, test } from 'bun:test'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { dropSchemas, freshSchema, urlWithSchema } from '../postgres/server.ts'

const root = path.resolve(import.meta.dir, '..', '..')
const readme = readFileSync(path.join(root, 'README.md'), 'utf8')
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
// Inside the package, so `reflow-ts` resolves to this checkout by self-reference.
const dir = path.join(root, '.tmp', `readme-${process.pid}`)
mkdirSync(dir, { recursive: true })
afterAll(() => rmSync(dir, { recursive: true, force: true }))
afterAll(dropSchemas)
/** The Postgres example's DATABASE_URL: the test server, in a schema of its own. */
const DATABASE_URL = urlWithSchema(freshSchema('reflow_readme'))

/** What each example must print, in README order. */
const expectations: string[][] = [
  ['completed ', 'true ch_ORD_1\n', '"charge: ok"', '"fulfill: {\\"shipped\\":true,\\"chargeId\\":\\"ch_ORD_1\\"}"'],
  ['pending\n', 'grace true\n'], // delayed runs and results
  ['approved by ada\n', 'escalated\n', 'waiting\n', 'completed\n'], // sleeping and waiting for events
  ['4 runs\n'], // schedules: 4 quarter-hour slots from two engines (03:00 in Paris is not reached)
  ['completed\n', "{\n  accountId: \"acct:ada@example.com\",\n}", 'null'],
  ['retention: 0 runs and 0 events deleted\n'], // retention
  ['2026-12-30T10:00:00.000Z\n', '1500n\n'], // Upgrading to 0.2: a Date and a BigInt from the previous step
  [], // workflows.ts for the CLI: importing it only defines a workflow
  ['sent 4200 cents to ada\n'], // Outgrowing one machine: the same engine on Postgres (DATABASE_URL below)
]

test('README has the examples this test knows about', () => {
  expect(blocks.length).toBe(expectations.length)
})

blocks.forEach((code, i) => {
  test(`README example ${i + 1} runs and prints what it claims`, async () => {
    const file = path.join(dir, `example-${i + 1}.ts`)
    writeFileSync(file, code)
    const child = Bun.spawn(['bun', file], { cwd: dir, stdout: 'pipe', stderr: 'pipe', env: { ...process.env, NO_COLOR: '1', DATABASE_URL } })
    const [stdout, stderr, code_] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
    expect(stderr).toBe('')
    expect(code_).toBe(0)
    for (const expected of expectations[i] ?? []) expect(stdout).toContain(expected)
  })
})
