/**
 * The storage contract suite under Node's own runner, against the built package: SQLiteStorage from
 * 'reflow-ts/sqlite-node' (dist/, better-sqlite3) and the contract compiled by prepare.ts. The same
 * suite, case for case, as test/contract/sqlite-bun.test.ts runs under Bun.
 * Run through `bun run test:node`, which builds and compiles first.
 */

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, describe, test } from 'node:test'
import { SQLiteStorage } from 'reflow-ts/sqlite-node'
import { storageContract } from '../../.tmp/node/storage.contract.mjs'

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

storageContract({ describe, test }, {
  name: 'SQLiteStorage (better-sqlite3, Node, built package)',
  create: (clock) => open(freshFile(), clock),
  async connect(n, clock) {
    const file = freshFile()
    // All connections initialise the same new file at once, as several processes starting together would.
    return Promise.all(Array.from({ length: n }, () => open(file, clock)))
  },
})
