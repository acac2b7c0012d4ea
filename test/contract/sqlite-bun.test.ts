import { afterAll, describe, test } from 'bun:test'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Clock } from '../../src/core/clock.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { STORE } from '../../src/storage/store.ts'
import { adapterContract } from './adapter.contract.ts'
import { storeContract } from './store.contract.ts'

const dirs: string[] = []
afterAll(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })))

function freshFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflow-'))
  dirs.push(dir)
  return path.join(dir, 'reflow.db')
}

async function open(file: string, clock: Clock): Promise<SQLiteStorage> {
  const storage = new SQLiteStorage(file, { clock })
  await storage.initialize()
  return storage
}

/** `n` connections initialising one new file at once, as several processes starting together would. */
function connect(n: number, clock: Clock): Promise<SQLiteStorage[]> {
  const file = freshFile()
  return Promise.all(Array.from({ length: n }, () => open(file, clock)))
}

adapterContract({ describe, test }, {
  name: 'SQLiteStorage (bun:sqlite)',
  create: (clock) => open(freshFile(), clock),
  connect,
})

storeContract({ describe, test }, {
  name: 'SQLiteStorage (bun:sqlite)',
  create: async (clock) => (await open(freshFile(), clock))[STORE](),
  connect: async (n, clock) => (await connect(n, clock)).map((storage) => storage[STORE]()),
})
