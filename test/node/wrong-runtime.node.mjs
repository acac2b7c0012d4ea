/**
 * A SQLite entry imported under the other runtime: 'reflow-ts/sqlite-bun' under Node and
 * 'reflow-ts/sqlite-node' under Bun (which cannot load better-sqlite3). Importing works; constructing
 * throws a StorageError naming the entry that runtime should use, and creates no file. Both runtimes
 * load the package by name, through its exports map (Node gets dist/, Bun src/).
 * Run through `bun run test:node`, which builds dist/ first.
 */

import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { describeExit, run } from './child.mjs'

const script = fileURLToPath(new URL('./fixtures/wrong-runtime.mjs', import.meta.url))
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflow-node-wrong-runtime-'))
after(() => fs.rmSync(dir, { recursive: true, force: true }))

async function attempt(runtime, entry) {
  const file = path.join(dir, `${runtime}.db`)
  const result = await run(runtime, [script, entry, file])
  assert.equal(result.code, 0, describeExit(result))
  assert.equal(result.lines.length, 1, describeExit(result))
  return { ...JSON.parse(result.lines[0]), fileCreated: fs.existsSync(file) }
}

test("'reflow-ts/sqlite-bun' under Node: construction says to use reflow-ts/sqlite-node or reflow-ts/sqlite", async () => {
  const found = await attempt('node', 'reflow-ts/sqlite-bun')
  assert.equal(found.runtime, 'node')
  assert.equal(found.imported, true, `importing works: ${found.message}`)
  assert.equal(found.constructed, false)
  assert.equal(found.storageError, true, `a StorageError: ${found.name} ${found.message}`)
  assert.equal(found.code, 'STORAGE')
  assert.match(found.message, /^reflow-ts\/sqlite-bun needs Bun/)
  assert.match(found.message, /'reflow-ts\/sqlite-node'/)
  assert.match(found.message, /'reflow-ts\/sqlite'/)
  assert.equal(found.fileCreated, false)
})

test("'reflow-ts/sqlite-node' under Bun: construction says to use reflow-ts/sqlite-bun, not to npm install", async () => {
  const found = await attempt('bun', 'reflow-ts/sqlite-node')
  assert.equal(found.runtime, 'bun')
  assert.equal(found.constructed, false)
  assert.equal(found.storageError, true, `a StorageError: ${found.name} ${found.message}`)
  assert.match(found.message, /^reflow-ts\/sqlite-node needs Node/)
  assert.match(found.message, /'reflow-ts\/sqlite-bun'/)
  assert.match(found.message, /'reflow-ts\/sqlite'/)
  assert.doesNotMatch(found.message, /npm install/)
  assert.equal(found.fileCreated, false)
})

test('each runtime still gets its own driver through reflow-ts/sqlite', async () => {
  for (const runtime of ['node', 'bun']) {
    const found = await attempt(runtime, 'reflow-ts/sqlite')
    assert.equal(found.constructed, true, `${runtime}: ${found.message}`)
    assert.equal(found.fileCreated, true)
  }
})
