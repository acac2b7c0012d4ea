import { afterAll, describe, expect, test } from 'bun:test'
import pg from 'pg'
import { ManualClock, type Clock } from '../../src/core/clock.ts'
import { StorageError } from '../../src/core/errors.ts'
import { PostgresStorage } from '../../src/postgres.ts'
import { STORE } from '../../src/storage/store.ts'
import { dropSchemas, freshSchema, POSTGRES_URL, sql } from '../postgres/server.ts'
import { adapterContract } from './adapter.contract.ts'
import { newRun, request, step, T } from './store-fixtures.ts'
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

describe('PostgresStorage group commit', () => {
  test('writes issued together share a transaction, and one that fails fails alone', async () => {
    const storage = await open(freshSchema(), new ManualClock(T))
    try {
      const store = storage[STORE]()
      // A NUL character is the one text Postgres refuses: that write fails on the server, mid-batch.
      const results = await Promise.allSettled(['a', 'b', 'c'].map((id) => store.createRun(newRun(id, id === 'b' ? { inputJson: '"\u0000"' } : {}))))
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
      expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(StorageError)
      expect((await store.getRun('a'))?.status).toBe('pending')
      expect(await store.getRun('b')).toBeNull()
      expect((await store.getRun('c'))?.status).toBe('pending')
    } finally {
      await storage.close()
    }
  })
})

describe('PostgresStorage schema versions', () => {
  test('a schema a newer reflow-ts wrote is refused with a clear error, and left as it is', async () => {
    const schema = freshSchema()
    await (await open(schema, new ManualClock(T))).close()
    await sql(`insert into "${schema}".reflow_migrations (version, applied_at_ms) values (99, 0)`)
    for (const readonly of [false, true]) {
      const storage = new PostgresStorage(POSTGRES_URL, { schema, readonly })
      try {
        await expect(storage.initialize()).rejects.toThrow(`Schema "${schema}" was written by a newer reflow-ts: schema version 99`)
      } finally {
        await storage.close()
      }
    }
    expect(await sql(`select max(version) as v from "${schema}".reflow_migrations`)).toEqual([{ v: 99 }])
  })
})

describe('PostgresStorage prepared statements', () => {
  test('a connection that lost them (as behind a transaction pooler) is noticed once: statements go unnamed from then on', async () => {
    // Two connections: one listens for changes, the other runs every statement.
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 })
    const storage = new PostgresStorage({ pool, schema: freshSchema(), timeSource: 'engine', clock: new ManualClock(T) })
    try {
      const store = storage[STORE]()
      await store.createRun(newRun('r1'))
      expect((await store.getRun('r1'))?.status).toBe('pending')
      // The server forgets them; pg still thinks this connection has them prepared.
      const client = await pool.connect()
      await client.query('deallocate all')
      client.release()
      expect((await store.getRun('r1'))?.status).toBe('pending')
      await store.createRun(newRun('r2'))
      expect((await store.claim(request({ limit: 5 }))).map((c) => c.id)).toEqual(['r1', 'r2'])
    } finally {
      await storage.close()
      await pool.end()
    }
  })
})

describe('PostgresStorage step records in one group commit', () => {
  test('several runs’ step records issued together: each fenced by its own lease, advancing or completing its run', async () => {
    const storage = await open(freshSchema(), new ManualClock(T))
    try {
      const store = storage[STORE]()
      for (const id of ['a', 'b', 'c', 'd']) await store.createRun(newRun(id))
      const claims = new Map((await store.claim(request())).map((c) => [c.id, { runId: c.id, leaseId: c.leaseId }]))
      const stale = { runId: 'd', leaseId: 'not-its-lease' }
      const results = await Promise.all([
        store.recordStep(claims.get('a')!, step('a'), T + 1, { nextStep: 'b', complete: false }),
        store.recordStep(claims.get('b')!, step('a'), T + 1, { nextStep: null, complete: true }),
        store.recordStep(claims.get('c')!, step('a', { outputJson: '{"big":1}' }), T + 2, { nextStep: 'z', complete: false }),
        store.recordStep(stale, step('a'), T + 1, { nextStep: 'b', complete: false }),
      ])
      expect(results).toEqual([true, true, true, false])
      const runs = await Promise.all(['a', 'b', 'c', 'd'].map((id) => store.getRun(id)))
      expect(runs.map((r) => [r!.status, r!.currentStep, r!.finishedAt])).toEqual([
        ['running', 'b', null],
        ['completed', null, T + 1],
        ['running', 'z', null],
        ['running', 'a', null],
      ])
      expect((await store.getSteps('c')).map((s) => [s.name, s.output, s.updatedAt])).toEqual([['a', { big: 1 }, T]])
      expect(await store.getSteps('d')).toEqual([])
    } finally {
      await storage.close()
    }
  })
})
