/**
 * MemoryStorage: reflow's storage held in plain Maps, for tests and throwaway engines. The engine
 * works through its store (memory-store.ts), which has exactly the semantics of the SQLite store;
 * the spec's StorageAdapter methods are implemented here on the same data.
 */

import { SystemClock, type Clock } from '../core/clock.ts'
import { InvalidArgumentError } from '../core/errors.ts'
import { jsonTextOf } from '../core/json.ts'
import { RunStatuses, TERMINAL_STATUSES, workflowRunOf } from '../core/types.ts'
import type { ClaimedRun, CreateRunResult, RunStatus, StepResult, WorkflowRun } from '../core/types.ts'
import type { StorageAdapter } from './adapter.ts'
import { MemoryStore } from './memory-store.ts'
import { claimPublicRun, createPublicRun } from './public-records.ts'
import { describeOwner, STORE, type Store } from './store.ts'

/** The lease heartbeatRun renews when the run's own length is unknown. */
const DEFAULT_LEASE_MS = 30_000

/**
 * In-memory storage with the same semantics as SQLiteStorage. Nothing survives the process.
 *
 * @example
 * import { createEngine } from 'reflow-ts'
 * import { MemoryStorage } from 'reflow-ts/test'
 *
 * const engine = createEngine({ storage: new MemoryStorage(), workflows: [signup] })
 * await engine.start()
 */
export class MemoryStorage implements StorageAdapter {
  private readonly clock: Clock
  private readonly store = new MemoryStore()
  private readonly owner = describeOwner()

  /** `clock` stamps the StorageAdapter methods' writes; the engine passes its own time to the store. */
  constructor(options: { clock?: Clock } = {}) {
    this.clock = options.clock ?? SystemClock
  }

  /** @internal */
  [STORE](): Store {
    return this.store
  }

  async initialize(): Promise<void> {
    this.store.assertOpen()
  }

  async createRun(run: WorkflowRun): Promise<CreateRunResult> {
    return createPublicRun(this.store, run, this.clock.now())
  }

  async claimNextRun(workflowNames: readonly string[], staleBefore?: number): Promise<ClaimedRun | null> {
    return claimPublicRun(this.store, workflowNames, staleBefore, this.clock.now(), this.owner)
  }

  async heartbeatRun(runId: string, leaseId: string): Promise<boolean> {
    this.store.assertOpen()
    const run = this.store.held({ runId, leaseId })
    if (!run) return false
    const now = this.clock.now()
    run.availableAt = now + ((run.availableAt ?? now) - (run.heartbeatAt ?? now) || DEFAULT_LEASE_MS)
    run.heartbeatAt = run.updatedAt = now
    this.store.changed()
    return true
  }

  async getRun(runId: string): Promise<WorkflowRun | null> {
    const run = await this.store.getRun(runId)
    return run ? workflowRunOf(run) : null
  }

  async getStepResults(runId: string): Promise<StepResult[]> {
    return this.store.getSteps(runId)
  }

  async saveStepResult(result: StepResult, leaseId?: string): Promise<boolean> {
    this.store.assertOpen()
    const outputJson = jsonTextOf(result, result.output, `Output of step "${result.name}"`)
    const run = leaseId === undefined ? this.store.runs.get(result.runId) : this.store.held({ runId: result.runId, leaseId })
    if (!run) return false
    this.store.writeStep(run.id, { ...result, outputJson, startedAt: result.createdAt, endedAt: result.updatedAt })
    this.store.changed()
    return true
  }

  async updateRunStatus(runId: string, status: RunStatus): Promise<boolean> {
    this.store.assertOpen()
    assertRunStatus(status)
    const run = this.store.runs.get(runId)
    if (!run || TERMINAL_STATUSES.includes(run.status)) return false
    const now = this.clock.now()
    this.store.setStatus(run, status, now, true)
    run.heartbeatAt = null
    // Running without a lease: its (absent) lease counts as expired now, as on SQLite.
    if (status === 'running') run.availableAt = now
    this.store.changed()
    return true
  }

  async updateClaimedRunStatus(runId: string, leaseId: string, status: RunStatus): Promise<boolean> {
    this.store.assertOpen()
    assertRunStatus(status)
    const run = this.store.held({ runId, leaseId })
    if (!run) return false
    this.store.setStatus(run, status, this.clock.now(), status !== 'running')
    this.store.changed()
    return true
  }

  async retryRun(runId: string): Promise<boolean> {
    return this.store.retry(runId, this.clock.now())
  }

  /** Further calls fail. */
  close(): void {
    this.store.close()
  }
}

function assertRunStatus(status: RunStatus): void {
  if (!Object.hasOwn(RunStatuses, status)) {
    const expected = Object.values(RunStatuses).join(', ')
    throw new InvalidArgumentError(`Run status must be one of ${expected}, got ${JSON.stringify(status)}`)
  }
}
