/**
 * THE storage contract. The engine sees storage only through this interface; every adapter
 * (MemoryStorage, SQLiteStorage on Bun or Node, your own) must give these exact semantics, and
 * `test/contract/storage.contract.ts` checks them for each.
 *
 * Ground rules for every method:
 * - One call is one atomic state transition: it happens completely or not at all.
 * - Terminal statuses (completed, failed, cancelled) are final: no method here moves a run out of
 *   one, except `retryRun` from the extensions.
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
   * Inserts a new `pending` run. When `run.idempotencyKey` is set and a run of the same workflow
   * already has that key, nothing is written and the existing run is returned with
   * `created: false` (the caller compares inputs). Atomic with respect to concurrent creators: of
   * several racing calls with one key, exactly one creates.
   */
  createRun(run: WorkflowRun): Promise<CreateRunResult>

  /**
   * Claims the oldest claimable run among `workflowNames`: a `pending` run, or a `running` run whose
   * lease was last renewed before `staleBefore` (a crashed worker's). The claim sets status
   * `running`, a fresh lease id and the renewal time to now, in one transaction, so of several
   * concurrent claimers exactly one gets each run. Returns null when nothing is claimable.
   */
  claimNextRun(workflowNames: readonly string[], staleBefore?: number): Promise<ClaimedRun | null>

  /**
   * Renews the lease: sets its renewal time to now if the run is still `running` under `leaseId`.
   * Returns false when the lease is gone (reclaimed, cancelled, finished), telling the worker to stop.
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
   * Sets a run's status without a lease check (used for cancellation) and releases any lease.
   * Returns false for an unknown run or one already in a terminal status.
   */
  updateRunStatus(runId: string, status: RunStatus): Promise<boolean>

  /**
   * Sets a run's status if it is still `running` under `leaseId` (fenced); a terminal status also
   * releases the lease. Returns whether it applied.
   */
  updateClaimedRunStatus(runId: string, leaseId: string, status: RunStatus): Promise<boolean>
}

/**
 * Optional capabilities the built-in adapters add and the engine uses when present. A custom
 * adapter may implement none of them; the engine then falls back to the methods above.
 */
export interface StorageAdapterExtensions {
  /**
   * Claims up to `limit` runs as `claimNextRun` would, in one transaction, each returned with its
   * recorded `steps` loaded, oldest first.
   */
  claimRuns(workflowNames: readonly string[], staleBefore: number | undefined, limit: number): Promise<ClaimedRun[]>

  /**
   * Records `step` (when given) and moves the run to the terminal `status`, in one transaction, if
   * the run is still `running` under `leaseId`. Returns whether it applied (fenced: all or nothing).
   */
  finishRun(runId: string, leaseId: string, status: 'completed' | 'failed', step?: StepResult): Promise<boolean>

  /**
   * Moves a failed or cancelled run back to `pending`, deleting its failed step results so the run
   * resumes at the step that failed; completed step results are kept. Returns whether it applied.
   */
  retryRun(runId: string): Promise<boolean>

  /**
   * A cheap change check: a number that differs from the one an earlier call returned whenever
   * another connection to the same store has committed a write in between (SQLite's
   * `pragma data_version`). This adapter's own writes may or may not move it (SQLite's do not;
   * MemoryStorage, which has no other connections, counts every write). Synchronous and cheap: it
   * never waits for a lock or writes. A started engine checks it while it has nothing to claim, so a
   * run enqueued by another process is claimed at once instead of at the next poll interval; a
   * change that brings no work costs one empty claim.
   */
  dataVersion(): number

  /**
   * Change notifications, best effort: calls `onChange` soon after a write may have been committed
   * to the store by any connection (SQLite: a file-system notification on the WAL file), until the
   * returned function is called. Notifications may come late, twice, or (on file systems without
   * them) never, so callers still poll `dataVersion()`; what they save is waking up often to poll.
   * `onChange` is never called synchronously from inside an adapter method.
   */
  watchChanges(onChange: () => void): () => void

  /** Releases the adapter's resources (closes the database). Further calls fail. */
  close(): void
}

/** What the engine accepts: the contract, plus whichever extensions the adapter offers. */
export type EngineStorage = StorageAdapter & Partial<StorageAdapterExtensions>
