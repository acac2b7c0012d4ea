/**
 * The package as npm delivers it: `npm pack` the repository, install the tarball with npm into a fresh
 * project outside it, and run the spec's quick start there from plain .mjs under `node` and `bun`,
 * then type-check a consumer .ts file with tsc (nodenext and bundler resolution). This catches a
 * broken exports map, a file missing from "files", and declaration paths consumers cannot resolve.
 *
 * better-sqlite3 is not installed from the registry: it is copied, already built, from this
 * repository's node_modules (its JavaScript, its native addon, and its runtime dependency `bindings`
 * with file-uri-to-path), which saves the minute a source build takes and needs no network. zod
 * is copied the same way, and so is croner, the package's one runtime dependency, which the offline
 * install then finds in place. Everything else comes from the tarball through `npm install`.
 * Needs dist/ built first (`bun run test:node` does it).
 */

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { describeExit, run } from '../node/child.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
const fixtures = fileURLToPath(new URL('./consumer', import.meta.url))
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
// npm inherits npm_* settings from `bun run`/`npm run`; the consumer gets a plain npm.
const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')))

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'reflow-pack-'))
const project = path.join(work, 'consumer')
after(() => fs.rmSync(work, { recursive: true, force: true }))

function npm(args, cwd) {
  return execFileSync('npm', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Copies a package from this repository's node_modules into the consumer's, keeping only what `keep` accepts. */
function copyPackage(name, keep = () => true) {
  const from = path.join(root, 'node_modules', name)
  fs.cpSync(from, path.join(project, 'node_modules', name), {
    recursive: true,
    filter: (source) => keep(path.relative(from, source).split(path.sep).join('/')),
  })
}

/** Every file path in an exports map, whatever the nesting of subpaths and conditions. */
function exportTargets(exports) {
  if (typeof exports === 'string') return [exports]
  return Object.values(exports).flatMap(exportTargets)
}

/** The package's bins as [name, target] pairs. */
function bins() {
  return typeof pkg.bin === 'string' ? [[pkg.name, pkg.bin]] : Object.entries(pkg.bin ?? {})
}

/** Runs a consumer script and parses the one JSON line it prints. */
async function consumer(runtime, script) {
  const args = runtime === 'bun' ? ['--no-install', '--no-env-file', script] : [script]
  const result = await run(runtime, args, { cwd: project })
  assert.equal(result.code, 0, describeExit(result))
  assert.equal(result.lines.length, 1, describeExit(result))
  return JSON.parse(result.lines[0])
}

function assertQuickstart(result, runtime, resolvedTo) {
  assert.equal(result.runtime, runtime)
  assert.ok(result.resolved.endsWith(resolvedTo), `${result.resolved} should end with ${resolvedTo}`)
  assert.ok(result.resolved.includes(`/consumer/node_modules/reflow-ts/`), `${result.resolved} is the installed package`)
  assert.equal(result.status, 'completed')
  const content = 'The article at https://example.com/article'
  const summary = `${content.length} characters`
  assert.deepEqual(result.steps, [
    { name: 'scrape', status: 'completed', output: { content } },
    { name: 'summarize', status: 'completed', output: { summary } },
    { name: 'store', status: 'completed' },
  ])
  assert.deepEqual(result.rows, [{ url: 'https://example.com/article', summary }])
  assert.equal(result.invalidInputRejected, true, 'ValidationError from reflow-ts is the class the engine throws')
}

let tarball
let packed

before(() => {
  // --ignore-scripts: prepack would rebuild dist/, which the caller has just built.
  ;[packed] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', work], root))
  tarball = path.join(work, packed.filename)
  fs.mkdirSync(project)
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2))
  for (const file of fs.readdirSync(fixtures)) fs.copyFileSync(path.join(fixtures, file), path.join(project, file))
})

describe('the packed tarball', () => {
  test('holds the built library, its sources and package.json, and every exports and bin target', () => {
    const files = packed.files.map((f) => f.path)
    const stray = files.filter((f) => !/^(package\.json|README\.md|LICENSE(\.md)?|dist\/.+\.(js|d\.ts)|src\/.+\.(ts|js))$/.test(f))
    assert.deepEqual(stray, [], 'nothing but dist/*.js, dist/*.d.ts, src/ and package metadata')
    for (const target of [...exportTargets(pkg.exports), ...bins().map(([, target]) => target)]) assert.ok(files.includes(target.replace(/^\.\//, '')), `${target} is packed`)
    if (!bins().some(([, target]) => target.includes('src/cli/'))) {
      assert.deepEqual(files.filter((f) => f.startsWith('src/cli/')), [], 'CLI sources only when a bin runs them')
    }
    const cli = files.filter((f) => f.startsWith('dist/cli/'))
    for (const file of ['main.js', 'runtime-node.js']) assert.ok(cli.includes(`dist/cli/${file}`), `dist/cli/${file}: the CLI for Node`)
    assert.deepEqual(cli.filter((f) => !f.endsWith('.js') || f.endsWith('/runtime-bun.js')), [], 'no CLI declarations, no Bun runtime in dist/')
    console.log(`# tarball ${packed.filename}: ${packed.entryCount} files, ${packed.size} bytes packed, ${packed.unpackedSize} unpacked`)
  })

  test('installs with npm into a fresh project', () => {
    // The one runtime dependency, already in place as npm would fetch it (the install is offline).
    copyPackage('croner')
    npm(['install', '--offline', '--no-audit', '--no-fund', tarball], project)
    const installed = JSON.parse(fs.readFileSync(path.join(project, 'node_modules/reflow-ts/package.json'), 'utf8'))
    assert.equal(installed.version, pkg.version)
    assert.equal(fs.existsSync(path.join(project, 'node_modules/better-sqlite3')), false, 'the optional peer is not installed for you')
    const dist = path.join(project, 'node_modules/reflow-ts/dist')
    const tsSpecifiers = fs.readdirSync(dist, { recursive: true })
      .filter((file) => file.endsWith('.d.ts'))
      .filter((file) => /(['"])\.{1,2}\/[^'"]*\.ts\1/.test(fs.readFileSync(path.join(dist, file), 'utf8')))
    assert.deepEqual(tsSpecifiers, [], 'declarations import .js paths, as the JavaScript does')
    // Members marked @internal (the store behind a storage, its raw statements) are not published.
    for (const file of ['storage/sqlite/storage.d.ts', 'storage/memory.d.ts', 'storage/postgres/storage.d.ts']) {
      const declared = fs.readFileSync(path.join(dist, file), 'utf8')
      for (const internal of ['withStatements', 'readonly connection', '[STORE]']) assert.ok(!declared.includes(internal), `${file} hides ${internal}`)
    }
  })

  test('without better-sqlite3, Node imports fine and construction says what to run', async () => {
    const result = await consumer('node', 'missing-driver.mjs')
    assert.equal(result.constructed, false)
    assert.equal(result.code, 'STORAGE')
    assert.equal(result.storageError, true)
    assert.match(result.message, /npm install better-sqlite3/)
    fs.writeFileSync(path.join(project, 'cli-missing-driver.db'), '')
    const cli = await run(path.join(project, 'node_modules/.bin/reflow'), ['runs', '--db', 'cli-missing-driver.db'], { cwd: project })
    assert.equal(cli.code, 1, describeExit(cli))
    assert.match(cli.stderr, /^reflow: .*npm install better-sqlite3\n$/)
  })

  test('without pg, reflow-ts/postgres imports fine and construction (and the CLI) say what to run', async () => {
    assert.equal(fs.existsSync(path.join(project, 'node_modules/pg')), false, 'the optional peer is not installed for you')
    const result = await consumer('node', 'missing-pg.mjs')
    assert.equal(result.constructed, false)
    assert.equal(result.code, 'STORAGE')
    assert.equal(result.storageError, true)
    assert.match(result.message, /npm install pg/)
    const cli = await run(path.join(project, 'node_modules/.bin/reflow'), ['runs', '--db', 'postgres://app@localhost/app'], { cwd: project })
    assert.equal(cli.code, 1, describeExit(cli))
    assert.match(cli.stderr, /^reflow: .*npm install pg.*\n$/)
  })

  test('runs the quick start under node with reflow-ts/sqlite-node and reflow-ts/sqlite', async () => {
    copyPackage('better-sqlite3', (file) =>
      ['', 'package.json', 'build', 'build/Release', 'build/Release/better_sqlite3.node'].includes(file) || file === 'lib' || file.startsWith('lib/'),
    )
    copyPackage('bindings')
    copyPackage('file-uri-to-path')
    copyPackage('zod')
    assertQuickstart(await consumer('node', 'sqlite-node.mjs'), 'node', '/dist/sqlite-node.js')
    assertQuickstart(await consumer('node', 'sqlite.mjs'), 'node', '/dist/sqlite-node.js')
  })

  test('runs the quick start under bun with reflow-ts/sqlite-bun and reflow-ts/sqlite', async () => {
    assertQuickstart(await consumer('bun', 'sqlite-bun.mjs'), 'bun', '/src/sqlite-bun.ts')
    assertQuickstart(await consumer('bun', 'sqlite.mjs'), 'bun', '/src/sqlite-bun.ts')
  })

  test('runs reflow-ts/test under node and bun', async () => {
    for (const [runtime, resolvedTo] of [['node', '/dist/test.js'], ['bun', '/src/test.ts']]) {
      const result = await consumer(runtime, 'test-helper.mjs')
      assert.ok(result.resolved.endsWith(resolvedTo), `${runtime}: ${result.resolved}`)
      assert.deepEqual(
        { status: result.status, chargeId: result.chargeId, shipped: result.shipped, inMemory: result.inMemory },
        { status: 'completed', chargeId: 'ch_test_100', shipped: true, inMemory: true },
      )
    }
  })

  test('runs each bin through node_modules/.bin', async () => {
    for (const [name] of bins()) {
      const result = await run(path.join(project, 'node_modules/.bin', name), ['--version'], { cwd: project })
      assert.equal(result.code, 0, describeExit(result))
      assert.ok(result.stdout.includes(pkg.version), `${name} --version prints ${pkg.version}`)
    }
  })

  test('the reflow bin lists the quick start runs: under node (dist/, better-sqlite3) and bun (src/, bun:sqlite)', async () => {
    const bin = path.join(project, 'node_modules/.bin/reflow')
    for (const [runtime, command, db] of [['node', bin, 'sqlite-node.db'], ['bun', 'bun', 'sqlite-bun.db']]) {
      const args = runtime === 'bun' ? ['--no-install', '--no-env-file', bin] : []
      const result = await run(command, [...args, 'runs', '--db', db, '--json'], { cwd: project })
      assert.equal(result.code, 0, describeExit(result))
      const runs = JSON.parse(result.stdout)
      assert.deepEqual(runs.map((r) => [r.workflow, r.status]), [['process-content', 'completed']], `${runtime}: ${result.stdout}`)
      const version = JSON.parse((await run(command, [...args, 'version', '--json'], { cwd: project })).stdout)
      assert.deepEqual(Object.keys(version), ['name', 'version', runtime], `${runtime} runs the CLI`)
    }
  })

  describe('type-checks a consumer .ts file with tsc', { concurrency: true }, () => {
    for (const resolution of ['nodenext', 'bundler']) {
      test(`moduleResolution ${resolution}`, async () => {
        const tsc = path.join(root, 'node_modules/typescript/bin/tsc')
        const result = await run('node', [tsc, '-p', `tsconfig.${resolution}.json`, '--listFiles'], { cwd: project })
        assert.equal(result.code, 0, describeExit(result))
        const listed = result.lines.map((line) => line.split(path.sep).join('/'))
        for (const file of ['index', 'sqlite', 'sqlite-bun', 'sqlite-node', 'test', 'storage/sqlite/storage', 'core/errors']) {
          assert.ok(listed.some((f) => f.endsWith(`/node_modules/reflow-ts/dist/${file}.d.ts`)), `tsc loaded dist/${file}.d.ts`)
        }
        assert.deepEqual(listed.filter((f) => f.includes('/node_modules/reflow-ts/src/')), [], 'types come from dist/, never src/')
      })
    }
  })
})
