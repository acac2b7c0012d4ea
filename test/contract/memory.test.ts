import { describe, test } from 'bun:test'
import { MemoryStorage } from '../../src/storage/memory.ts'
import { storageContract } from './storage.contract.ts'

storageContract({ describe, test }, {
  name: 'MemoryStorage',
  create: async (clock) => new MemoryStorage({ clock }),
})
