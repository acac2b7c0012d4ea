/**
 * Entry 'reflow-ts/postgres': PostgresStorage, the same engine on a Postgres server that any number
 * of machines share. The storage itself lives in storage/postgres/; this file only loads `pg` (an
 * optional peer dependency, loaded when a PostgresStorage is constructed, so a missing install fails
 * with what to run). `pg` runs unchanged under Bun and Node.
 */

import { createRequire } from 'node:module'
import { StorageError } from './core/errors.ts'
import type { PgModule } from './storage/postgres/connection.ts'
import {
  PostgresStorageCore,
  type PgPool,
  type PostgresPoolOptions,
  type PostgresStorageOptions,
} from './storage/postgres/storage.ts'

export type { PgPool, PostgresPoolOptions, PostgresStorageOptions }

function loadPg(): PgModule {
  try {
    return createRequire(import.meta.url)('pg') as PgModule
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown }
    if (code === 'MODULE_NOT_FOUND' && String(message).includes("'pg'")) {
      throw new StorageError('reflow-ts/postgres needs the pg package, which is not installed. Run: npm install pg (or bun add pg)', { cause: error })
    }
    throw error
  }
}

/**
 * Durable storage for reflow on Postgres: every engine on every machine that uses the same database
 * and schema shares the work. The tables are created (in schema `reflow` unless you choose one) on
 * first use; `engine.start()` does it for you.
 *
 * @example
 * import { createEngine } from 'reflow-ts'
 * import { PostgresStorage } from 'reflow-ts/postgres'
 *
 * const storage = new PostgresStorage('postgres://app@db.internal/app?schema=billing')
 * const engine = createEngine({ storage, workflows: [pipeline] })
 * await engine.start()
 *
 * // or with your own pg Pool:
 * const shared = new PostgresStorage({ pool, schema: 'billing' })
 */
export class PostgresStorage extends PostgresStorageCore {
  constructor(url: string, options?: PostgresStorageOptions)
  constructor(options: PostgresPoolOptions)
  constructor(target: string | PostgresPoolOptions, options: PostgresStorageOptions = {}) {
    super(target, options, loadPg())
  }
}
