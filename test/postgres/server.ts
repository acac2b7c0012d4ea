/**
 * The Postgres server the Postgres suites run against: REFLOW_TEST_POSTGRES_URL, else this project's
 * machines' local server (scripts/test.sh starts one on a machine without it). Every suite isolates
 * itself in fresh schemas, dropped when its process ends.
 */

import pg from 'pg'

export const POSTGRES_URL = process.env.REFLOW_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test'

const made: string[] = []

/** A schema name no other suite or run uses. */
export function freshSchema(prefix = 'reflow_test'): string {
  const schema = `${prefix}_${process.pid}_${made.length}_${Math.random().toString(36).slice(2, 8)}`
  made.push(schema)
  return schema
}

/** The test URL with a schema parameter. */
export function urlWithSchema(schema: string): string {
  const url = new URL(POSTGRES_URL)
  url.searchParams.set('schema', schema)
  return url.toString()
}

/** Runs SQL on the server with a short-lived client. */
export async function sql<T extends Record<string, unknown> = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: POSTGRES_URL })
  await client.connect()
  try {
    return (await client.query(text, values)).rows as T[]
  } finally {
    await client.end()
  }
}

/**
 * Drops the test schemas of processes that are gone (a suite killed before its afterAll, or one
 * whose hooks did not run): their names carry the pid that made them. Schemas of live processes (a
 * suite running beside this one) are left alone. scripts/test.sh calls it at the end.
 */
export async function dropStaleSchemas(): Promise<number> {
  const rows = await sql<{ nspname: string }>(`select nspname from pg_namespace where nspname ~ '^reflow_[a-z_]+_[0-9]+_[0-9]+_[a-z0-9]+$'`)
  const stale = rows.map((r) => r.nspname).filter((name) => !alive(Number(name.split('_').at(-3))))
  if (stale.length > 0) await sql(stale.map((s) => `drop schema if exists "${s}" cascade`).join('; '))
  return stale.length
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM'
  }
}

if (import.meta.main) console.log(`dropped ${await dropStaleSchemas()} stale test schemas`)

/** Drops every schema this process made (call from afterAll). */
export async function dropSchemas(): Promise<void> {
  const schemas = made.splice(0)
  if (schemas.length === 0) return
  await sql(schemas.map((s) => `drop schema if exists "${s}" cascade`).join('; '))
}
