/**
 * The inspection layer: what the CLI and the dashboard show and the admin actions they offer, over
 * any store (memory, SQLite, …) through the store contract only. It assembles views (a run with its
 * step durations, stats over time windows) and never renders: `reflow runs`, `reflow show`,
 * `reflow stats` and the UI format what it returns.
 */

import { SystemClock, type Clock } from '../core/clock.ts'
import { InvalidArgumentError } from '../core/errors.ts'
import type { AttemptRecord, RunDetails, RunStatus, StepResult } from '../core/types.ts'
import { purgeInBatches } from '../engine/retention.ts'
import type { FinishedStatus, RunListQuery, RunPage, RunStats, ScheduleRow, Store } from '../storage/store.ts'

export type { RunListQuery, RunPage, RunStats, RunSummary, ScheduleRow } from '../storage/store.ts'

/** A run as a detail view shows it: every stored field, and how long it ran once finished. */
export type RunView = RunDetails & { durationMs: number | null }

/** One recorded step; `seq` is its recording order (1, 2, …); `durationMs` from its first attempt to its result. */
export type StepView = Omit<StepResult, 'runId'> & { seq: number; durationMs: number }

export interface RunDetailView {
  run: RunView
  steps: StepView[]
  /** Failed and interrupted attempts, oldest first. */
  attempts: AttemptRecord[]
}

export interface PurgeRequest {
  /** Runs that finished strictly before this time. */
  finishedBefore: number
  /** A non-empty subset of completed, failed, cancelled; pending, running and waiting runs are never purged. */
  statuses: readonly RunStatus[]
  /** Count what would be removed and remove nothing. */
  dryRun: boolean
  /** Runs per delete transaction (default: retention's batch). */
  batchSize?: number
}

export interface PurgeResult {
  runs: number
  steps: number
  /** By workflow and status, sorted. */
  groups: { workflow: string; status: RunStatus; runs: number; steps: number }[]
}

/** Why an action did nothing: the run is unknown, or its status does not allow it. */
export type ActionResult =
  | { ok: true; before: RunDetails }
  | { ok: false; reason: 'not-found' }
  | { ok: false; reason: 'refused'; status: RunStatus }

export interface Inspector {
  /** One page of runs, newest first; pass `nextCursor` back as `cursor` for the next. */
  listRuns(query: RunListQuery): Promise<RunPage>
  /** The run with its steps (and their durations) and attempts, or null for an unknown id. */
  getRun(runId: string): Promise<RunDetailView | null>
  /** Counts by workflow and status, the oldest pending run, completed and failed per window (default: a minute and an hour). */
  stats(request?: { now?: number; windowsMs?: readonly number[] }): Promise<RunStats>
  /** Persisted schedules by id; empty for a store without them. */
  schedules(): Promise<ScheduleRow[]>
  /** pending | running | waiting → cancelled. */
  cancel(runId: string): Promise<ActionResult>
  /** failed | cancelled → pending, resuming at the failed step, or at `fromStep` (it and every later step run again). */
  retry(runId: string, options?: { fromStep?: string }): Promise<ActionResult>
  /** Deletes the selected finished runs in short batched transactions, or with `dryRun` only counts them. */
  purge(request: PurgeRequest): Promise<PurgeResult>
  /** Stores an event (JSON text as stored, or null) and wakes the runs waiting for it. */
  emit(name: string, key: string, payloadJson: string | null, idempotencyKey?: string): Promise<{ id: number; created: boolean; payloadJson: string | null }>
}

export const DEFAULT_WINDOWS_MS: readonly number[] = [60_000, 3_600_000]
const PURGEABLE: readonly RunStatus[] = ['completed', 'failed', 'cancelled']
const DRY_RUN_PAGE = 1_000

/**
 * The inspection layer over a store (from a built-in storage: `storage[STORE]()`).
 *
 * @example
 * const inspector = createInspector(storage[STORE]())
 * const { runs, nextCursor } = await inspector.listRuns({ statuses: ['failed'], limit: 20 })
 */
export function createInspector(store: Store, options: { clock?: Clock } = {}): Inspector {
  const clock = options.clock ?? SystemClock
  const listRuns = (query: RunListQuery): Promise<RunPage> => {
    if (!store.listRuns) throw new InvalidArgumentError('this storage cannot list runs')
    return store.listRuns(query)
  }

  const action = async (runId: string, transition: () => Promise<boolean>): Promise<ActionResult> => {
    const before = await store.getRun(runId)
    if (!before) return { ok: false, reason: 'not-found' }
    if (await transition()) return { ok: true, before }
    const after = await store.getRun(runId)
    return { ok: false, reason: 'refused', status: after?.status ?? before.status }
  }

  return {
    listRuns,

    async getRun(runId) {
      const run = await store.getRun(runId)
      if (!run) return null
      const [steps, attempts] = await Promise.all([store.getSteps(runId), store.getAttempts(runId)])
      const durationMs = run.startedAt !== null && run.finishedAt !== null ? run.finishedAt - run.startedAt : null
      return {
        run: { ...run, durationMs },
        steps: steps.map(({ runId: _, ...step }, i) => ({ seq: i + 1, ...step, durationMs: step.updatedAt - step.createdAt })),
        attempts,
      }
    },

    async stats(request = {}) {
      if (!store.stats) throw new InvalidArgumentError('this storage cannot count runs')
      return store.stats({ now: request.now ?? clock.now(), windowsMs: request.windowsMs ?? DEFAULT_WINDOWS_MS })
    },

    async schedules() {
      return store.schedules ? store.schedules.list() : []
    },

    cancel: (runId) => action(runId, () => store.cancel(runId, clock.now())),

    retry: (runId, options = {}) => action(runId, () => store.retry(runId, clock.now(), options)),

    async purge({ finishedBefore, statuses, dryRun, batchSize }) {
      const refused = statuses.filter((s) => !PURGEABLE.includes(s))
      if (refused.length > 0 || statuses.length === 0) {
        throw new InvalidArgumentError(`purge statuses must be among ${PURGEABLE.join(', ')}, got ${JSON.stringify(statuses)}`)
      }
      if (dryRun) return countPurgeable(listRuns, statuses, finishedBefore)
      const totals = await purgeInBatches(store, { statuses: statuses as FinishedStatus[], finishedBefore }, batchSize === undefined ? {} : { batchSize })
      return { runs: totals.runs, steps: totals.steps, groups: sortGroups(totals.groups) }
    },

    emit(name, key, payloadJson, idempotencyKey) {
      return store.emit({ name, key, payloadJson, idempotencyKey: idempotencyKey ?? null, now: clock.now() })
    },
  }
}

/** A dry run: pages through the runs of those statuses and counts those finished before the time. */
async function countPurgeable(
  listRuns: (query: RunListQuery) => Promise<RunPage>,
  statuses: readonly RunStatus[],
  finishedBefore: number,
): Promise<PurgeResult> {
  const groups = new Map<string, PurgeResult['groups'][number]>()
  let cursor: string | null = null
  do {
    const page: RunPage = await listRuns({ statuses, limit: DRY_RUN_PAGE, ...(cursor !== null && { cursor }) })
    for (const run of page.runs) {
      if (run.finishedAt === null || run.finishedAt >= finishedBefore) continue
      const key = JSON.stringify([run.workflow, run.status])
      const group = groups.get(key) ?? { workflow: run.workflow, status: run.status, runs: 0, steps: 0 }
      group.runs++
      group.steps += run.stepsRecorded
      groups.set(key, group)
    }
    cursor = page.nextCursor
  } while (cursor !== null)
  const sorted = sortGroups([...groups.values()])
  return { runs: sorted.reduce((n, g) => n + g.runs, 0), steps: sorted.reduce((n, g) => n + g.steps, 0), groups: sorted }
}

function sortGroups<G extends { workflow: string; status: string }>(groups: G[]): G[] {
  const key = (g: G) => `${g.workflow}\u0000${g.status}`
  return [...groups].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
}
