/**
 * Entry 'reflow-ts/sqlite-node': SQLiteStorage on better-sqlite3, for Node. The storage itself lives
 * in storage/sqlite/; this file only supplies the driver. better-sqlite3 is an optional peer
 * dependency, loaded when a SQLiteStorage is constructed, so a missing install fails with what to run.
 */

import { createRequire } from 'node:module'
import type BetterSqlite3 from 'better-sqlite3'
import { StorageError } from './core/errors.ts'
import type { SqlRow, SqlValue, SqliteOpener } from './storage/sqlite/driver.ts'
import { SQLiteStorageCore, type SQLiteStorageOptions } from './storage/sqlite/storage.ts'

export type { SQLiteStorageOptions }

function loadBetterSqlite3(): typeof BetterSqlite3 {
  try {
    return createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown }
    // Only better-sqlite3 itself missing; a broken install (say, a missing dependency of it) says so itself.
    if (code === 'MODULE_NOT_FOUND' && String(message).includes("'better-sqlite3'")) {
      throw new StorageError('reflow-ts/sqlite-node needs the better-sqlite3 package, which is not installed. Run: npm install better-sqlite3', { cause: error })
    }
    throw error
  }
}

function betterSqliteOpener(Database: typeof BetterSqlite3): SqliteOpener {
  return (path, { readonly }) => {
    let db: BetterSqlite3.Database
    try {
      db = new Database(path, readonly ? { readonly: true, fileMustExist: true } : {})
    } catch (error) {
      // The JavaScript loaded but its native addon did not: built for another Node, or never built.
      if (/bindings file|NODE_MODULE_VERSION|better_sqlite3\.node/.test(String((error as Error).message))) {
        throw new Error(`${(error as Error).message}\nbetter-sqlite3's native addon does not load in this Node; run: npm rebuild better-sqlite3`, { cause: error })
      }
      throw error
    }
    return {
      prepare: (sql) => db.prepare<SqlValue[], SqlRow>(sql),
      exec: (sql) => void db.exec(sql),
      close: () => db.close(),
    }
  }
}

/**
 * Durable storage for reflow in one SQLite file (WAL mode), through better-sqlite3
 * (`npm install better-sqlite3`). Same constructor, options and file format as the Bun adapter, so
 * one database can be served by Node and Bun processes alike. The schema is created or migrated on
 * first use; `engine.start()` does it for you.
 *
 * @example
 * import { createEngine } from 'reflow-ts'
 * import { SQLiteStorage } from 'reflow-ts/sqlite-node'
 *
 * const storage = new SQLiteStorage('./workflows.db', { synchronous: 'full' })
 * const engine = createEngine({ storage, workflows: [pipeline] })
 * await engine.start()
 */
export class SQLiteStorage extends SQLiteStorageCore {
  constructor(path: string, options?: SQLiteStorageOptions) {
    super(path, betterSqliteOpener(loadBetterSqlite3()), options)
  }
}
