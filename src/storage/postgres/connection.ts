/**
 * The Postgres side of a store: a `pg` pool for statements and transactions, migrations under an
 * advisory lock, and change notifications.
 *
 * Notifications: after a transition that makes work claimable or finishes a run commits, the store
 * sends one `pg_notify` on the schema's channel, coalesced: while one is in flight, any number of
 * further commits add one more, not one each. One dedicated connection LISTENs; every notification
 * but the store's own moves `version()` and calls the watchers. A lost listening connection is
 * reconnected with backoff, and counts as a change when it comes back (notifications in between
 * are lost): the engine's poll is the safety net either way.
 *
 * Group commit: a transition's one statement (`write`) waits while this store's previous batch is
 * in flight, then goes with every write queued meanwhile in one transaction, so concurrent runs
 * share a commit (the server's commit rate, not the SQL, bounds a commit per statement). Writes of
 * one kind that can be merged (step records: `WriteGroup`) go as one statement. A lone write runs
 * on its own. If a statement of a batch fails, the batch is rolled back and its writes
 * run again one by one, so only the failing one fails. Each write's statement still carries its own
 * fence: sharing a transaction changes when it commits, never what it may write.
 *
 * Faults: every failed statement is a StorageError naming what was being done; a transaction that
 * failed is rolled back and its connection discarded. Nothing here retries a write: the engine
 * does, and decides what a failure means for the run.
 */

import { StorageError } from '../../core/errors.ts'
import { bind, createCompiler, quoteIdentifier, type ClockSource, type Statement } from './sql.ts'
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from './migrations.ts'
import * as q from './queries.ts'

export type Row = Record<string, unknown>

/** What reflow uses of a `pg` query result. */
export interface PgResult {
  rows: Row[]
  rowCount: number | null
}

/** What reflow uses of a `pg` Client or PoolClient. */
export interface PgClient {
  query(config: { text: string; values?: unknown[] }): Promise<PgResult>
  query(text: string): Promise<PgResult>
  on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): unknown
  on(event: 'error' | 'end', listener: (error?: Error) => void): unknown
}

export interface PgPoolClient extends PgClient {
  release(destroy?: Error | boolean): void
}

/** What reflow uses of a `pg` Pool: yours, if you pass one. */
export interface PgPool {
  query(config: { text: string; values?: unknown[] }): Promise<PgResult>
  connect(): Promise<PgPoolClient>
  end(): Promise<void>
  on(event: 'error', listener: (error: Error) => void): unknown
}

/** The `pg` module, as loaded by the entry file. */
export interface PgModule {
  Pool: new (config: Record<string, unknown>) => PgPool
  Client: new (config: Record<string, unknown>) => PgClient & { connect(): Promise<void>; end(): Promise<void> }
}

export interface ConnectionTarget {
  /** A connection string without reflow's own parameters; absent with a user's pool. */
  url?: string
  pool?: PgPool
}

export interface ConnectionOptions {
  schema: string
  /** Named prepared statements (parsed and planned once per connection); off by itself where refused. */
  preparedStatements: boolean
  clock: ClockSource
  readonly: boolean
  /** Connections in the pool reflow makes (not used with your own pool). */
  maxConnections: number
}

/** One transaction's statements. */
export interface Transaction {
  query(source: string, values?: Record<string, unknown>): Promise<PgResult>
}

/** Writes at most in one group commit. */
const MAX_BATCH = 64

/** Writes of one kind that a group commit sends as one statement when there are several. */
export interface WriteGroup {
  /** The one statement for all of their values. */
  merge(values: readonly Record<string, unknown>[]): { source: string; values: Record<string, unknown> }
  /** Each write's own result, from the merged statement's. */
  split(merged: PgResult, values: Record<string, unknown>): PgResult
}

interface QueuedWrite {
  what: string
  source: string
  values: Record<string, unknown>
  group: WriteGroup | undefined
  resolve(result: PgResult): void
  reject(error: unknown): void
}

const RECONNECT_MIN_MS = 100
const RECONNECT_MAX_MS = 5_000

export class PostgresConnection {
  readonly schema: string
  readonly clock: ClockSource
  readonly readonly: boolean
  private readonly compile: (source: string) => Statement
  private readonly pool: PgPool
  private readonly ownsPool: boolean
  private readonly channel: string
  /** This store's notifications carry it, so the listener can tell them from other stores'. */
  private readonly selfId = crypto.randomUUID()
  private closed = false
  private prepared: boolean
  private readonly guarded = new WeakSet<PgClient>()
  private queued: QueuedWrite[] = []
  private flushing = false
  private isReady = false
  private readying: Promise<void> | undefined
  private notifying: 'idle' | 'sending' | 'again' = 'idle'
  private changeVersion = 0
  private readonly watchers = new Set<() => void>()
  private listener: { client: PgClient; close(): Promise<void> } | undefined
  private listening: Promise<void> | undefined
  private reconnectMs = RECONNECT_MIN_MS
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined

  constructor(private readonly pg: PgModule, private readonly target: ConnectionTarget, options: ConnectionOptions) {
    this.schema = options.schema
    this.clock = options.clock
    this.readonly = options.readonly
    this.prepared = options.preparedStatements
    quoteIdentifier(this.schema)
    this.compile = createCompiler(this.schema, this.clock)
    // The schema name is checked by quoteIdentifier: it holds no double quote.
    this.channel = `reflow ${this.schema}`
    if (target.pool) {
      this.pool = target.pool
      this.ownsPool = false
    } else {
      this.pool = new pg.Pool({
        connectionString: target.url,
        max: options.maxConnections,
        // Read-only commands: the server itself refuses any write.
        ...(options.readonly && { options: '-c default_transaction_read_only=on' }),
      })
      this.ownsPool = true
    }
    // An idle pooled connection that the server drops (a restart) must not crash the process: the
    // pool replaces it, and the next statement that fails says so.
    this.pool.on('error', () => {})
  }

  /** Runs one statement outside a transaction (after creating or checking the schema, the first time). */
  async query(what: string, source: string, values: Record<string, unknown> = {}): Promise<PgResult> {
    if (!this.isReady) await this.ready()
    return this.run(what, source, values)
  }

  /**
   * Runs one write statement in the next group commit (see the module comment). Writes of one
   * `group` in the same batch become one statement.
   */
  async write(what: string, source: string, values: Record<string, unknown> = {}, group?: WriteGroup): Promise<PgResult> {
    if (!this.isReady) await this.ready()
    this.assertOpen(what)
    return new Promise((resolve, reject) => {
      this.queued.push({ what, source, values, group, resolve, reject })
      if (this.flushing) return
      this.flushing = true
      // A microtask later: writes issued in the same turn (a batch of slots finishing) go together.
      queueMicrotask(() => void this.flush())
    })
  }

  /** Runs `fn` in one transaction on one pooled connection: committed if it returns, rolled back if it throws. */
  async transaction<T>(what: string, fn: (tx: Transaction) => Promise<T>): Promise<T> {
    if (!this.isReady) await this.ready()
    return this.runTransaction(what, fn)
  }

  /**
   * Creates the schema and applies missing migrations (read-only: checks them), once per store:
   * `initialize()` calls it, and so does the first statement of a store nobody initialised.
   */
  ready(): Promise<void> {
    this.readying ??= this.migrate().then(
      () => void (this.isReady = true),
      (error: unknown) => {
        this.readying = undefined
        throw error
      },
    )
    return this.readying
  }

  private async flush(): Promise<void> {
    while (this.queued.length > 0) {
      const batch = this.queued.splice(0, MAX_BATCH)
      if (batch.length === 1) {
        const [only] = batch as [QueuedWrite]
        await this.run(only.what, only.source, only.values).then(only.resolve, only.reject)
        continue
      }
      let results: PgResult[] | undefined
      try {
        results = await this.runTransaction(`Writing ${batch.length} transitions`, (tx) => this.runBatch(tx, batch))
      } catch {
        // One write's failure must not be the others': each runs again on its own.
        await Promise.all(batch.map((write) => this.run(write.what, write.source, write.values).then(write.resolve, write.reject)))
        continue
      }
      batch.forEach((write, i) => write.resolve(results![i]!))
    }
    this.flushing = false
  }

  /** A batch's statements in one transaction: each write's own, or one for each group of several. */
  private async runBatch(tx: Transaction, batch: readonly QueuedWrite[]): Promise<PgResult[]> {
    const members = new Map<WriteGroup, number[]>()
    batch.forEach((write, i) => write.group && (members.get(write.group) ?? members.set(write.group, []).get(write.group)!).push(i))
    const done: PgResult[] = new Array(batch.length)
    for (let i = 0; i < batch.length; i++) {
      if (done[i]) continue
      const write = batch[i]!
      const together = write.group ? members.get(write.group)! : [i]
      if (together.length === 1) {
        done[i] = await tx.query(write.source, write.values)
        continue
      }
      const merged = write.group!.merge(together.map((j) => batch[j]!.values))
      const result = await tx.query(merged.source, merged.values)
      for (const j of together) done[j] = write.group!.split(result, batch[j]!.values)
    }
    return done
  }

  private async run(what: string, source: string, values: Record<string, unknown> = {}): Promise<PgResult> {
    const statement = this.compile(source)
    this.assertOpen(what)
    try {
      return await this.pool.query(this.queryConfig(statement, values))
    } catch (error) {
      if (!this.refusesPrepared(error)) throw storageError(what, error)
      return this.run(what, source, values)
    }
  }

  /** What pg sends: a named (prepared) statement where allowed and there are parameters. */
  private queryConfig(statement: Statement, values: Record<string, unknown>): { name?: string; text: string; values: unknown[] } {
    const bound = bind(statement, values)
    return this.prepared && bound.length > 0 ? { name: statement.name, text: statement.text, values: bound } : { text: statement.text, values: bound }
  }

  /**
   * A pooler that hands each transaction another server connection (PgBouncer in transaction mode,
   * without prepared statement support) loses or duplicates prepared statements: from then on this
   * store sends unnamed ones, and says whether the failed statement should simply run again.
   */
  private refusesPrepared(error: unknown): boolean {
    const code = (error as { code?: unknown }).code
    if (!this.prepared || (code !== '26000' && code !== '42P05')) return false
    this.prepared = false
    return true
  }

  private async runTransaction<T>(what: string, fn: (tx: Transaction) => Promise<T>): Promise<T> {
    this.assertOpen(what)
    let client: PgPoolClient
    try {
      client = await this.pool.connect()
    } catch (error) {
      throw storageError(what, error)
    }
    const tx: Transaction = {
      query: (source, values = {}) => client.query(this.queryConfig(this.compile(source), values)),
    }
    // A checked-out client's lost connection is an 'error' event the pool does not handle (it does
    // for idle ones): unheard, it would end the process. The failing statement reports it. Once per
    // client, which the pool hands out again and again.
    if (!this.guarded.has(client)) {
      client.on('error', () => {})
      this.guarded.add(client)
    }
    try {
      await client.query('begin')
      const result = await fn(tx)
      await client.query('commit')
      client.release()
      return result
    } catch (error) {
      // The connection may be broken or mid-transaction: roll back if it can, and never reuse it.
      await client.query('rollback').catch(() => {})
      client.release(true)
      if (this.refusesPrepared(error)) return this.runTransaction(what, fn)
      throw storageError(what, error)
    }
  }

  /**
   * Creates the schema and applies missing migrations, once across every process starting at once
   * (an advisory lock per schema); refuses a schema a newer reflow-ts wrote. Read-only, only checks.
   */
  private async migrate(): Promise<void> {
    const now = Date.now()
    const what = `Opening reflow's tables in schema "${this.schema}"`
    if (this.readonly) {
      const found = await this.run(what, q.selectMigrationsTableExists, { qualified: `${quoteIdentifier(this.schema)}.reflow_migrations` })
      if (!found.rows[0]?.found) throw new StorageError(`${what}: there are none (no reflow database in this schema)`)
      this.checkVersion(Number((await this.run(what, q.selectSchemaVersion)).rows[0]?.version ?? 0))
      return
    }
    await this.runTransaction(what, async (tx) => {
      await tx.query(q.lockMigrations, { schema: this.schema })
      await tx.query(q.createSchema(quoteIdentifier(this.schema)))
      await tx.query(q.createMigrationsTable)
      const version = Number((await tx.query(q.selectSchemaVersion)).rows[0]?.version ?? 0)
      this.checkVersion(version)
      for (const migration of MIGRATIONS) {
        if (migration.version <= version) continue
        await tx.query(migration.sql)
        await tx.query(q.insertMigration, { version: migration.version, now })
      }
    })
    // Listening from the start: a change committed right after initialize() must not go unheard.
    this.listen()
    await this.listening
  }

  /** Sends a coalesced change notification; never fails (notifications are best effort). */
  notifyChanged(): void {
    if (this.closed) return
    if (this.notifying !== 'idle') {
      this.notifying = 'again'
      return
    }
    this.notifying = 'sending'
    void this.sendNotification()
  }

  version(): number {
    this.listen()
    return this.changeVersion
  }

  watch(onChange: () => void): () => void {
    this.listen()
    const watcher = () => onChange()
    this.watchers.add(watcher)
    return () => void this.watchers.delete(watcher)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer)
    this.watchers.clear()
    const listener = this.listener
    this.listener = undefined
    await listener?.close().catch(() => {})
    if (this.ownsPool) await this.pool.end().catch(() => {})
  }

  private checkVersion(version: number): void {
    if (version > LATEST_SCHEMA_VERSION) {
      throw new StorageError(
        `Schema "${this.schema}" was written by a newer reflow-ts: schema version ${version}, this version supports up to ${LATEST_SCHEMA_VERSION}; upgrade reflow-ts`,
      )
    }
  }

  private async sendNotification(): Promise<void> {
    try {
      await this.pool.query({ text: 'select pg_notify($1, $2)', values: [this.channel, this.selfId] })
    } catch {
      // Best effort: the other engines' polls find the work anyway.
    }
    if (this.notifying === 'again' && !this.closed) {
      this.notifying = 'sending'
      return this.sendNotification()
    }
    this.notifying = 'idle'
  }

  /** Starts the listening connection, once; failures reconnect in the background. */
  private listen(): void {
    if (this.listening || this.closed || this.readonly) return
    this.listening = this.connectListener().catch(() => this.scheduleReconnect())
  }

  private async connectListener(): Promise<void> {
    let client: PgClient
    let close: () => Promise<void>
    if (this.target.pool) {
      const pooled = await this.target.pool.connect()
      client = pooled
      close = async () => pooled.release(true)
    } else {
      const own = new this.pg.Client({ connectionString: this.target.url })
      own.on('error', () => {})
      await own.connect()
      client = own
      close = () => own.end()
    }
    let lost = false
    const onLost = () => {
      if (lost) return
      lost = true
      if (this.listener?.client === client) this.listener = undefined
      void close().catch(() => {})
      this.scheduleReconnect()
    }
    client.on('error', onLost)
    client.on('end', onLost)
    client.on('notification', (message) => {
      if (message.channel !== this.channel || message.payload === this.selfId) return
      this.changed()
    })
    try {
      await client.query(`listen "${this.channel}"`)
    } catch (error) {
      onLost()
      throw error
    }
    if (this.closed) return void (await close().catch(() => {}))
    this.listener = { client, close }
    if (this.reconnectMs > RECONNECT_MIN_MS) this.changed() // back after a loss: anything may have happened
    this.reconnectMs = RECONNECT_MIN_MS
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined) return
    const delay = this.reconnectMs
    this.reconnectMs = Math.min(RECONNECT_MAX_MS, this.reconnectMs * 2)
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined
      this.listening = this.connectListener().catch(() => this.scheduleReconnect())
    }, delay)
    ;(this.reconnectTimer as { unref?: () => void }).unref?.()
  }

  private changed(): void {
    this.changeVersion++
    for (const watcher of [...this.watchers]) {
      try {
        watcher()
      } catch {
        // A watcher's failure is its own; the others still hear of the change.
      }
    }
  }

  private assertOpen(what: string): void {
    if (this.closed) throw new StorageError(`${what}: the Postgres storage is closed`)
  }
}

function storageError(what: string, error: unknown): StorageError {
  if (error instanceof StorageError) return error
  const message = error instanceof Error ? error.message : String(error)
  return new StorageError(`${what}: ${message}`, { cause: error })
}
