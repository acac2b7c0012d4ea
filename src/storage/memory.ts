/**
 * MemoryStorage: the storage contract (storage/adapter.ts) held in plain Maps, for tests and
 * throwaway engines. It gives exactly the semantics of SQLiteStorage, checked by the same contract
 * suite: values are kept as JSON text, so readers get a JSON round trip and callers can mutate what
 * they passed in; claims, fencing and terminal statuses behave as in SQL.
 *
 * Every method runs synchronously to completion before its promise resolves, so each one is a single
 * atomic transition even when calls race: JavaScript never interleaves inside it. With no other
 * connections, `dataVersion()` counts every write, and `watchChanges` listeners hear of each one in
 * a microtask after it.
 */

import { SystemClock, type Clock } from '../core/clock.ts'
import { InvalidArgumentError, StorageError } from '../core/errors.ts'
import { deserialize, hasJsonText, jsonTextOf } from '../core/json.ts'
import { RunStatuses, TERMINAL_STATUSES } from '../core/types.ts'
import type { ClaimedRun, CreateRunResult, RunStatus, StepResult, WorkflowRun } from '../core/types.ts'
import type { StorageAdapter, StorageAdapterExtensions } from './adapter.ts'

type RunRecord = Omit<WorkflowRun, 'input'> & {
  inputJson: string | null
  leaseId: string | null
  leaseRenewedAt: number | null
}

type StepRecord = Omit<StepResult, 'runId' | 'output'> & { outputJson: string | null }

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
export class MemoryStorage implements StorageAdapter, StorageAdapterExtensions {
  private readonly clock: Clock
  private readonly runs = new Map<string, RunRecord>()
  /** Per run, step name → record; a Map keeps first-insertion order even when a value is replaced. */
  private readonly steps = new Map<string, Map<string, StepRecord>>()
  /** `[workflow, idempotencyKey]` as JSON → run id. */
  private readonly idempotencyKeys = new Map<string, string>()
  private closed = false
  /** Bumped by every write that changes something: what `dataVersion()` reports. */
  private version = 0
  private readonly listeners = new Set<() => void>()

  constructor(options: { clock?: Clock } = {}) {
    this.clock = options.clock ?? SystemClock
  }

  async initialize(): Promise<void> {
    this.assertOpen()
  }

  async createRun(run: WorkflowRun): Promise<CreateRunResult> {
    this.assertOpen()
    const inputJson = jsonTextOf(run, run.input, `Input of workflow "${run.workflow}"`)
    const key = run.idempotencyKey == null ? null : JSON.stringify([run.workflow, run.idempotencyKey])
    const existingId = key === null ? undefined : this.idempotencyKeys.get(key)
    const existing = existingId === undefined ? undefined : this.runs.get(existingId)
    if (existing) return { run: toRun(existing), created: false }
    if (this.runs.has(run.id)) throw new StorageError(`A run with id ${run.id} already exists`)
    const record: RunRecord = {
      id: run.id,
      workflow: run.workflow,
      inputJson,
      status: 'pending',
      idempotencyKey: run.idempotencyKey ?? null,
      createdAt: run.createdAt,
      updatedAt: run.updatedAt,
      leaseId: null,
      leaseRenewedAt: null,
    }
    this.runs.set(record.id, record)
    if (key !== null) this.idempotencyKeys.set(key, record.id)
    this.changed()
    // Input the engine serialised moments ago is already its own round trip: no need to parse it back.
    return { run: hasJsonText(run) ? { ...toRunMeta(record), input: run.input } : toRun(record), created: true }
  }

  async claimNextRun(workflowNames: readonly string[], staleBefore?: number): Promise<ClaimedRun | null> {
    return (await this.claimRuns(workflowNames, staleBefore, 1))[0] ?? null
  }

  async claimRuns(workflowNames: readonly string[], staleBefore: number | undefined, limit: number): Promise<ClaimedRun[]> {
    this.assertOpen()
    if (!Number.isInteger(limit) || limit < 0) {
      throw new InvalidArgumentError(`claimRuns limit must be a non-negative integer, got ${String(limit)}`)
    }
    const names = new Set(workflowNames)
    const claimable = (r: RunRecord): boolean =>
      r.status === 'pending' ||
      (r.status === 'running' && staleBefore !== undefined && r.leaseRenewedAt !== null && r.leaseRenewedAt < staleBefore)
    // Oldest first, pending or stale alike, so a crashed run never waits behind a backlog. Maps iterate
    // in insertion order and sort is stable, so runs created in the same millisecond keep that order.
    const chosen = [...this.runs.values()]
      .filter((r) => names.has(r.workflow) && claimable(r))
      .sort((a, b) => a.createdAt - b.createdAt)
      .slice(0, limit)
    const now = this.clock.now()
    if (chosen.length > 0) this.changed()
    return chosen.map((r) => {
      r.status = 'running'
      r.leaseId = crypto.randomUUID()
      r.leaseRenewedAt = now
      r.updatedAt = now
      return { ...toRun(r), leaseId: r.leaseId, steps: this.readSteps(r.id) }
    })
  }

  async heartbeatRun(runId: string, leaseId: string): Promise<boolean> {
    this.assertOpen()
    const run = this.leased(runId, leaseId)
    if (!run) return false
    run.leaseRenewedAt = run.updatedAt = this.clock.now()
    this.changed()
    return true
  }

  async getRun(runId: string): Promise<WorkflowRun | null> {
    this.assertOpen()
    const run = this.runs.get(runId)
    return run ? toRun(run) : null
  }

  async getStepResults(runId: string): Promise<StepResult[]> {
    this.assertOpen()
    return this.readSteps(runId)
  }

  async saveStepResult(result: StepResult, leaseId?: string): Promise<boolean> {
    this.assertOpen()
    const record = toStepRecord(result)
    const run = leaseId === undefined ? this.runs.get(result.runId) : this.leased(result.runId, leaseId)
    if (!run) return false
    this.writeStep(run.id, record)
    this.changed()
    return true
  }

  async updateRunStatus(runId: string, status: RunStatus): Promise<boolean> {
    this.assertOpen()
    assertRunStatus(status)
    const run = this.runs.get(runId)
    if (!run || TERMINAL_STATUSES.includes(run.status)) return false
    this.setStatus(run, status, true)
    this.changed()
    return true
  }

  async updateClaimedRunStatus(runId: string, leaseId: string, status: RunStatus): Promise<boolean> {
    this.assertOpen()
    assertRunStatus(status)
    const run = this.leased(runId, leaseId)
    if (!run) return false
    this.setStatus(run, status, TERMINAL_STATUSES.includes(status))
    this.changed()
    return true
  }

  async finishRun(runId: string, leaseId: string, status: 'completed' | 'failed', step?: StepResult): Promise<boolean> {
    this.assertOpen()
    if (status !== 'completed' && status !== 'failed') {
      throw new InvalidArgumentError(`finishRun status must be "completed" or "failed", got ${JSON.stringify(status)}`)
    }
    if (step && step.runId !== runId) {
      throw new InvalidArgumentError(`finishRun step belongs to run ${step.runId}, expected run ${runId}`)
    }
    // Serialise before touching anything, so a bad output leaves the run exactly as it was.
    const record = step === undefined ? undefined : toStepRecord(step)
    const run = this.leased(runId, leaseId)
    if (!run) return false
    if (record) this.writeStep(run.id, record)
    this.setStatus(run, status, true)
    this.changed()
    return true
  }

  async retryRun(runId: string): Promise<boolean> {
    this.assertOpen()
    const run = this.runs.get(runId)
    if (!run || (run.status !== 'failed' && run.status !== 'cancelled')) return false
    const steps = this.steps.get(runId)
    for (const [name, step] of steps ?? []) if (step.status === 'failed') steps?.delete(name)
    this.setStatus(run, 'pending', true)
    this.changed()
    return true
  }

  dataVersion(): number {
    this.assertOpen()
    return this.version
  }

  watchChanges(onChange: () => void): () => void {
    this.assertOpen()
    const listener = () => onChange()
    this.listeners.add(listener)
    return () => void this.listeners.delete(listener)
  }

  close(): void {
    this.closed = true
  }

  /** Every write that changed something: bump the version, and notify watchers once this call is over. */
  private changed(): void {
    this.version++
    for (const listener of this.listeners) queueMicrotask(listener)
  }

  private assertOpen(): void {
    if (this.closed) throw new StorageError('MemoryStorage is closed')
  }

  /** The run, if it is `running` under exactly `leaseId`: the fencing check every leased write makes. */
  private leased(runId: string, leaseId: string): RunRecord | undefined {
    const run = this.runs.get(runId)
    return run && run.status === 'running' && run.leaseId === leaseId ? run : undefined
  }

  private setStatus(run: RunRecord, status: RunStatus, releaseLease: boolean): void {
    run.status = status
    run.updatedAt = this.clock.now()
    if (releaseLease) {
      run.leaseId = null
      run.leaseRenewedAt = null
    }
  }

  private writeStep(runId: string, record: StepRecord): void {
    let steps = this.steps.get(runId)
    if (!steps) this.steps.set(runId, (steps = new Map()))
    const previous = steps.get(record.name)
    // Replacing keeps the step's original position and first-recorded time.
    steps.set(record.name, previous ? { ...record, createdAt: previous.createdAt } : record)
  }

  private readSteps(runId: string): StepResult[] {
    return [...(this.steps.get(runId)?.values() ?? [])].map(({ outputJson, ...step }) => ({
      runId,
      ...step,
      output: deserialize(outputJson),
    }))
  }
}

function assertRunStatus(status: RunStatus): void {
  if (!Object.hasOwn(RunStatuses, status)) {
    const expected = Object.values(RunStatuses).join(', ')
    throw new InvalidArgumentError(`Run status must be one of ${expected}, got ${JSON.stringify(status)}`)
  }
}

function toRun(record: RunRecord): WorkflowRun {
  return { ...toRunMeta(record), input: deserialize(record.inputJson) }
}

function toRunMeta({ inputJson: _input, leaseId: _lease, leaseRenewedAt: _renewed, ...run }: RunRecord): Omit<WorkflowRun, 'input'> {
  return run
}

function toStepRecord(result: StepResult): StepRecord {
  return {
    name: result.name,
    status: result.status,
    outputJson: jsonTextOf(result, result.output, `Output of step "${result.name}"`),
    error: result.error,
    attempts: result.attempts,
    createdAt: result.createdAt,
    updatedAt: result.updatedAt,
  }
}
