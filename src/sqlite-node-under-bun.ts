/**
 * Entry 'reflow-ts/sqlite-node' under Bun (the exports map's "bun" condition). Bun cannot load
 * better-sqlite3's native addon (oven-sh/bun#4290), installed or not, so the real entry would fail with
 * a message telling a Bun user to `npm install better-sqlite3`, which does not help. This stand-in
 * imports fine and its constructor names the entry to use.
 */

import { StorageError } from './core/errors.ts'
import type { SQLiteStorageOptions } from './storage/sqlite/storage.ts'

export type { SQLiteStorageOptions }

export class SQLiteStorage {
  constructor(_path: string, _options?: SQLiteStorageOptions) {
    throw new StorageError(
      "reflow-ts/sqlite-node needs Node (it uses better-sqlite3, which Bun cannot load). Under Bun, import SQLiteStorage " +
        "from 'reflow-ts/sqlite-bun' (Bun's built-in bun:sqlite; nothing to install) or from 'reflow-ts/sqlite', which " +
        'picks the driver for the runtime.',
    )
  }
}
