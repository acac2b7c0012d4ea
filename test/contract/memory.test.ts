import { describe, test } from 'bun:test'
import { STORE } from '../../src/storage/store.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'
import { adapterContract } from './adapter.contract.ts'
import { storeContract } from './store.contract.ts'

const oneProcess = 'memory has no second connection: an in-process race proves nothing'

adapterContract({ describe, test }, {
  name: 'MemoryStorage',
  create: async (clock) => new MemoryStorage({ clock }),
  skip: [{ reason: oneProcess, tests: ['races'] }],
})

storeContract({ describe, test }, {
  name: 'MemoryStorage',
  create: async (clock) => new MemoryStorage({ clock })[STORE](),
  skip: [{ reason: oneProcess, tests: ['races', 'wait races', 'named lease > of several connections taking a free lease at once, exactly one gets it', 'schedules'] }],
})
