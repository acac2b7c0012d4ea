/** Store contract cases: persisted schedules (the store's `schedules`) under concurrent engines. */

import assert from 'node:assert/strict'
import { T, WF, type StoreSuite } from './store-fixtures.ts'

export function scheduleCases({ group, race }: StoreSuite): void {
  group('schedules', () => {
    race('of several connections saving the same new schedule at once, each gets it back, and it is stored once', 4, async (conns) => {
      const definition = { id: 'nightly', workflow: WF, specJson: '{"everyMs":60000}', inputJson: null, declared: true, nextSlotMs: T + 60_000 }
      const saved = await Promise.all(conns.map((c) => c.schedules!.upsert(definition, T)))
      for (const row of saved) assert.deepEqual([row.id, row.workflow, row.nextSlotMs, row.lastSlotMs], ['nightly', WF, T + 60_000, null])
      assert.deepEqual((await conns[0]!.schedules!.list()).map((row) => row.id), ['nightly'])
    })
  })
}
