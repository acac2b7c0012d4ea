/**
 * Retention: deletes finished runs (with their steps and attempts) and events once they are older
 * than the windows of `createEngine({ retention })`, in short batches, one engine at a time.
 *
 *   stopped ──start──▶ armed ──timer (first FIRST_PASS_MS after start, then every INTERVAL_MS)──▶ pass
 *   pass: take the lease ──refused──▶ armed          (another engine on the storage is on it)
 *         └─taken─▶ batches ──done, lost lease or stop──▶ release the lease ──▶ armed
 *   stop: disarm, let the running batch commit, release the lease ──▶ stopped
 *
 * No coordinator: the lease is a row (`reflow_leases` on SQLite) taken by a fenced upsert that
 * succeeds only when it is free, expired or already ours, and renewed before every batch; a pass
 * that cannot renew it stops. Each batch is one transaction of at most BATCH_RUNS runs; between
 * batches the pass pauses about as long as the batch took, so other writers, in this process or
 * another, get the write lock in between. `reflow purge` runs the same batches (purgeInBatches).
 *
 * Pending, running and waiting runs are never deleted (the store's statement guards it). An event
 * older than the events window is deleted even if a waiting run has not received it yet: a wait
 * receives only events younger than the events retention.
 */

import type { Clock, TimerHandle } from '../core/clock.ts'
import { parseDuration } from '../core/duration.ts'
import { InvalidArgumentError } from '../core/errors.ts'
import type { Duration } from '../core/duration.ts'
import type { FinishedStatus, PurgeBatchResult, Store } from '../storage/store.ts'

/** How long finished runs and events are kept; a key left out keeps those forever. */
export interface RetentionPolicy {
  /** Completed runs, counted from when they finished. */
  completed?: Duration
  /** Failed runs, counted from when they finished. */
  failed?: Duration
  /** Cancelled runs, counted from when they were cancelled. */
  cancelled?: Duration
  /** Emitted events, counted from their emit. A wait receives only events younger than this. */
  events?: Duration
}

/** What one retention pass deleted, reported through the `onRetention` hook. */
export interface RetentionPassEvent {
  runs: number
  steps: number
  events: number
  /** Transactions the pass ran. */
  batches: number
  /**
   * The longest batch, from its request to its commit, in milliseconds: an upper bound of how long
   * the pass held the write lock at once (it includes other writes committed in the same transaction).
   */
  longestBatchMs: number
}

/** The first pass runs this long after start(): soon, but not in the way of the engine's first claims. */
export const FIRST_PASS_MS = 5_000
/** Later passes: once a minute. */
export const INTERVAL_MS = 60_000
/** Runs per transaction. */
export const BATCH_RUNS = 1_000
/** Events per transaction (rows without children: cheaper than runs). */
export const BATCH_EVENTS = 5_000
/** The retention lease lasts this long unless renewed (it is renewed before every batch). */
export const LEASE_MS = 60_000
const LEASE_NAME = 'retention'
const MAX_PAUSE_MS = 50

const RUN_KEYS: readonly FinishedStatus[] = ['completed', 'failed', 'cancelled']

export type ResolvedRetention = Partial<Record<FinishedStatus | 'events', number>>

/** Validates `createEngine({ retention })`: null when absent (nothing is ever deleted). */
export function resolveRetention(policy: unknown): ResolvedRetention | null {
  if (policy === undefined) return null
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) {
    throw new InvalidArgumentError(`retention must be an object such as { completed: '7d' }, got ${String(policy)}`)
  }
  const resolved: ResolvedRetention = {}
  for (const [key, value] of Object.entries(policy)) {
    if (key !== 'events' && !RUN_KEYS.includes(key as FinishedStatus)) {
      throw new InvalidArgumentError(`retention: unknown key "${key}" (expected completed, failed, cancelled or events)`)
    }
    if (value !== undefined) resolved[key as keyof ResolvedRetention] = parseDuration(value, `retention.${key}`)
  }
  return resolved
}

type RetentionStore = Required<Pick<Store, 'purgeFinished' | 'purgeEvents' | 'acquireLease' | 'releaseLease'>>

export function supportsRetention(store: Store): store is Store & RetentionStore {
  return typeof store.purgeFinished === 'function' && typeof store.purgeEvents === 'function' &&
    typeof store.acquireLease === 'function' && typeof store.releaseLease === 'function'
}

export interface PurgeTotals extends PurgeBatchResult {
  batches: number
  longestBatchMs: number
}

/**
 * Deletes the selected finished runs in transactions of `batchSize` runs until none is left, or
 * until `beforeBatch` returns false; pauses between batches. Shared by retention and `reflow purge`.
 */
export async function purgeInBatches(
  store: Pick<Store, 'purgeFinished'>,
  request: { statuses: readonly FinishedStatus[]; finishedBefore: number },
  options: { batchSize?: number; beforeBatch?: () => Promise<boolean> } = {},
): Promise<PurgeTotals> {
  if (!store.purgeFinished) throw new InvalidArgumentError('this storage cannot purge runs')
  const limit = options.batchSize ?? BATCH_RUNS
  const totals: PurgeTotals = { runs: 0, steps: 0, groups: [], batches: 0, longestBatchMs: 0 }
  for (;;) {
    if (options.beforeBatch && !(await options.beforeBatch())) return totals
    const started = performance.now()
    const batch = await store.purgeFinished({ ...request, limit })
    const took = performance.now() - started
    totals.batches++
    totals.longestBatchMs = Math.max(totals.longestBatchMs, took)
    totals.runs += batch.runs
    totals.steps += batch.steps
    for (const g of batch.groups) {
      const group = totals.groups.find((t) => t.workflow === g.workflow && t.status === g.status)
      if (group) {
        group.runs += g.runs
        group.steps += g.steps
      } else {
        totals.groups.push({ ...g })
      }
    }
    if (batch.runs < limit) break
    await pause(took)
  }
  totals.groups.sort((a, b) => (a.workflow < b.workflow ? -1 : a.workflow > b.workflow ? 1 : a.status < b.status ? -1 : 1))
  return totals
}

/** Yields to the event loop for about as long as the last batch held the lock (capped). */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.min(MAX_PAUSE_MS, Math.ceil(ms))))
}

export interface RetentionOptions {
  store: Store & RetentionStore
  clock: Clock
  policy: ResolvedRetention
  holder: string
  onPass: (event: RetentionPassEvent) => void
  reportError: (error: unknown) => void
}

export interface Retention {
  start(): void
  /** Disarms the timer, waits for a running pass to stop after its current batch. */
  stop(): Promise<void>
  /** One pass now: null when another holder has the lease. */
  pass(): Promise<RetentionPassEvent | null>
}

export function createRetention({ store, clock, policy, holder, onPass, reportError }: RetentionOptions): Retention {
  let timer: TimerHandle | undefined
  let running: Promise<unknown> | undefined
  let stopping = false

  const renew = async () => !stopping && (await store.acquireLease(LEASE_NAME, holder, clock.now(), LEASE_MS))

  async function pass(): Promise<RetentionPassEvent | null> {
    if (!(await store.acquireLease(LEASE_NAME, holder, clock.now(), LEASE_MS))) return null
    const event: RetentionPassEvent = { runs: 0, steps: 0, events: 0, batches: 0, longestBatchMs: 0 }
    try {
      for (const status of RUN_KEYS) {
        const window = policy[status]
        if (window === undefined) continue
        const done = await purgeInBatches(store, { statuses: [status], finishedBefore: clock.now() - window }, { beforeBatch: renew })
        event.runs += done.runs
        event.steps += done.steps
        event.batches += done.batches
        event.longestBatchMs = Math.max(event.longestBatchMs, done.longestBatchMs)
      }
      const window = policy.events
      while (window !== undefined && (await renew())) {
        const started = performance.now()
        const deleted = await store.purgeEvents(clock.now() - window, BATCH_EVENTS)
        const took = performance.now() - started
        event.events += deleted
        event.batches++
        event.longestBatchMs = Math.max(event.longestBatchMs, took)
        if (deleted < BATCH_EVENTS) break
        await pause(took)
      }
    } finally {
      await store.releaseLease(LEASE_NAME, holder)
    }
    return event
  }

  const arm = (ms: number) => {
    timer = clock.setTimer(ms, () => {
      if (stopping) return
      const current = pass().then((event) => event && onPass(event)).catch(reportError).finally(() => {
        if (running === current) running = undefined
        if (!stopping) arm(INTERVAL_MS)
      })
      running = current
    })
  }

  return {
    start() {
      stopping = false
      if (timer === undefined) arm(FIRST_PASS_MS)
    },
    async stop() {
      stopping = true
      timer?.cancel()
      timer = undefined
      await running
    },
    pass,
  }
}
