/**
 * Entry 'reflow-ts/sqlite-bun': SQLiteStorage on Bun's built-in bun:sqlite, with no native
 * dependency. The storage itself lives in storage/sqlite/; this file only supplies the driver.
 */

import { Database } from 'bun:sqlite'
import type { SqlRow, SqlValue, SqliteOpener } from './storage/sqlite/driver.ts'
import { SQLiteStorageCore, type SQLiteStorageOptions } from './storage/sqlite/storage.ts'

export type { SQLiteStorageOptions }

const openBunSqlite: SqliteOpener = (path, { readonly }) => {
  const db = new Database(path, readonly ? { readonly: true } : { readwrite: true, create: true })
  return {
    prepare(sql) {
      const statement = db.prepare<SqlRow, SqlValue[]>(sql)
      return {
        run: (...params) => ({ changes: statement.run(...params).changes }),
        get: (...params) => statement.get(...params) ?? undefined,
        all: (...params) => statement.all(...params),
      }
    },
    exec: (sql) => void db.run(sql),
    // true: finalize the cached statements and release the file now, not at garbage collection.
    close: () => db.close(true),
  }
}

/**
 * Durable storage for reflow in one SQLite file (WAL mode), through Bun's built-in bun:sqlite.
 * The schema is created or migrated on first use; `engine.start()` does it for you.
 *
 * @example
 * import { createEngine } from 'reflow-ts'
 * import { SQLiteStorage } from 'reflow-ts/sqlite-bun'
 *
 * const storage = new SQLiteStorage('./workflows.db', { synchronous: 'full' })
 * const engine = createEngine({ storage, workflows: [pipeline] })
 * await engine.start()
 */
export class SQLiteStorage extends SQLiteStorageCore {
  constructor(path: string, options?: SQLiteStorageOptions) {
    super(path, openBunSqlite, options)
  }
}
