/**
 * The store contract suite: every transition of storage/store.ts as tests, registered for any store
 * by `storeContract(harness, target)`. Each backend's test file is a few lines. The cases live in
 * store-*.cases.ts by subject; store-fixtures.ts holds what they share.
 *
 * Runtime-agnostic like adapter.contract.ts (no test runner imported, node:assert/strict), so the
 * same suite runs under `bun test` and `node --test`. Stores take `now` as an argument, so the tests
 * pass times explicitly; the ManualClock only stamps what the target itself writes (migrations).
 *
 * Races run over `target.connect(n)`: separate connections to one file, each with its own group
 * commit. A target without connections declares the races skipped: an in-process race that one
 * commit queue serialises cannot fail, so it proves nothing. Change notification tests run across
 * two connections, or on one store for a target without them (its own writes must count there).
 */

import assert from 'node:assert/strict'
import { ManualClock, type Clock } from '../../src/core/clock.ts'
import type { Store } from '../../src/storage/store.ts'
import { registry, type ContractHarness, type Skip } from './harness.ts'
import { claimCases } from './store-claims.cases.ts'
import { connectionCases } from './store-connections.cases.ts'
import { T, type StoreSuite } from './store-fixtures.ts'
import { readCases } from './store-reads.cases.ts'
import { transitionCases } from './store-transitions.cases.ts'
import { waitCases } from './store-waits.cases.ts'
import { retentionCases } from './store-retention.cases.ts'
import { scheduleCases } from './store-schedules.cases.ts'

export type { ContractHarness, Skip }

export interface StoreTarget {
  name: string
  /** A fresh, empty, initialised store; `clock` stamps what the backend writes on its own. */
  create(clock: Clock): Promise<Store>
  /** Backends with connections: `n` stores over one fresh database, each its own connection. */
  connect?(n: number, clock: Clock): Promise<Store[]>
  /** Tests (`group > test`, or a whole group) this target cannot run, with the reason. */
  skip?: readonly Skip[]
}

export function storeContract(h: ContractHarness, target: StoreTarget): void {
  const r = registry(h, target.skip)

  /** Runs `fn` over the stores and closes them, whatever happens. */
  async function using<S extends Store[]>(stores: S, fn: (stores: S) => Promise<void>): Promise<void> {
    try {
      await fn(stores)
    } finally {
      for (const s of stores) s.close?.()
    }
  }

  const suite: StoreSuite = {
    group: r.group,
    test: r.test,
    open: () => target.create(new ManualClock(T)),
    it: (name, fn) => r.test(name, async () => using([await suite.open()], ([s]) => fn(s!))),
    race: (name, n, fn) =>
      r.test(name, async () => {
        assert.ok(target.connect, 'races need target.connect (separate connections); declare them skipped otherwise')
        const conns = await target.connect(n, new ManualClock(T))
        assert.equal(conns.length, n)
        await using(conns, fn)
      }),
    pair: (name, fn) =>
      r.test(name, async () => {
        const stores = target.connect ? await target.connect(2, new ManualClock(T)) : [await suite.open()]
        await using(stores, () => fn(stores[0]!, stores[stores.length - 1]!))
      }),
  }

  h.describe(`store contract: ${target.name}`, () => {
    claimCases(suite)
    transitionCases(suite)
    readCases(suite)
    connectionCases(suite)
    waitCases(suite)
    retentionCases(suite)
    scheduleCases(suite)
    r.checkSkips()
  })
}
