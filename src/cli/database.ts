/**
 * Which database a command uses (--db, else REFLOW_DB, else ./reflow.db) and how it opens it.
 * Read-only commands never create or modify the file. Commands that write validate an existing file
 * read-only first, so pointing --db at some other SQLite file fails instead of adding reflow tables.
 */

import { existsSync, statSync } from 'node:fs'
import { SQLiteStorage } from '../sqlite-bun.ts'
import { createSQLiteInspector, type SQLiteInspector } from '../storage/sqlite/inspect.ts'
import { CliError, type FlagSpec, type ParsedArgs } from './args.ts'

export const DB_FLAG: Record<string, FlagSpec> = {
  db: { type: 'string', value: 'PATH', description: 'database file (default: $REFLOW_DB, else ./reflow.db)' },
}

export const JSON_FLAG: Record<string, FlagSpec> = {
  json: { type: 'boolean', description: 'print JSON instead of text' },
}

export function databasePath(args: ParsedArgs, env: Record<string, string | undefined> = process.env): string {
  return args.string('db') ?? (env.REFLOW_DB || './reflow.db')
}

/** Opens an existing reflow database read-only and validates it; fails with one clear line otherwise. */
export async function openReadonly(path: string): Promise<{ storage: SQLiteStorage; inspector: SQLiteInspector }> {
  if (!existsSync(path)) throw missing(path)
  const storage = new SQLiteStorage(path, { readonly: true })
  try {
    await storage.initialize()
  } catch (error) {
    storage.close()
    throw error
  }
  return { storage, inspector: createSQLiteInspector(storage) }
}

/**
 * Opens a database for writing. An existing non-empty file must already be a reflow database; a
 * missing (or empty) one is created only when `create` is set (worker, enqueue).
 */
export async function openWritable(path: string, options: { create: boolean }): Promise<SQLiteStorage> {
  const exists = existsSync(path)
  if (!exists && !options.create) throw missing(path)
  if (exists && statSync(path).size > 0) (await openReadonly(path)).storage.close()
  const storage = new SQLiteStorage(path)
  try {
    await storage.initialize()
  } catch (error) {
    storage.close()
    throw error
  }
  return storage
}

function missing(path: string): CliError {
  return new CliError(`no database at ${path} (pass --db PATH or set REFLOW_DB)`)
}
