/**
 * Entry 'reflow-ts/sqlite-bun' outside Bun (the exports map's "default" condition). The real entry,
 * sqlite-bun.ts, imports bun:sqlite statically, which any other runtime refuses while linking with an
 * error that names no way out; this stand-in imports fine and its constructor says which entry to use.
 */

import { StorageError } from './core/errors.ts'
import type { SQLiteStorageOptions } from './storage/sqlite/storage.ts'

export type { SQLiteStorageOptions }

export class SQLiteStorage {
  constructor(_path: string, _options?: SQLiteStorageOptions) {
    throw new StorageError(
      "reflow-ts/sqlite-bun needs Bun (it uses Bun's built-in bun:sqlite). Outside Bun, import SQLiteStorage from " +
        "'reflow-ts/sqlite-node' (Node, with better-sqlite3 installed) or from 'reflow-ts/sqlite', which picks the " +
        'driver for the runtime.',
    )
  }
}
