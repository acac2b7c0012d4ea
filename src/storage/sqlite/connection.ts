/**
 * One SQLite connection as the store uses it: opened through a SqliteDriver (the runtime entries
 * supply it), validated and migrated on first use, statements prepared once, reads run directly and
 * writes queued for group commit (group-commit.ts): writes issued in the same turn share one
 * `begin immediate` transaction, and each promise settles only after that transaction's COMMIT.
 *
 * Opening never modifies a file it must refuse: a missing directory, a file that is not a SQLite
 * database, one written by a newer reflow-ts (and, readonly, one that is not a reflow database) are
 * refused with a StorageError before anything is written.
 */

import { existsSync, statSync, watch, type FSWatcher } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { InvalidArgumentError, ReflowError, StorageError } from '../../core/errors.ts'
import { errorMessage } from '../../core/json.ts'
import type { SqliteDriver, SqliteOpener, SqliteStatement } from './driver.ts'
import { GroupCommit } from './group-commit.ts'
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from './migrations.ts'
import * as q from './queries.ts'

export interface ConnectionOptions {
  synchronous?: 'normal' | 'full'
  busyTimeoutMs?: number
  readonly?: boolean
}

const MEMORY = ':memory:'
const BUSY_PAUSE_MS = 10

export class SqliteConnection {
  readonly path: string
  readonly readonly: boolean
  private readonly synchronous: 'normal' | 'full'
  private readonly busyTimeoutMs: number
  private driver: SqliteDriver | null
  private readonly statements = new Map<string, SqliteStatement>()
  private initialized = false
  private refusal: StorageError | null = null
  /** The file this connection opened (device and inode), to notice it being deleted or replaced. */
  private identity: string | undefined
  /** The schema version found at open; readonly connections may read older ones. */
  private version = 0
  private watcher: FSWatcher | undefined
  private readonly changeListeners = new Set<() => void>()
  private readonly writes = new GroupCommit({
    begin: () => this.stmt(q.beginImmediate).run(),
    commit: () => this.stmt(q.commit).run(),
    rollback: () => this.rollbackQuietly(),
    wrap: (what, error) => this.wrap(what, error),
  })

  constructor(path: string, open: SqliteOpener, options: ConnectionOptions, private readonly now: () => number) {
    if (typeof path !== 'string' || path === '') {
      throw new InvalidArgumentError(`SQLiteStorage path must be a file path or ":memory:", got ${JSON.stringify(path)}`)
    }
    const { synchronous = 'normal', busyTimeoutMs = 5000, readonly = false } = options
    if (synchronous !== 'normal' && synchronous !== 'full') {
      throw new InvalidArgumentError(`synchronous must be "normal" or "full", got ${JSON.stringify(synchronous)}`)
    }
    if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
      throw new InvalidArgumentError(`busyTimeoutMs must be a non-negative integer, got ${String(busyTimeoutMs)}`)
    }
    this.path = path
    this.synchronous = synchronous
    this.busyTimeoutMs = busyTimeoutMs
    this.readonly = readonly
    if (path !== MEMORY) {
      const dir = dirname(resolve(path))
      if (!existsSync(dir)) throw new StorageError(`Cannot open database "${path}": directory "${dir}" does not exist`)
      if (readonly && !existsSync(path)) throw new StorageError(`Database "${path}" does not exist`)
    }
    try {
      this.driver = open(path, { readonly })
    } catch (error) {
      throw new StorageError(`Cannot open database "${path}": ${errorMessage(error)}`, { cause: error })
    }
  }

  /** How many write transactions (group commits) this connection has committed; initialisation excluded. */
  get transactionCount(): number {
    return this.writes.transactionCount
  }

  /** Whether writes are waiting for the next group commit. */
  get writesPending(): boolean {
    return this.writes.pending
  }

  /** The schema version of the open file (after migration, unless readonly). */
  get schemaVersion(): number {
    this.ready()
    return this.version
  }

  /** Runs `fn` over cached statements as a read: it sees every write whose promise has resolved. */
  async read<T>(what: string, fn: () => T): Promise<T> {
    this.ready()
    try {
      return fn()
    } catch (error) {
      throw this.wrap(what, error)
    }
  }

  /**
   * Queues `fn` as one operation of the next write transaction; resolves after its COMMIT. A closed,
   * refused or readonly connection rejects the promise (never throws): callers chain on it.
   */
  write<T>(what: string, fn: () => T): Promise<T> {
    try {
      this.ready()
      if (this.readonly) throw new StorageError(`${what} failed: "${this.path}" is opened readonly`)
    } catch (error) {
      return Promise.reject(error)
    }
    return this.writes.enqueue(what, fn)
  }

  stmt(sql: string): SqliteStatement {
    let statement = this.statements.get(sql)
    if (!statement) {
      if (!this.driver) throw this.closedError()
      statement = this.driver.prepare(sql)
      this.statements.set(sql, statement)
    }
    return statement
  }

  /**
   * Throws (and refuses every later call) when the path no longer names the file this connection
   * opened: deleted, or replaced by another file. Writes would go on into the unlinked file and
   * vanish with it, so nothing may be acknowledged any more.
   */
  verify(): void {
    this.ready()
    if (this.identity === undefined) return
    const now = fileIdentity(this.path)
    if (now === this.identity) return
    const what = now === undefined ? 'was deleted' : 'was replaced by another file'
    this.refusal = new StorageError(
      `The database file "${this.path}" ${what} while it was open; nothing written from now on could be kept, so this ` +
        'storage refuses all work. Restore the file (or point reflow at the new one) and restart the process',
    )
    this.initialized = false
    throw this.refusal
  }

  dataVersion(): number {
    this.ready()
    return Number(this.stmt(q.pragmaDataVersion).get()!.data_version)
  }

  /**
   * A file-system watch on the WAL file: every commit, by any connection, writes it. One watcher
   * serves every subscriber (Bun closes all watchers of a path when one of them is closed).
   */
  watchChanges(onChange: () => void): (() => void) | undefined {
    this.ready()
    if (this.path === MEMORY) return undefined
    if (!this.watcher) {
      try {
        const watcher = watch(`${resolve(this.path)}-wal`, { persistent: false }, () => {
          for (const l of [...this.changeListeners]) l()
        })
        watcher.on('error', () => this.closeWatcher())
        this.watcher = watcher
      } catch {
        // No WAL file yet, or no notifications on this file system: callers check the version.
        return undefined
      }
    }
    const listener = () => onChange()
    this.changeListeners.add(listener)
    return () => {
      this.changeListeners.delete(listener)
      if (this.changeListeners.size === 0) this.closeWatcher()
    }
  }

  private closeWatcher(): void {
    this.watcher?.close()
    this.watcher = undefined
  }

  close(): void {
    this.closeWatcher()
    if (!this.driver) return
    if (this.writes.pending) this.writes.flush()
    const driver = this.driver
    this.driver = null
    this.statements.clear()
    try {
      driver.close()
    } catch (error) {
      throw new StorageError(`Cannot close database "${this.path}": ${errorMessage(error)}`, { cause: error })
    }
  }

  /** Opens the schema on first use: synchronous, so it runs inside whichever call comes first. */
  ready(): void {
    if (this.initialized) {
      if (!this.driver) throw this.closedError()
      return
    }
    if (this.refusal) throw this.refusal
    const driver = this.driver
    if (!driver) throw this.closedError()
    try {
      // 1. Read only, so a file that must be refused is never modified.
      driver.exec(q.pragmaBusyTimeout(this.busyTimeoutMs))
      const version = this.readVersion()
      if (this.readonly) {
        if (!this.stmt(q.selectRunsTableExists).get()) this.refuse(`"${this.path}" has no reflow tables (another application's database, or one no reflow engine has used yet)`)
        // Older schemas are read as they are: the inspection queries know every released version.
        this.version = Math.max(version, 1)
        this.initialized = true
        return
      }
      // 2. Connection settings; journal_mode is the only one that writes (the file header).
      this.whileBusy(() => driver.exec(q.pragmaJournalModeWal))
      driver.exec(q.pragmaSynchronous(this.synchronous))
      driver.exec(q.pragmaForeignKeysOn)
      // 3. Migrate under the write lock, re-reading the version another process may have advanced.
      if (version < LATEST_SCHEMA_VERSION) this.migrate()
      this.version = LATEST_SCHEMA_VERSION
      if (this.path !== MEMORY) this.identity = fileIdentity(this.path)
      this.initialized = true
    } catch (error) {
      if (error instanceof ReflowError) throw error
      if ((error as { code?: unknown }).code === 'SQLITE_NOTADB' || /not a database/.test(errorMessage(error))) {
        this.refuse(`"${this.path}" is not a SQLite database`, error)
      }
      throw this.wrap('Initializing the database', error)
    }
  }

  /**
   * Runs `fn`, trying again for up to the busy timeout while another connection holds the lock it
   * needs. Switching a new file to WAL takes an exclusive lock that SQLite's busy handler does not
   * wait for, so processes opening a fresh file at once would otherwise fail. Opening is synchronous:
   * the pauses block this thread for 10 ms each.
   */
  private whileBusy(fn: () => void): void {
    for (let waited = 0; ; waited += BUSY_PAUSE_MS) {
      try {
        return fn()
      } catch (error) {
        const busy = (error as { code?: unknown }).code === 'SQLITE_BUSY' || /database is locked/.test(errorMessage(error))
        if (!busy || waited >= this.busyTimeoutMs) throw error
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, BUSY_PAUSE_MS)
      }
    }
  }

  private readVersion(): number {
    if (!this.stmt(q.selectMigrationsTableExists).get()) return 0
    const version = Number(this.stmt(q.selectSchemaVersion).get()?.version ?? 0)
    if (version > LATEST_SCHEMA_VERSION) {
      this.refuse(
        `"${this.path}" was written by a newer reflow-ts: schema version ${version}, this version supports up to ${LATEST_SCHEMA_VERSION}; upgrade reflow-ts`,
      )
    }
    return version
  }

  private migrate(): void {
    const driver = this.driver!
    driver.exec(q.beginImmediate)
    try {
      const current = this.readVersion()
      for (const migration of MIGRATIONS) {
        if (migration.version <= current) continue
        driver.exec(migration.sql)
        this.stmt(q.insertMigration).run(migration.version, this.now())
      }
      driver.exec(q.commit)
    } catch (error) {
      this.rollbackQuietly()
      throw error
    }
  }

  private rollbackQuietly(): void {
    try {
      this.driver?.exec(q.rollback)
    } catch {
      // SQLite already rolled back (some errors end the transaction themselves).
    }
  }

  /** Refuses the file for good: closes the connection untouched and fails every later call the same way. */
  private refuse(message: string, cause?: unknown): never {
    this.refusal = new StorageError(message, cause === undefined ? undefined : { cause })
    this.rollbackQuietly()
    this.statements.clear()
    try {
      this.driver?.close()
    } catch {
      // The refusal is the error worth reporting.
    }
    this.driver = null
    throw this.refusal
  }

  private closedError(): StorageError {
    return new StorageError(`SQLite storage "${this.path}" is closed`)
  }

  private wrap(what: string, error: unknown): unknown {
    if (error instanceof ReflowError) return error
    return new StorageError(`${what} failed on "${this.path}": ${errorMessage(error)}`, { cause: error })
  }
}

/** Device and inode of the file at `path`, or undefined when there is none. */
function fileIdentity(path: string): string | undefined {
  const stat = statSync(path, { throwIfNoEntry: false })
  return stat ? `${stat.dev}:${stat.ino}` : undefined
}
