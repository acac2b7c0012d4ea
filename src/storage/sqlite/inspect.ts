/**
 * Inspection and maintenance over a SQLite reflow database, for the `reflow` CLI: list runs, read a
 * run with its step timeline, purge finished runs, count. It works through an open SQLiteStorageCore
 * (any runtime's driver), so opening, readonly mode, validation of the file, statement caching and the
 * write transaction are the storage's own; this module adds only queries (inspect-queries.ts).
 */

import { InvalidArgumentError } from '../../core/errors.ts'
import type { AttemptRecord, RunDetails, RunStatus, StepResult, StepStatus } from '../../core/types.ts'
import type { SqlRow, SqlValue, SqliteStatement } from './driver.ts'
import { optionalNumber as optionalTime, toAttempt, toRun, toStep } from './rows.ts'
import * as q from './inspect-queries.ts'
import type { SQLiteStorageCore } from './storage.ts'

/** A run as `reflow runs` lists it. Times are epoch milliseconds. */
export interface RunSummary {
  id: string
  workflow: string
  status: RunStatus
  /** The run's failed step, or else its last recorded one; null before any step is recorded. */
  step: { name: string; status: StepStatus; attempts: number } | null
  /** The failed step's error, if the run has one. */
  error: string | null
  stepsRecorded: number
  createdAt: number
  updatedAt: number
  startedAt: number | null
  finishedAt: number | null
}

/** Every stored column of a run (columns a file's older schema lacks read as null or 0). */
export type RunRecord = RunDetails

/** One recorded step; `seq` is its recording order (1, 2, …). */
export interface StepRecord extends Omit<StepResult, 'runId'> {
  seq: number
}

export interface RunFilter {
  statuses?: readonly RunStatus[]
  workflow?: string
  limit: number
}

export interface PurgeRequest {
  /** Runs that finished strictly before this time are purged. */
  finishedBefore: number
  /** A subset of completed, failed, cancelled; pending and running runs are never purged. */
  statuses: readonly RunStatus[]
  /** Count what would be removed, remove nothing. */
  dryRun: boolean
}

export interface PurgeResult {
  runs: number
  steps: number
  groups: { workflow: string; status: RunStatus; runs: number; steps: number }[]
}

export interface RunStats {
  counts: { workflow: string; status: RunStatus; runs: number }[]
  oldestPending: { id: string; workflow: string; createdAt: number } | null
  completedLastMinute: number
  completedLastHour: number
}

export interface SQLiteInspector {
  /** Runs newest first. */
  listRuns(filter: RunFilter): Promise<RunSummary[]>
  /** The run and its steps in recording order, or null for an unknown id. */
  getRun(runId: string): Promise<{ run: RunRecord; steps: StepRecord[]; attempts: AttemptRecord[] } | null>
  /** Deletes the selected finished runs and their steps in one transaction (or only counts them). */
  purge(request: PurgeRequest): Promise<PurgeResult>
  /** Counts by workflow and status, the head of the queue, and recent throughput as of `now`. */
  stats(now: number): Promise<RunStats>
  /** Rebuilds the file without free pages (needs a writable storage); sizes in bytes before and after. */
  vacuum(): Promise<{ before: FileSpace; after: FileSpace }>
}

export interface FileSpace {
  bytes: number
  /** Bytes in free pages: space deleted rows left, which later writes reuse before the file grows. */
  free: number
}

const PURGEABLE_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'cancelled']

/**
 * Inspection queries over an open SQLite storage; open it `{ readonly: true }` for anything but purge.
 *
 * @example
 * const storage = new SQLiteStorage('./reflow.db', { readonly: true })
 * const failed = await createSQLiteInspector(storage).listRuns({ statuses: ['failed'], limit: 20 })
 */
export function createSQLiteInspector(storage: SQLiteStorageCore): SQLiteInspector {
  const read = <T>(what: string, fn: (stmt: (sql: string) => SqliteStatement) => T) => storage.withStatements(what, 'read', fn)

  return {
    async listRuns({ statuses, workflow, limit }) {
      if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError(`limit must be a positive integer, got ${String(limit)}`)
      const list = statuses && statuses.length > 0 ? JSON.stringify(statuses) : null
      const name = workflow ?? null
      return read('Listing runs', (stmt) => stmt(q.selectRunSummaries).all(list, list, name, name, limit).map(toSummary))
    },

    async getRun(runId) {
      return read(`Reading run ${runId}`, (stmt) => {
        const row = stmt(q.selectRunDetail).get(runId)
        if (!row) return null
        const attempts = storage.connection.schemaVersion >= 2 ? stmt(q.selectRunAttempts).all(runId).map(toAttempt) : []
        return { run: toRun(row), steps: stmt(q.selectStepTimeline).all(runId).map(toStepRecord), attempts }
      })
    },

    async purge({ finishedBefore, statuses, dryRun }) {
      const refused = statuses.filter((s) => !PURGEABLE_STATUSES.includes(s))
      if (refused.length > 0 || statuses.length === 0) {
        throw new InvalidArgumentError(`purge statuses must be among ${PURGEABLE_STATUSES.join(', ')}, got ${JSON.stringify(statuses)}`)
      }
      const params: SqlValue[] = [JSON.stringify(statuses), finishedBefore]
      const select = (stmt: (sql: string) => SqliteStatement) => stmt(q.selectPurgeable).all(...params).map(toGroup)
      if (dryRun) return read('Counting purgeable runs', (stmt) => summarise(select(stmt)))
      return storage.withStatements('Purging finished runs', 'write', (stmt) => {
        const groups = select(stmt)
        const steps = stmt(q.deletePurgeableSteps).run(...params).changes
        const runs = stmt(q.deletePurgeableRuns).run(...params).changes
        return { runs, steps, groups }
      })
    },

    async vacuum() {
      const space = (stmt: (sql: string) => SqliteStatement): FileSpace => {
        const row = stmt(q.selectFileSpace).get()
        return { bytes: Number(row?.bytes ?? 0), free: Number(row?.free ?? 0) }
      }
      // Not a write transaction: vacuum cannot run inside one; it takes the write lock itself.
      return read('Vacuuming the database', (stmt) => {
        const before = space(stmt)
        stmt(q.vacuum).run()
        return { before, after: space(stmt) }
      })
    },

    async stats(now) {
      return read('Counting runs', (stmt) => {
        const oldest = stmt(q.selectOldestPending).get()
        const recent = stmt(q.selectCompletedSince).get(now - 60_000, now - 3_600_000)
        return {
          counts: stmt(q.selectRunCounts).all().map((row) => ({
            workflow: row.workflow as string,
            status: row.status as RunStatus,
            runs: Number(row.runs),
          })),
          oldestPending: oldest
            ? { id: oldest.id as string, workflow: oldest.workflow as string, createdAt: Number(oldest.created_at_ms) }
            : null,
          completedLastMinute: Number(recent?.last_minute ?? 0),
          completedLastHour: Number(recent?.last_hour ?? 0),
        }
      })
    },
  }
}

function summarise(groups: PurgeResult['groups']): PurgeResult {
  return {
    runs: groups.reduce((sum, g) => sum + g.runs, 0),
    steps: groups.reduce((sum, g) => sum + g.steps, 0),
    groups,
  }
}

function toGroup(row: SqlRow): PurgeResult['groups'][number] {
  return { workflow: row.workflow as string, status: row.status as RunStatus, runs: Number(row.runs), steps: Number(row.steps) }
}

function toSummary(row: SqlRow): RunSummary {
  return {
    id: row.id as string,
    workflow: row.workflow as string,
    status: row.status as RunStatus,
    step: row.step_name == null
      ? null
      : { name: row.step_name as string, status: row.step_status as StepStatus, attempts: Number(row.step_attempts) },
    error: row.step_status === 'failed' ? ((row.step_error as string | null) ?? null) : null,
    stepsRecorded: Number(row.steps_recorded),
    createdAt: Number(row.created_at_ms),
    updatedAt: Number(row.updated_at_ms),
    startedAt: optionalTime(row.started_at_ms),
    finishedAt: optionalTime(row.finished_at_ms),
  }
}

function toStepRecord(row: SqlRow): StepRecord {
  const { runId: _, ...step } = toStep(row)
  return { seq: Number(row.seq), ...step }
}
