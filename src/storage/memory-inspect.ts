/**
 * The store contract's inspection reads (listRuns, stats) over the memory store's rows, with the
 * SQLite store's order and semantics: newest first by (created at, id), keyset cursors.
 */

import type { RunStatus, StepResult } from '../core/types.ts'
import type { RunRow } from './memory-store.ts'
import {
  assertListLimit,
  decodeRunCursor,
  runPage,
  type RunListQuery,
  type RunPage,
  type RunStats,
  type RunSummary,
  type StatsRequest,
} from './store.ts'

type StepsOf = (runId: string) => StepResult[]

export function listMemoryRuns(rows: Iterable<RunRow>, stepsOf: StepsOf, query: RunListQuery): RunPage {
  assertListLimit(query.limit)
  const cursor = query.cursor === undefined ? null : decodeRunCursor(query.cursor)
  const statuses = query.statuses && query.statuses.length > 0 ? new Set<RunStatus>(query.statuses) : null
  const selected = [...rows]
    .filter((run) =>
      (statuses === null || statuses.has(run.status)) &&
      (query.workflow === undefined || run.workflow === query.workflow) &&
      (query.createdAfter === undefined || run.createdAt >= query.createdAfter) &&
      (query.createdBefore === undefined || run.createdAt < query.createdBefore) &&
      (query.idPrefix === undefined || run.id.startsWith(query.idPrefix)) &&
      (query.idempotencyKey === undefined || run.idempotencyKey === query.idempotencyKey) &&
      (cursor === null || run.createdAt < cursor.createdAt || (run.createdAt === cursor.createdAt && run.id < cursor.id)),
    )
    .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
  return runPage(selected, query.limit, (run) => summarise(run, stepsOf(run.id)))
}

export function memoryStats(rows: Iterable<RunRow>, { now, windowsMs }: StatsRequest): RunStats {
  const counts = new Map<string, { workflow: string; status: RunStatus; runs: number }>()
  let oldest: RunRow | null = null
  const all = [...rows]
  for (const run of all) {
    const key = JSON.stringify([run.workflow, run.status])
    const group = counts.get(key) ?? { workflow: run.workflow, status: run.status, runs: 0 }
    group.runs++
    counts.set(key, group)
    if (run.status === 'pending' && (oldest === null || run.createdAt < oldest.createdAt)) oldest = run
  }
  const windows = windowsMs.map((windowMs) => {
    const byWorkflow = new Map<string, { workflow: string; completed: number; failed: number }>()
    for (const run of all) {
      if ((run.status !== 'completed' && run.status !== 'failed') || run.finishedAt === null || run.finishedAt < now - windowMs) continue
      const entry = byWorkflow.get(run.workflow) ?? { workflow: run.workflow, completed: 0, failed: 0 }
      entry[run.status]++
      byWorkflow.set(run.workflow, entry)
    }
    return { windowMs, byWorkflow: [...byWorkflow.values()].sort((a, b) => compare(a.workflow, b.workflow)) }
  })
  return {
    counts: [...counts.values()].sort((a, b) => compare(a.workflow, b.workflow) || compare(a.status, b.status)),
    oldestPending: oldest ? { id: oldest.id, workflow: oldest.workflow, createdAt: oldest.createdAt } : null,
    windows,
  }
}

function summarise(run: RunRow, steps: StepResult[]): RunSummary {
  const step = steps.findLast((s) => s.status === 'failed') ?? steps.at(-1) ?? null
  return {
    id: run.id,
    workflow: run.workflow,
    status: run.status,
    step: step ? { name: step.name, status: step.status, attempts: step.attempts } : null,
    error: step?.status === 'failed' ? step.error : null,
    stepsRecorded: steps.length,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
