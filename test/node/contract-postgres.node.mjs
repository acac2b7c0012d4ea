/**
 * The adapter and store contract suites under Node's own runner on PostgresStorage from
 * 'reflow-ts/postgres' (dist/, pg under Node): the same suites, case for case, as
 * test/contract/postgres.test.ts runs under Bun. Each storage gets a fresh schema on the test server
 * (REFLOW_TEST_POSTGRES_URL, else the local one), dropped at the end.
 */

import { after, describe, test } from 'node:test'
import pg from 'pg'
import { PostgresStorage } from 'reflow-ts/postgres'
import { adapterContract } from '../../.tmp/node/adapter.contract.mjs'
import { storeContract } from '../../.tmp/node/store.contract.mjs'

const STORE = Symbol.for('reflow.store')
const URL_ = process.env.REFLOW_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test'
const schemas = []

after(async () => {
  const client = new pg.Client({ connectionString: URL_ })
  await client.connect()
  await client.query(schemas.map((s) => `drop schema if exists "${s}" cascade`).join('; '))
  await client.end()
})

function freshSchema() {
  const schema = `reflow_node_${process.pid}_${schemas.length}_${Math.random().toString(36).slice(2, 8)}`
  schemas.push(schema)
  return schema
}

async function open(schema, clock) {
  const storage = new PostgresStorage(URL_, { schema, clock, timeSource: 'engine', maxConnections: 4 })
  await storage.initialize()
  return storage
}

function connect(n, clock) {
  const schema = freshSchema()
  return Promise.all(Array.from({ length: n }, () => open(schema, clock)))
}

const name = 'PostgresStorage (pg, Node, built package)'
const asynchronous = 'Postgres delivers notifications after the commit, asynchronously, and only for transitions that make work or end runs'

adapterContract({ describe, test }, { name, create: (clock) => open(freshSchema(), clock), connect })

storeContract({ describe, test }, {
  name,
  create: async (clock) => (await open(freshSchema(), clock))[STORE](),
  connect: async (n, clock) => (await connect(n, clock)).map((storage) => storage[STORE]()),
  skip: [{ reason: asynchronous, tests: ['changes > the version moves with each transition another connection commits'] }],
})
