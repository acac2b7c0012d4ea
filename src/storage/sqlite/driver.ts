/**
 * SqliteDriver: the minimal synchronous shape that both bun:sqlite and better-sqlite3 satisfy with a
 * few lines of wrapping. SQLiteStorage is written once against it; only the runtime entry files
 * (src/sqlite-bun.ts, src/sqlite-node.ts) import a real SQLite module.
 */

export type SqlValue = string | number | bigint | null | Uint8Array

export type SqlRow = Record<string, unknown>

export interface SqliteStatement {
  /** Executes the statement; `changes` is the number of rows it inserted, updated or deleted. */
  run(...params: SqlValue[]): { changes: number }
  /** The first row, or undefined when there is none. */
  get(...params: SqlValue[]): SqlRow | undefined
  all(...params: SqlValue[]): SqlRow[]
}

export interface SqliteDriver {
  /** Compiles a statement; callers cache the result. */
  prepare(sql: string): SqliteStatement
  /** Runs one or more statements without results (pragmas, DDL, begin/commit). */
  exec(sql: string): void
  close(): void
}

export interface OpenOptions {
  /** Open without write access; the file must exist and is never created or modified. */
  readonly: boolean
}

/** Opens a database file. Implemented by each runtime entry. */
export type SqliteOpener = (path: string, options: OpenOptions) => SqliteDriver
