import { afterAll, describe, test } from 'bun:test'
import type { Clock } from '../../src/core/clock.ts'
import { PostgresStorage } from '../../src/postgres.ts'
import { STORE } from '../../src/storage/store.ts'
import { dropSchemas, freshSchema, POSTGRES_URL } from '../postgres/server.ts'
import { adapterContract } from './adapter.contract.ts'
import { storeContract } from './store.contract.ts'

afterAll(dropSchemas)

/** The contract passes its own times: judged on the engine's clock, as on SQLite. */
async function open(schema: string, clock: Clock): Promise<PostgresStorage> {
  const storage = new PostgresStorage(POSTGRES_URL, { schema, clock, timeSource: 'engine', maxConnections: 4 })
  await storage.initialize()
  return storage
}

/** `n` connections initialising one new schema at once, as several processes starting together would. */
function connect(n: number, clock: Clock): Promise<PostgresStorage[]> {
  const schema = freshSchema()
  return Promise.all(Array.from({ length: n }, () => open(schema, clock)))
}

const asynchronous = 'Postgres delivers notifications after the commit, asynchronously, and only for transitions that make work or end runs'

adapterContract({ describe, test }, {
  name: 'PostgresStorage',
  create: (clock) => open(freshSchema(), clock),
  connect,
})

storeContract({ describe, test }, {
  name: 'PostgresStorage',
  create: async (clock) => (await open(freshSchema(), clock))[STORE](),
  connect: async (n, clock) => (await connect(n, clock)).map((storage) => storage[STORE]()),
  skip: [{ reason: asynchronous, tests: ['changes > the version moves with each transition another connection commits'] }],
})
