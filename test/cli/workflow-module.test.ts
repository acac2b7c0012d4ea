/**
 * Loading the workflows module for `reflow worker` and `reflow enqueue`: a module whose top-level await
 * never settles fails after --import-timeout with an error naming the file (instead of hanging), and a
 * module that calls process.exit while being imported makes reflow exit non-zero saying so (instead of
 * exiting 0 having done nothing). Real files, the compiled binary as a child process.
 */

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { cleanEnv, cli, reflowBinary, removeTempDirs, tempDir } from './helpers.ts'

beforeAll(async () => {
  await reflowBinary()
}, 60_000)
afterAll(removeTempDirs)

const WORKFLOW = `import { createWorkflow } from 'reflow-ts'
const input = { '~standard': { version: 1, vendor: 'test', validate: (value) => ({ value }) } }
export const w = createWorkflow({ name: 'w', input }).step('s', () => 1)
`

/** A project directory holding `name` with a workflow after `prelude` (its top-level code). */
function project(name: string, prelude: string) {
  const dir = tempDir()
  writeFileSync(path.join(dir, name), `${prelude}\n${WORKFLOW}`)
  return { dir, db: path.join(dir, 'reflow.db') }
}

/**
 * Runs reflow to its end, but kills it if it has not exited after `deadlineMs` (the bug being tested
 * is a hang): `hung` says whether it had to.
 */
async function cliWithin(args: string[], cwd: string, deadlineMs = 15_000) {
  const child = Bun.spawn([await reflowBinary(), ...args], { cwd, env: cleanEnv(), stdout: 'pipe', stderr: 'pipe' })
  let hung = false
  const deadline = setTimeout(() => {
    hung = true
    child.kill('SIGKILL')
  }, deadlineMs)
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  clearTimeout(deadline)
  return { code, stdout, stderr, hung }
}

const COMMANDS = {
  worker: (file: string) => ['worker', file],
  enqueue: (file: string) => ['enqueue', file, 'w', '{}'],
}

describe('a top-level await that never settles', () => {
  for (const [command, args] of Object.entries(COMMANDS)) {
    for (const [what, prelude] of [
      ['with nothing pending', 'await new Promise(() => {})'],
      ['with a timer keeping the process alive', 'await new Promise(() => setInterval(() => {}, 60_000))'],
    ] as const) {
      test(`${command}: fails after --import-timeout naming the file (${what})`, async () => {
        const { dir, db } = project('hang.ts', prelude)
        const result = await cliWithin([...args('hang.ts'), '--import-timeout', '300'], dir)
        expect(result.hung).toBe(false)
        expect(result.code).toBe(1)
        expect(result.stdout).toBe('')
        expect(result.stderr).toBe(
          'reflow: hang.ts did not finish loading within 300ms: its top-level code is still waiting (an await that ' +
            'never settles?). Use --import-timeout MS if it is only slow.\n',
        )
        expect(existsSync(db)).toBe(false)
      })
    }
  }

  test('the default timeout and the flag are documented in --help', async () => {
    for (const command of Object.keys(COMMANDS)) {
      const help = await cli([command, '--help'])
      expect(help.stdout).toMatch(/--import-timeout MS\s+how long FILE\.ts may take to load \(default 30000\)/)
    }
  })

  test('a slow module that settles within the timeout loads', async () => {
    const { dir } = project('slow.ts', 'await new Promise((resolve) => setTimeout(resolve, 50))')
    const result = await cliWithin([...COMMANDS.enqueue('slow.ts'), '--import-timeout', '10000'], dir)
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^[0-9a-f-]{36}\n$/)
  })

  test('--import-timeout must be a positive integer', async () => {
    const { dir } = project('hang.ts', '')
    const result = await cli([...COMMANDS.enqueue('hang.ts'), '--import-timeout', 'soon'], { cwd: dir })
    expect(result.code).toBe(2)
    expect(result.stderr).toStartWith('reflow: enqueue: --import-timeout must be an integer >= 1, got "soon"')
  })
})

describe('process.exit while the module is imported', () => {
  for (const [command, args] of Object.entries(COMMANDS)) {
    test(`${command}: exits 1 saying the module exited and reflow did nothing`, async () => {
      const { dir, db } = project('workflows.ts', "console.log('configuring'); process.exit(0)")
      const result = await cliWithin(args('workflows.ts'), dir)
      expect(result.code).toBe(1)
      expect(result.stdout).toBe('configuring\n')
      expect(result.stderr).toBe('reflow: workflows.ts called process.exit(0) while being imported; reflow did nothing\n')
      expect(existsSync(db)).toBe(false)
    })
  }

  test('a non-zero exit code is kept', async () => {
    const { dir } = project('workflows.ts', 'process.exitCode = 0; process.exit(3)')
    const result = await cliWithin(COMMANDS.enqueue('workflows.ts'), dir)
    expect(result.code).toBe(3)
    expect(result.stderr).toBe('reflow: workflows.ts called process.exit(3) while being imported; reflow did nothing\n')
  })
})
