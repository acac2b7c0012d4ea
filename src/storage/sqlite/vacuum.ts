/**
 * `reflow vacuum` on a SQLite file: rewrites it without free pages. SQLite-only maintenance (other
 * backends reclaim space their own way), through the storage's own connection and statement cache.
 */

import * as q from './inspect-queries.ts'
import type { SqliteStatement } from './driver.ts'
import type { SQLiteStorageCore } from './storage.ts'

export interface FileSpace {
  bytes: number
  /** Bytes in free pages: space deleted rows left, which later writes reuse before the file grows. */
  free: number
}

/** Rebuilds the file without free pages (needs a writable storage); sizes in bytes before and after. */
export function vacuumFile(storage: SQLiteStorageCore): Promise<{ before: FileSpace; after: FileSpace }> {
  const space = (stmt: (sql: string) => SqliteStatement): FileSpace => {
    const row = stmt(q.selectFileSpace).get()
    return { bytes: Number(row?.bytes ?? 0), free: Number(row?.free ?? 0) }
  }
  // Not a write transaction: vacuum cannot run inside one; it takes the write lock itself.
  return storage.withStatements('Vacuuming the database', 'read', (stmt) => {
    const before = space(stmt)
    stmt(q.vacuum).run()
    return { before, after: space(stmt) }
  })
}
