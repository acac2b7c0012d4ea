/**
 * The public storage contract from the documentation: implement it to run reflow on your own
 * backend. The built-in storages (SQLiteStorage on Bun or Node, MemoryStorage) implement it too, and
 * `test/contract/adapter.contract.ts` checks them against it. The engine itself works through the
 * richer internal store (store.ts); `wrapAdapter` (wrap-adapter.ts) turns an adapter of yours into one,
 * with in-process fallbacks for what these methods cannot express (see there).
 *
 * Ground rules for every method:
 * - One call is one atomic state transition: it happens completely or not at all.
 * - Terminal statuses (completed, failed, cancelled) are final: no method here moves a run out of
 *   one, except the optional `retryRun`.
 * - Fencing: a write that carries a lease id applies only while the run is `running` under exactly
 *   that lease id, and reports whether it applied. A worker that lost its lease can never record a
 *   result or change the run's status.
 * - Values are stored as JSON (core/json.ts): what comes back equals what a JSON round trip gives.
 * - Times are epoch milliseconds from the adapter's Clock (the engine passes the same one).
 */

import type { ClaimedRun, CreateRunResult, RunStatus, StepResult, WorkflowRun } from '../core/types.ts'

export interface StorageAdapter {
  /**
   * Prepares the storage (creates or migrates the schema). Idempotent; safe when several processes
   * call it at once. `engine.start()` calls it; call it yourself before `tick()` without `start()`.
   */
  initialize(): Promise<void>

  /**
   * Inserts a new `pending` run, claimable at once (whatever its `createdAt`). When
   * `run.idempotencyKey` is set and a run of the same workflow already has that key, nothing is
   * written and the existing run is returned with `created: false` (the caller compares inputs).
   * Atomic with respect to concurrent creators: of several racing calls with one key, exactly one
   * creates.
   */
  createRun(run: WorkflowRun): Promise<CreateRunResult>

  /**
   * Claims the claimable run among `workflowNames` that has waited longest: a `pending` run (waiting
   * since its creation, or since it was handed back), or, when `staleBefore` is given, a `running`
   * run whose lease was last renewed before `staleBefore` (a crashed worker's). Without
   * `staleBefore`, running runs are never claimed. The claim sets status `running`, a fresh lease id
   * and the renewal time to now, in one transaction, so of several concurrent claimers exactly one
   * gets each run. Returns null when nothing is claimable.
   */
  claimNextRun(workflowNames: readonly string[], staleBefore?: number): Promise<ClaimedRun | null>

  /**
   * Renews the lease: sets its renewal time to now if the run is still `running` under `leaseId`, so
   * claims stay away from it for another staleness window. Returns false when the lease is gone
   * (reclaimed, cancelled, finished, handed back), telling the worker to stop.
   */
  heartbeatRun(runId: string, leaseId: string): Promise<boolean>

  /** The run, or null for an unknown id. */
  getRun(runId: string): Promise<WorkflowRun | null>

  /** All recorded step results of a run, in the order they were first recorded; one query. */
  getStepResults(runId: string): Promise<StepResult[]>

  /**
   * Records (or replaces) the result of step `result.name` of run `result.runId`. With `leaseId`,
   * applies only while the run is `running` under that lease, and returns false otherwise (fenced).
   * Without it, applies only if the run exists.
   */
  saveStepResult(result: StepResult, leaseId?: string): Promise<boolean>

  /**
   * Sets a run's status without a lease check (used for cancellation) and releases any lease;
   * `pending` makes the run claimable again at once, and a run left `running` without a lease is
   * stale at once (the next claim with `staleBefore` takes it over). Returns false for an unknown
   * run or one already in a terminal status.
   */
  updateRunStatus(runId: string, status: RunStatus): Promise<boolean>

  /**
   * Sets a run's status if it is still `running` under `leaseId` (fenced). Any status but `running`
   * also releases the lease; `pending` hands the run back, claimable again at once. Returns whether
   * it applied.
   */
  updateClaimedRunStatus(runId: string, leaseId: string, status: RunStatus): Promise<boolean>

  /**
   * Optional: moves a failed or cancelled run back to `pending`, deleting its failed step results so
   * the run resumes at the step that failed. `engine.retry()` needs it on a custom adapter.
   */
  retryRun?(runId: string): Promise<boolean>

  /** Optional: releases the adapter's resources. */
  close?(): void
}
