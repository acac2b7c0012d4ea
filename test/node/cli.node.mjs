/**
 * The npm `reflow` bin under Node (`npx reflow` in a Node project): src/cli/bin.js runs the CLI built
 * into dist/ on better-sqlite3. The inspection and repair commands work on a database the Bun side
 * made, and print what the Bun side prints; worker and enqueue load a .mjs workflows file, and say
 * they need Bun for a TypeScript one. Run through `bun run test:node`, which builds dist/ first.
 */

import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { describeExit, run, start } from './child.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
const bin = path.join(root, 'src/cli/bin.js')
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflow-node-cli-'))
after(() => fs.rmSync(dir, { recursive: true, force: true }))

const db = path.join(dir, 'reflow.db')
let ids

before(async () => {
  const made = await run('bun', [fileURLToPath(new URL('./fixtures/cli-database.ts', import.meta.url)), db])
  assert.equal(made.code, 0, describeExit(made))
  ids = JSON.parse(made.lines[0])
})

/** `reflow ...args` through the bin under `runtime`, to its end. */
function reflow(runtime, args, options) {
  return run(runtime, [bin, ...args], options)
}

async function json(runtime, args, options) {
  const result = await reflow(runtime, [...args, '--json'], options)
  assert.equal(result.code, 0, describeExit(result))
  return JSON.parse(result.stdout)
}

function copy() {
  const file = path.join(fs.mkdtempSync(path.join(dir, 'copy-')), 'reflow.db')
  fs.copyFileSync(db, file)
  return file
}

describe('the bin under Node', () => {
  test('is a plain JavaScript file run by node', () => {
    assert.ok(fs.readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n'))
  })

  test('runs, show and stats read a database made under Bun and print what Bun prints', async () => {
    for (const args of [['runs'], ['show', ids.oldFailed], ['show', ids.pending], ['stats']]) {
      const [node, bun] = await Promise.all([json('node', [...args, '--db', db]), json('bun', [...args, '--db', db])])
      if (args[0] === 'stats') for (const stats of [node, bun]) delete stats.oldestPending.ageMs
      assert.deepEqual(node, bun, args.join(' '))
    }
    const runs = await reflow('node', ['runs', '--db', db])
    assert.equal(runs.code, 0, describeExit(runs))
    assert.equal(runs.stderr, '')
    assert.match(runs.stdout, new RegExp(`^${ids.oldFailed}  charge\\s+failed\\s+charge\\s+2\\s+10d ago`, 'm'))
    const shown = await reflow('node', ['show', ids.oldFailed, '--db', db])
    assert.equal(shown.code, 0, describeExit(shown))
    assert.match(shown.stdout, /error: {2}card declined/)
    const missing = await reflow('node', ['show', 'nope', '--db', db])
    assert.equal(missing.code, 1)
    assert.equal(missing.stderr, `reflow: no run nope in ${db}\n`)
  })

  test('retry, cancel and purge change the file as the Bun side then sees it', async () => {
    const file = copy()
    assert.equal((await json('node', ['retry', ids.oldFailed, '--db', file])).status, 'pending')
    assert.equal((await json('node', ['cancel', ids.pending, '--db', file])).previousStatus, 'pending')
    const purged = await json('node', ['purge', '--older-than', '7d', '--status', 'completed', '--db', file])
    assert.equal(purged.runs, 1)
    const after = new Map((await json('bun', ['runs', '--db', file])).map((run) => [run.id, run.status]))
    assert.equal(after.get(ids.oldFailed), 'pending')
    assert.equal(after.get(ids.pending), 'cancelled')
    assert.equal(after.has(ids.oldCompleted), false)
  })

  test('version and --help', async () => {
    const version = await reflow('node', ['version'])
    assert.equal(version.stdout, `reflow-ts ${pkg.version} (node ${process.versions.node})\n`)
    assert.deepEqual(await json('node', ['version']), { name: 'reflow-ts', version: pkg.version, node: process.versions.node })
    const help = await reflow('node', ['--help'])
    assert.equal(help.code, 0, describeExit(help))
    assert.match(help.stdout, /^ {2}runs\s+List runs/m)
  })
})

describe('worker and enqueue under Node', () => {
  const WORKFLOW = `import { createWorkflow } from 'reflow-ts'
const input = { '~standard': { version: 1, vendor: 'test', validate: (value) => ({ value }) } }
export const double = createWorkflow({ name: 'double', input }).step('twice', ({ input }) => ({ n: input.n * 2 }))
`
  /** A project with reflow-ts installed (a link to this checkout, as npm would place it) and `file`. */
  function project(file) {
    const project = fs.mkdtempSync(path.join(dir, 'project-'))
    fs.mkdirSync(path.join(project, 'node_modules'))
    fs.symlinkSync(root, path.join(project, 'node_modules', 'reflow-ts'), 'dir')
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'app', type: 'module' }))
    fs.writeFileSync(path.join(project, file), WORKFLOW)
    return project
  }

  test('a TypeScript workflows file: one line saying they need Bun, nothing created', async () => {
    const cwd = project('workflows.ts')
    for (const args of [['enqueue', 'workflows.ts', 'double', '{"n":2}'], ['worker', 'workflows.ts']]) {
      const result = await reflow('node', args, { cwd })
      assert.equal(result.code, 1, describeExit(result))
      assert.equal(result.stdout, '')
      assert.equal(
        result.stderr,
        `reflow: cannot load workflows.ts: Node ${process.version} does not import TypeScript. Run reflow under Bun for it ` +
          '(bunx --bun reflow ..., or the compiled reflow binary), or give it a .js or .mjs file.\n',
      )
      assert.equal(fs.existsSync(path.join(cwd, 'reflow.db')), false)
    }
  })

  test('a .mjs workflows file: enqueue records a run and the worker completes it', async () => {
    const cwd = project('workflows.mjs')
    const enqueued = await reflow('node', ['enqueue', 'workflows.mjs', 'double', '{"n":21}'], { cwd })
    assert.equal(enqueued.code, 0, describeExit(enqueued))
    const id = enqueued.stdout.trim()
    const worker = start('node', [bin, 'worker', 'workflows.mjs', '--poll', '20'], { cwd })
    worker.stdin.end()
    if (!(await worker.lineContaining(`run ${id} completed (double)`))) assert.fail(describeExit(await worker.exited))
    worker.kill('SIGTERM')
    const stopped = await worker.exited
    assert.equal(stopped.code, 0, describeExit(stopped))
    const shown = await json('bun', ['show', id, '--db', path.join(cwd, 'reflow.db')])
    assert.equal(shown.run.status, 'completed')
    assert.deepEqual(shown.steps.map((step) => [step.name, step.output]), [['twice', { n: 42 }]])
  })
})
