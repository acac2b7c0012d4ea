/**
 * The adapter and store contract suites under Node's own runner, against the built package:
 * SQLiteStorage from 'reflow-ts/sqlite-node' (dist/, better-sqlite3) and the contracts compiled by
 * prepare.ts. The same suites, case for case, as test/contract/sqlite-bun.test.ts runs under Bun.
 * Run through `bun run test:node`, which builds and compiles first.
 */

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, describe, test } from 'node:test'
import { SQLiteStorage } from 'reflow-ts/sqlite-node'
import { adapterContract } from '../../.tmp/node/adapter.contract.mjs'
import { storeContract } from '../../.tmp/node/store.contract.mjs'

/** The internal store behind a built-in storage (storage/store.ts STORE, a registered symbol). */
const STORE = Symbol.for('reflow.store')

const dirs = []
after(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })))

function freshFile() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflow-node-'))
  dirs.push(dir)
  return path.join(dir, 'reflow.db')
}

async function open(file, clock) {
  const storage = new SQLiteStorage(file, { clock })
  await storage.initialize()
  return storage
}

/** `n` connections initialising one new file at once, as several processes starting together would. */
function connect(n, clock) {
  const file = freshFile()
  return Promise.all(Array.from({ length: n }, () => open(file, clock)))
}

const name = 'SQLiteStorage (better-sqlite3, Node, built package)'

adapterContract({ describe, test }, {
  name,
  create: (clock) => open(freshFile(), clock),
  connect,
})

storeContract({ describe, test }, {
  name,
  create: async (clock) => (await open(freshFile(), clock))[STORE](),
  connect: async (n, clock) => (await connect(n, clock)).map((storage) => storage[STORE]()),
})
