/**
 * A database deleted or replaced under a running engine: acknowledged runs would vanish with the
 * unlinked file, so the engine says so through onError and takes no more work, and the storage
 * refuses every later call.
 */

import { afterAll, expect, test } from 'bun:test'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { createEngine, createWorkflow, StorageError } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { deferred } from './helpers.ts'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflow-dbfile-'))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

for (const how of ['deleted', 'replaced'] as const) {
  test(`a database file ${how} under a started engine is reported once and refused from then on`, async () => {
    const file = path.join(dir, `${how}.db`)
    const storage = new SQLiteStorage(file)
    const wf = createWorkflow({ name: 'w', input: z.object({}) }).step('a', () => 1)
    const reported = deferred<Error>()
    const errors: Error[] = []
    const engine = createEngine({
      storage,
      workflows: [wf],
      hooks: {
        onError: (error) => {
          errors.push(error)
          reported.resolve(error)
        },
      },
    })
    await engine.start(10)
    const first = await engine.enqueue('w', {})
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true })
    if (how === 'replaced') {
      const other = new SQLiteStorage(file)
      await other.initialize()
      other.close()
    }
    const error = await reported.promise
    expect(error).toBeInstanceOf(StorageError)
    expect(error.message).toContain(how === 'deleted' ? 'was deleted' : 'was replaced')
    expect(error.message).toContain(file)
    await expect(engine.enqueue('w', {})).rejects.toThrow(/refuses all work/)
    await expect(engine.getRunStatus(first.id)).rejects.toThrow(StorageError)
    await engine.stop()
    expect(errors).toHaveLength(1)
    storage.close()
  })
}
