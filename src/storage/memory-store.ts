/**
 * The store contract (store.ts) held in plain Maps: exactly the semantics of the SQLite store,
 * checked by the same contract suite. Values are kept as JSON text, so readers get their own copy.
 * Every method runs synchronously to completion before its promise resolves, so each one is a single
 * atomic transition even when calls race. With no other connections, the change source counts every
 * write, and watchers hear of each one in a microtask after it.
 */

import { InvalidArgumentError, StorageError } from '../core/errors.ts'
import { deserialize } from '../core/json.ts'
import { TERMINAL_STATUSES, type AttemptRecord, type RunDetails, type RunWait, type StepResult } from '../core/types.ts'
import { newRunDetails, type NewEvent, type ParkResult, type StoredEvent, type AttemptWrite, type ChangeSource, type Claim, type ClaimRequest, type Lease, type LeaseState, type NewRun, type Release, type StepWrite, type Store, type PurgeBatchRequest, type PurgeBatchResult, type ScheduleStore, type RunListQuery, type RunPage, type RunStats, type StatsRequest } from './store.ts'
import { listMemoryRuns, memoryStats } from './memory-inspect.ts'
import { createMemorySchedules } from './memory-schedules.ts'

/** A run as kept here: its details, with the input as JSON text and an insertion number for ordering. */
export type RunRow = Omit<RunDetails, 'input'> & { inputJson: string | null; seq: number }

type StepRow = Omit<StepResult, 'runId' | 'output'> & { outputJson: string | null; eventId: number | null }

interface EventRow {
  id: number
  name: string
  key: string
  payloadJson: string | null
  idempotencyKey: string | null
  createdAt: number
}

export class MemoryStore implements Store {
  readonly runs = new Map<string, RunRow>()
  /** Runs by status where claims look: pending and running. */
  private readonly open = new Set<RunRow>()
  /** Per run, step name → row; a Map keeps first-insertion order even when a value is replaced. */
  private readonly steps = new Map<string, Map<string, StepRow>>()
  private readonly attempts = new Map<string, AttemptRecord[]>()
  private events: EventRow[] = []
  private eventSeq = 0
  private readonly leases = new Map<string, { holder: string; expiresAt: number }>()
  /** `[workflow, idempotencyKey]` as JSON → run id. */
  private readonly idempotencyKeys = new Map<string, string>()
  private closed = false
  private version = 0
  private seq = 0
  private readonly listeners = new Set<() => void>()
  readonly changes: ChangeSource = {
    version: () => {
      this.assertOpen()
      return this.version
    },
    watch: (onChange) => {
      this.assertOpen()
      const listener = () => onChange()
      this.listeners.add(listener)
      return () => void this.listeners.delete(listener)
    },
  }

  readonly schedules: ScheduleStore = createMemorySchedules(this)

  async initialize(): Promise<void> {
    this.assertOpen()
  }

  async createRun(run: NewRun) {
    this.assertOpen()
    const key = run.idempotencyKey === null ? null : JSON.stringify([run.workflow, run.idempotencyKey])
    const existing = key === null ? undefined : this.runs.get(this.idempotencyKeys.get(key) ?? '')
    if (existing) return { run: this.details(existing), created: false }
    if (this.runs.has(run.id)) throw new StorageError(`A run with id ${run.id} already exists`)
    const { input: _input, ...details } = newRunDetails(run)
    const row: RunRow = {
      ...details,
      inputJson: run.inputJson,
      seq: this.seq++,
    }
    this.runs.set(row.id, row)
    this.open.add(row)
    if (key !== null) this.idempotencyKeys.set(key, row.id)
    this.changed()
    return { run: { ...this.meta(row), input: run.input }, created: true }
  }

  async claim(request: ClaimRequest): Promise<Claim[]> {
    this.assertOpen()
    const { limit, now, leaseMs } = request
    if (!Number.isInteger(limit) || limit < 0) throw new InvalidArgumentError(`claim limit must be a non-negative integer, got ${String(limit)}`)
    const names = new Set(request.workflows)
    const { staleBefore } = request
    const expired = (r: RunRow) =>
      request.includeExpired &&
      r.status === 'running' &&
      (staleBefore === undefined ? (r.availableAt ?? 0) <= now || (r.heartbeatAt ?? 0) > now + leaseMs : (r.heartbeatAt ?? -1) < staleBefore)
    const chosen = [...this.open]
      .filter(
        (r) =>
          names.has(r.workflow) &&
          (((r.status === 'pending' || (r.status === 'waiting' && request.includeWoken !== false)) && r.availableAt !== null && r.availableAt <= now) ||
            (expired(r) && !request.exclude?.has(r.id))),
      )
      .sort((a, b) => a.availableAt! - b.availableAt! || a.seq - b.seq)
      .slice(0, limit)
    if (chosen.length > 0) this.changed()
    return chosen.map((r) => {
      if (r.status === 'running') {
        r.interruptions++
        if (r.currentStep !== null) {
          this.pushAttempt(r.id, {
            stepName: r.currentStep,
            attempt: r.attempt + r.interruptions,
            status: 'interrupted',
            startedAt: null,
            endedAt: Math.min(r.availableAt!, now),
            errorName: 'LeaseExpiredError',
            errorMessage: `The worker executing this step stopped renewing its lease (it crashed, was killed, froze or lost the database); ${request.owner} took the run over`,
            errorStack: null,
          })
        }
      }
      r.status = 'running'
      r.leaseId = crypto.randomUUID()
      r.leaseOwner = request.owner
      r.availableAt = now + leaseMs
      r.heartbeatAt = r.updatedAt = now
      r.startedAt ??= now
      return { ...this.details(r), leaseId: r.leaseId, steps: this.readSteps(r.id) }
    })
  }

  async heartbeat(leases: readonly Lease[], now: number, leaseMs: number): Promise<LeaseState[]> {
    this.assertOpen()
    const states = leases.map((lease) => {
      const run = this.held(lease)
      if (!run) return this.leaseState(lease)
      run.availableAt = now + leaseMs
      run.heartbeatAt = run.updatedAt = now
      return 'held' as const
    })
    this.changed()
    return states
  }

  async recordStep(lease: Lease, step: StepWrite, now: number, next: { nextStep: string | null; complete: boolean }) {
    this.assertOpen()
    const run = this.held(lease)
    if (!run) return false
    this.writeStep(run.id, step)
    if (next.complete) this.end(run, 'completed', now, null)
    else Object.assign(run, { currentStep: next.nextStep, attempt: 0, interruptions: 0, wait: null, updatedAt: now })
    this.changed()
    return true
  }

  async recordFailure(lease: Lease, step: StepWrite, attempt: AttemptWrite, now: number, finish: boolean) {
    this.assertOpen()
    const run = this.held(lease)
    if (!run) return false
    this.writeStep(run.id, step)
    this.pushAttempt(run.id, attempt)
    if (finish) this.end(run, 'failed', now, step.name)
    else run.updatedAt = now
    this.changed()
    return true
  }

  async finish(lease: Lease, status: 'completed' | 'failed', now: number) {
    this.assertOpen()
    const run = this.held(lease)
    if (!run) return false
    this.end(run, status, now, status === 'completed' ? null : run.currentStep)
    this.changed()
    return true
  }

  async release(lease: Lease, release: Release, now: number) {
    this.assertOpen()
    const run = this.held(lease)
    if (!run) return false
    Object.assign(run, {
      status: 'pending',
      leaseId: null,
      leaseOwner: null,
      heartbeatAt: null,
      availableAt: release.availableAt,
      attempt: release.attempt,
      interruptions: release.interruptions,
      updatedAt: now,
    })
    if (release.attemptRecord) this.pushAttempt(run.id, release.attemptRecord)
    this.changed()
    return true
  }

  async park(lease: Lease, wait: RunWait, now: number): Promise<ParkResult | null> {
    this.assertOpen()
    const run = this.held(lease)
    if (!run) return null
    if (wait.kind === 'event') {
      const event = this.unreceived(run, wait.event, wait.key)
      if (event) {
        run.updatedAt = now
        this.changed()
        return { parked: false, event }
      }
    }
    Object.assign(run, {
      status: 'waiting',
      leaseId: null,
      leaseOwner: null,
      heartbeatAt: null,
      availableAt: wait.kind === 'sleep' ? wait.until : wait.timeoutAt,
      wait,
      updatedAt: now,
    })
    this.changed()
    return { parked: true }
  }

  async findEvent(runId: string, name: string, key: string): Promise<StoredEvent | null> {
    this.assertOpen()
    const run = this.runs.get(runId)
    return run ? this.unreceived(run, name, key) : null
  }

  async emit(event: NewEvent) {
    this.assertOpen()
    const existing = event.idempotencyKey === null ? undefined : this.events.find((e) => e.name === event.name && e.idempotencyKey === event.idempotencyKey)
    if (existing) return { id: existing.id, created: false, payloadJson: existing.payloadJson }
    const row: EventRow = { id: ++this.eventSeq, name: event.name, key: event.key, payloadJson: event.payloadJson, idempotencyKey: event.idempotencyKey, createdAt: event.now }
    this.events.push(row)
    for (const run of this.open) {
      if (run.status === 'waiting' && run.wait?.kind === 'event' && run.wait.event === event.name && run.wait.key === event.key) {
        run.availableAt = event.now
        run.updatedAt = event.now
      }
    }
    this.changed()
    return { id: row.id, created: true, payloadJson: row.payloadJson }
  }

  async purgeFinished({ statuses, finishedBefore, limit }: PurgeBatchRequest): Promise<PurgeBatchResult> {
    this.assertOpen()
    if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError(`purge limit must be a positive integer, got ${String(limit)}`)
    const batch = [...this.runs.values()]
      .filter((run) => TERMINAL_STATUSES.includes(run.status) && statuses.includes(run.status as never) && run.finishedAt !== null && run.finishedAt < finishedBefore)
      .sort((a, b) => a.finishedAt! - b.finishedAt!)
      .slice(0, limit)
    const result: PurgeBatchResult = { runs: 0, steps: 0, groups: [] }
    for (const run of batch) {
      const steps = this.steps.get(run.id)?.size ?? 0
      this.runs.delete(run.id)
      this.steps.delete(run.id)
      this.attempts.delete(run.id)
      if (run.idempotencyKey !== null) this.idempotencyKeys.delete(JSON.stringify([run.workflow, run.idempotencyKey]))
      result.runs++
      result.steps += steps
      let group = result.groups.find((g) => g.workflow === run.workflow && g.status === run.status)
      if (!group) result.groups.push((group = { workflow: run.workflow, status: run.status as 'completed', runs: 0, steps: 0 }))
      group.runs++
      group.steps += steps
    }
    if (result.runs > 0) this.changed()
    return result
  }

  async purgeEvents(createdBefore: number, limit: number): Promise<number> {
    this.assertOpen()
    const old = new Set(this.events.filter((e) => e.createdAt < createdBefore).sort((a, b) => a.createdAt - b.createdAt).slice(0, limit))
    if (old.size > 0) this.events = this.events.filter((e) => !old.has(e))
    return old.size
  }

  async acquireLease(name: string, holder: string, now: number, ttlMs: number): Promise<boolean> {
    this.assertOpen()
    const lease = this.leases.get(name)
    if (lease && lease.expiresAt > now && lease.holder !== holder) return false
    this.leases.set(name, { holder, expiresAt: now + ttlMs })
    return true
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.assertOpen()
    if (this.leases.get(name)?.holder === holder) this.leases.delete(name)
  }

  async cancel(runId: string, now: number) {
    this.assertOpen()
    const run = this.runs.get(runId)
    if (!run || TERMINAL_STATUSES.includes(run.status)) return false
    this.end(run, 'cancelled', now, run.currentStep)
    this.changed()
    return true
  }

  async retry(runId: string, now: number, options: { fromStep?: string } = {}) {
    this.assertOpen()
    const run = this.runs.get(runId)
    if (!run || (run.status !== 'failed' && run.status !== 'cancelled')) return false
    const steps = this.steps.get(runId)
    let dropping = false
    for (const [name, step] of steps ?? []) {
      if (name === options.fromStep) dropping = true
      if (dropping || step.status === 'failed') steps!.delete(name)
    }
    Object.assign(run, {
      status: 'pending',
      leaseId: null,
      leaseOwner: null,
      heartbeatAt: null,
      finishedAt: null,
      availableAt: now,
      attempt: 0,
      interruptions: 0,
      currentStep: options.fromStep ?? run.currentStep,
      wait: null,
      updatedAt: now,
    })
    this.open.add(run)
    this.changed()
    return true
  }

  async getRun(runId: string) {
    this.assertOpen()
    const run = this.runs.get(runId)
    return run ? this.details(run) : null
  }

  async getSteps(runId: string) {
    this.assertOpen()
    return this.readSteps(runId)
  }

  async listRuns(query: RunListQuery): Promise<RunPage> {
    this.assertOpen()
    return listMemoryRuns(this.runs.values(), (runId) => this.readSteps(runId), query)
  }

  async stats(request: StatsRequest): Promise<RunStats> {
    this.assertOpen()
    return memoryStats(this.runs.values(), request)
  }

  async getAttempts(runId: string) {
    this.assertOpen()
    return (this.attempts.get(runId) ?? []).map((a) => ({ ...a }))
  }

  async leaseStates(leases: readonly Lease[]) {
    this.assertOpen()
    return leases.map((lease) => this.leaseState(lease))
  }

  async nextDueAt(workflows: readonly string[], now: number) {
    this.assertOpen()
    const names = new Set(workflows)
    let next: number | null = null
    for (const r of this.open) {
      const parked = r.status === 'pending' || r.status === 'waiting'
      if (parked && names.has(r.workflow) && r.availableAt !== null && r.availableAt > now && (next === null || r.availableAt < next)) next = r.availableAt
    }
    return next
  }

  async unknownWorkflows(workflows: readonly string[], limit: number) {
    this.assertOpen()
    const names = new Set(workflows)
    const unknown = new Set<string>()
    for (const r of this.open) if (r.status === 'pending' && !names.has(r.workflow) && unknown.size < limit) unknown.add(r.workflow)
    return [...unknown]
  }

  close(): void {
    this.closed = true
  }

  // Shared with MemoryStorage's StorageAdapter methods.

  assertOpen(): void {
    if (this.closed) throw new StorageError('MemoryStorage is closed')
  }

  /** The run, if it is `running` under exactly this lease: the fencing check every leased write makes. */
  held(lease: Lease): RunRow | undefined {
    const run = this.runs.get(lease.runId)
    return run && run.status === 'running' && run.leaseId === lease.leaseId ? run : undefined
  }

  /** Every write that changed something: bump the version, and notify watchers once this call is over. */
  changed(): void {
    this.version++
    for (const listener of this.listeners) queueMicrotask(listener)
  }

  writeStep(runId: string, step: StepWrite): void {
    let steps = this.steps.get(runId)
    if (!steps) this.steps.set(runId, (steps = new Map()))
    const previous = steps.get(step.name)
    // Replacing keeps the step's original position and first-recorded time.
    steps.set(step.name, {
      name: step.name,
      status: step.status,
      outputJson: step.outputJson,
      error: step.error,
      attempts: step.attempts,
      createdAt: previous?.createdAt ?? step.startedAt,
      updatedAt: step.endedAt,
      eventId: step.eventId ?? null,
    })
  }

  /** Leaves `open` for a terminal status; back to pending (or still running) stays in it. */
  setStatus(run: RunRow, status: RunRow['status'], now: number, releaseLease: boolean): void {
    run.status = status
    run.updatedAt = now
    if (releaseLease) run.leaseId = null
    if (TERMINAL_STATUSES.includes(status)) {
      run.finishedAt = now
      run.availableAt = null
      this.open.delete(run)
    } else if (status === 'pending') {
      run.availableAt = now
    }
  }

  details(run: RunRow): RunDetails {
    return { ...this.meta(run), input: deserialize(run.inputJson) }
  }

  readSteps(runId: string): StepResult[] {
    return [...(this.steps.get(runId)?.values() ?? [])].map(({ outputJson, eventId: _event, ...step }) => ({ runId, ...step, output: deserialize(outputJson) }))
  }

  private end(run: RunRow, status: 'completed' | 'failed' | 'cancelled', now: number, currentStep: string | null): void {
    this.setStatus(run, status, now, true)
    run.currentStep = currentStep
  }

  private unreceived(run: RunRow, name: string, key: string): StoredEvent | null {
    const received = new Set([...(this.steps.get(run.id)?.values() ?? [])].map((s) => s.eventId).filter((id) => id !== null))
    const event = this.events.find((e) => e.name === name && e.key === key && e.createdAt >= run.createdAt && !received.has(e.id))
    return event ? { id: event.id, payloadJson: event.payloadJson } : null
  }

  private leaseState(lease: Lease): LeaseState {
    const run = this.runs.get(lease.runId)
    if (run?.status === 'running' && run.leaseId === lease.leaseId) return 'held'
    return run?.status === 'cancelled' ? 'cancelled' : 'lost'
  }

  private pushAttempt(runId: string, attempt: AttemptWrite): void {
    let list = this.attempts.get(runId)
    if (!list) this.attempts.set(runId, (list = []))
    list.push({ runId, ...attempt })
  }

  private meta({ inputJson: _input, seq: _seq, ...run }: RunRow): Omit<RunDetails, 'input'> {
    return { ...run }
  }
}
