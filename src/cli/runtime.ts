/**
 * What the CLI needs from the runtime it runs on. package.json "imports" picks the implementation
 * of `#cli-runtime` by condition, as the exports map does for the library: runtime-bun.ts under Bun
 * (the compiled binary, `bunx --bun reflow`), the built runtime-node.js elsewhere (`npx reflow`).
 * This file declares the shape both provide; it is what TypeScript sees (the "types" condition).
 */

import type { PostgresStorageCore, PostgresStorageOptions } from '../storage/postgres/storage.ts'
import type { SQLiteStorageCore, SQLiteStorageOptions } from '../storage/sqlite/storage.ts'

export interface CliRuntime {
  /** The runtime and its version, for `reflow version`. */
  readonly name: 'bun' | 'node'
  readonly version: string
  /** This package's name and version. */
  readonly packageName: string
  readonly packageVersion: string
  /** SQLiteStorage on this runtime's driver (bun:sqlite or better-sqlite3). */
  readonly SQLiteStorage: new (path: string, options?: SQLiteStorageOptions) => SQLiteStorageCore
  /** PostgresStorage on `pg`, loaded only when a command is given a postgres:// URL (a clear error if it is missing). */
  openPostgres(url: string, options: PostgresStorageOptions): Promise<PostgresStorageCore>
  /**
   * Imports the user's workflows module; `file` is its path as the user wrote it, for messages. A
   * module this runtime cannot load at all fails with a CliError that says what to do instead.
   */
  importModule(url: string, file: string): Promise<Record<string, unknown>>
}

export declare const runtime: CliRuntime
