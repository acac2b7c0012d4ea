/**
 * Entry 'reflow-ts/sqlite': SQLiteStorage for whichever runtime imports it, so code shared between
 * Bun and Node needs no branching. The package's export conditions pick the implementation: "bun"
 * loads sqlite-bun.ts (bun:sqlite), every other runtime loads sqlite-node.js (better-sqlite3). This
 * file only declares the entry's types; it is never loaded at run time.
 */

import type { SQLiteStorageCore, SQLiteStorageOptions } from './storage/sqlite/storage.ts'

export type { SQLiteStorageOptions }

/**
 * Durable storage for reflow in one SQLite file (WAL mode): bun:sqlite under Bun, better-sqlite3
 * elsewhere (`npm install better-sqlite3`). Both write the same file format.
 *
 * @example
 * import { createEngine } from 'reflow-ts'
 * import { SQLiteStorage } from 'reflow-ts/sqlite'
 *
 * const engine = createEngine({ storage: new SQLiteStorage('./workflows.db'), workflows: [pipeline] })
 * await engine.start()
 */
export declare class SQLiteStorage extends SQLiteStorageCore {
  constructor(path: string, options?: SQLiteStorageOptions)
}
