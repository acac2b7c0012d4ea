/**
 * Which database a command uses (--db, else REFLOW_DB, else ./reflow.db) and how it opens it: a
 * SQLite file, or a Postgres database given as a postgres:// URL (its `schema` parameter picks the
 * schema; read-only commands run every statement in a read-only transaction).
 * Read-only commands never create or modify the file. worker and enqueue treat a file as the library
 * does: a missing or empty one becomes a reflow database, and another application's SQLite database
 * gets reflow's tables beside its own. retry, cancel and purge need reflow's tables to be there.
 * A path that exists but is not a regular file (/dev/null, a directory, a FIFO) is refused before
 * anything opens it: SQLite would create a journal beside a device, and opening a FIFO blocks.
 */

import { existsSync, statSync, type Stats } from 'node:fs'
import { runtime } from '#cli-runtime'
import { createInspector, type Inspector } from '../inspect/inspector.ts'
import { STORE } from '../storage/store.ts'
import type { SQLiteStorageCore } from '../storage/sqlite/storage.ts'
import type { PostgresStorageCore } from '../storage/postgres/storage.ts'
import type { WorkflowRun } from '../core/types.ts'
import { CliError, runIdArgument, type FlagSpec, type ParsedArgs } from './args.ts'

export const DB_FLAG: Record<string, FlagSpec> = {
  db: { type: 'string', value: 'PATH|URL', description: 'SQLite file or postgres:// URL (default: $REFLOW_DB, else ./reflow.db)' },
}

/** A database a command opened: a SQLite file or a Postgres schema. */
export type CliStorage = SQLiteStorageCore | PostgresStorageCore

/** A postgres:// or postgresql:// URL rather than a file path. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db)
}

/** The database as messages name it: the file's path, or the URL without its password and the schema. */
export function databaseName(storage: CliStorage): string {
  return 'path' in storage ? storage.path : storage.location
}

export const JSON_FLAG: Record<string, FlagSpec> = {
  json: { type: 'boolean', description: 'print JSON instead of text' },
}

export function databasePath(args: ParsedArgs, env: Record<string, string | undefined> = process.env): string {
  return args.string('db') ?? (env.REFLOW_DB || './reflow.db')
}

/** Throws a CliError when `path` exists but is not a regular file (after following symlinks). */
export function refuseNonRegularFile(path: string): void {
  if (isPostgresUrl(path)) return
  let stats: Stats | undefined
  try {
    stats = statSync(path, { throwIfNoEntry: false })
  } catch {
    return // not ours to explain (say, a directory on the way that cannot be searched): opening will
  }
  if (stats === undefined || stats.isFile()) return
  throw new CliError(`${path} is ${fileKind(stats)}, not a regular file: the database must be a SQLite file`)
}

function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory'
  if (stats.isFIFO()) return 'a FIFO (named pipe)'
  if (stats.isCharacterDevice()) return 'a character device'
  if (stats.isBlockDevice()) return 'a block device'
  if (stats.isSocket()) return 'a socket'
  return 'a special file'
}

/** Opens an existing reflow database read-only and validates it; fails with one clear line otherwise. */
export async function openReadonly(path: string): Promise<{ storage: CliStorage; inspector: Inspector }> {
  refuseNonRegularFile(path)
  if (!isPostgresUrl(path) && !existsSync(path)) throw missing(path)
  const storage = isPostgresUrl(path) ? await runtime.openPostgres(path, { readonly: true }) : new runtime.SQLiteStorage(path, { readonly: true })
  await initialized(storage)
  return { storage, inspector: createInspector(storage[STORE]()) }
}

async function initialized(storage: CliStorage): Promise<void> {
  try {
    await storage.initialize()
  } catch (error) {
    await storage.close()
    throw error
  }
}

/**
 * Opens a database for writing. With `create` (worker, enqueue) this is what the library does: a
 * missing or empty file becomes a reflow database, and reflow's tables are added to an existing
 * SQLite database of another application. Without it, the file must already hold reflow's tables.
 */
export async function openWritable(path: string, options: { create: boolean }): Promise<CliStorage> {
  refuseNonRegularFile(path)
  const postgres = isPostgresUrl(path)
  const exists = postgres || existsSync(path)
  if (!exists && !options.create) throw missing(path)
  if (exists && !options.create) await (await openReadonly(path)).storage.close()
  const storage = postgres ? await runtime.openPostgres(path, {}) : new runtime.SQLiteStorage(path)
  await initialized(storage)
  return storage
}

function missing(path: string): CliError {
  return new CliError(`no database at ${path} (pass --db PATH or set REFLOW_DB)`)
}

/**
 * Applies `transition` (a storage method such as retryRun) to an existing run, closing the
 * database afterwards. Returns the run as it was before; an unknown run or a refused transition is
 * one CliError line naming the run's status and `allowed` (e.g. "failed or cancelled").
 */
export async function transitionRun(
  args: ParsedArgs,
  verb: string,
  allowed: string,
  transition: (storage: CliStorage, runId: string) => Promise<boolean>,
  report: (storage: CliStorage, before: WorkflowRun) => Promise<void> | void,
): Promise<void> {
  const runId = runIdArgument(args)
  const storage = await openWritable(databasePath(args), { create: false })
  try {
    const before = await storage.getRun(runId)
    if (!before) throw new CliError(`no run ${runId} in ${databaseName(storage)}`)
    if (!(await transition(storage, runId))) {
      const now = await storage.getRun(runId)
      throw new CliError(`run ${runId} is ${now?.status ?? before.status}; only ${allowed} runs can be ${verb}`)
    }
    await report(storage, before)
  } finally {
    await storage.close()
  }
}
