/**
 * The floor: what raw bun:sqlite does on the same file settings as SQLiteStorage (WAL, the same
 * synchronous level, busy timeout, foreign keys), with no engine at all.
 *
 * - insert: one single-row insert per transaction.
 * - claim-then-complete: the bare job-queue loop, one transaction each for
 *   `update … where id = (oldest pending) returning id` and `update … set status = 'done'`.
 */

import { Database } from 'bun:sqlite'
import { freshDb, type Synchronous } from './harness.ts'

function openRaw(synchronous: Synchronous): Database {
  const db = new Database(freshDb('floor.db'), { create: true, readwrite: true })
  db.run('pragma busy_timeout = 5000')
  db.run('pragma journal_mode = wal')
  db.run(`pragma synchronous = ${synchronous}`)
  db.run('pragma foreign_keys = on')
  db.run(`create table jobs (
    id integer primary key,
    status text not null,
    payload text,
    lease_id text,
    created_at_ms integer not null,
    updated_at_ms integer not null
  )`)
  db.run('create index jobs_status_created on jobs (status, created_at_ms)')
  return db
}

/** Single-row insert transactions per second, over about `seconds`. */
export function insertFloor(synchronous: Synchronous, seconds: number): number {
  const db = openRaw(synchronous)
  const insert = db.prepare("insert into jobs (status, payload, created_at_ms, updated_at_ms) values ('pending', ?, ?, ?)")
  let n = 0
  const start = performance.now()
  const end = start + seconds * 1000
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) {
      const now = Date.now()
      insert.run('{"i":1}', now, now)
    }
    n += 100
  }
  const rate = n / ((performance.now() - start) / 1000)
  db.close(true)
  return rate
}

/** Claim-then-complete jobs per second over about `seconds`, each of the two updates its own transaction. */
export function claimCompleteFloor(synchronous: Synchronous, seconds: number): number {
  const db = openRaw(synchronous)
  const backlog = Math.ceil(seconds * 60_000)
  const fill = db.prepare("insert into jobs (status, payload, created_at_ms, updated_at_ms) values ('pending', '{\"i\":1}', ?, ?)")
  db.transaction(() => {
    const now = Date.now()
    for (let i = 0; i < backlog; i++) fill.run(now + i, now + i)
  })()
  const claim = db.prepare(`update jobs set status = 'running', lease_id = ?, updated_at_ms = ?
    where id = (select id from jobs where status = 'pending' order by created_at_ms limit 1) returning id, payload`)
  const complete = db.prepare("update jobs set status = 'done', lease_id = null, updated_at_ms = ? where id = ? and lease_id = ?")
  let n = 0
  const start = performance.now()
  const end = start + seconds * 1000
  while (performance.now() < end && n < backlog) {
    for (let i = 0; i < 50; i++) {
      const lease = crypto.randomUUID()
      const job = claim.get(lease, Date.now()) as { id: number } | null
      if (!job) break
      complete.run(Date.now(), job.id, lease)
      n++
    }
  }
  const rate = n / ((performance.now() - start) / 1000)
  db.close(true)
  return rate
}
