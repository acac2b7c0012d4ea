/**
 * The store contract's inspection reads (listRuns, stats) on one SQLite connection, over the SQL in
 * inspect-queries.ts. They read only columns of schema version 1, so a file an older reflow-ts wrote
 * reads as it is when opened readonly.
 */

import type { RunStatus } from '../../core/types.ts'
import {
  assertListLimit,
  decodeRunCursor,
  runPage,
  type RunListQuery,
  type RunPage,
  type RunStats,
  type StatsRequest,
} from '../store.ts'
import type { SqliteConnection } from './connection.ts'
import type { SqlValue } from './driver.ts'
import * as q from './inspect-queries.ts'
import { toSummary } from '../rows.ts'

export function listRunPage(db: SqliteConnection, query: RunListQuery): Promise<RunPage> {
  assertListLimit(query.limit)
  const cursor = query.cursor === undefined ? null : decodeRunCursor(query.cursor)
  const statuses = query.statuses && query.statuses.length > 0 ? query.statuses : null
  const params: SqlValue[] = []
  if (statuses) params.push(JSON.stringify(statuses))
  if (query.workflow !== undefined) params.push(query.workflow)
  if (query.createdAfter !== undefined) params.push(query.createdAfter)
  if (query.createdBefore !== undefined) params.push(query.createdBefore)
  if (query.idPrefix !== undefined) params.push(query.idPrefix, query.idPrefix)
  if (query.idempotencyKey !== undefined) params.push(query.idempotencyKey)
  if (cursor) params.push(cursor.createdAt, cursor.id)
  const sql = q.selectRunPage({
    statuses: statuses === null ? false : statuses.includes('completed') ? 'common' : 'rare',
    workflow: query.workflow !== undefined,
    createdAfter: query.createdAfter !== undefined,
    createdBefore: query.createdBefore !== undefined,
    idPrefix: query.idPrefix !== undefined,
    idempotencyKey: query.idempotencyKey !== undefined,
    cursor: cursor !== null,
  })
  return db.read('Listing runs', () => {
    // One more than the page: whether a next page exists without a second query.
    return runPage(db.stmt(sql).all(...params, query.limit + 1), query.limit, toSummary)
  })
}

export function runStats(db: SqliteConnection, { now, windowsMs }: StatsRequest): Promise<RunStats> {
  return db.read('Counting runs', () => {
    const oldest = db.stmt(q.selectOldestPending).get()
    return {
      counts: db.stmt(q.selectRunCounts).all().map((row) => ({
        workflow: row.workflow as string,
        status: row.status as RunStatus,
        runs: Number(row.runs),
      })),
      oldestPending: oldest
        ? { id: oldest.id as string, workflow: oldest.workflow as string, createdAt: Number(oldest.created_at_ms) }
        : null,
      windows: windowsMs.map((windowMs) => ({
        windowMs,
        byWorkflow: db.stmt(q.selectFinishedSince).all(now - windowMs).map((row) => ({
          workflow: row.workflow as string,
          completed: Number(row.completed),
          failed: Number(row.failed),
        })),
      })),
    }
  })
}
