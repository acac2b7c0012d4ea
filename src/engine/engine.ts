/**
 * createEngine: wires workflows to storage and runs them.
 *
 * The started engine keeps `concurrency` slots full. It is driven by events, not by a loop:
 *
 *   slot frees ─┐                          ┌─ claimed = asked → ask again (slots may be free still)
 *   enqueue ────┼─▶ fill: claim(free) ─────┤
 *   poll/change ┘                          └─ claimed < asked → idle: wait for an event, the poll
 *                                             timer, or (adapters with dataVersion) a change check
 *
 * A slot counts as free as soon as its run's final write has been issued, so the claim that refills
 * it joins the same group commit; each run is a slot of its own, so a slow run never holds back the
 * others. Stale leases are looked for once per poll interval. While idle, the change watch
 * (change-watch.ts) compares `storage.dataVersion()` on file-system notifications and a backing-off
 * timer, so a run enqueued by another process is claimed within milliseconds and an idle engine
 * costs almost nothing. `tick()` is the explicit alternative: claim up to `concurrency` runs once
 * and execute them to their end.
 */

import { SystemClock, type Clock, type TimerHandle } from '../core/clock.ts'
import {
  EngineStoppedError,
  IdempotencyConflictError,
  InvalidArgumentError,
  LeaseLostError,
  RunCancelledError,
  UnknownWorkflowError,
} from '../core/errors.ts'
import { deserialize, JSON_TEXT, jsonEqual, serialize, type WithJsonText } from '../core/json.ts'
import type { ClaimedRun, RunInfo, WorkflowRun } from '../core/types.ts'
import type { StorageAdapter, EngineStorage } from '../storage/adapter.ts'
import type { AnyWorkflow, WorkflowEnqueueInput } from '../workflow/workflow.ts'
import { createUuidV7 } from '../core/uuid.ts'
import { createChangeWatch } from './change-watch.ts'
import { abortRun, executeRun, type ActiveRun, type ExecutorContext } from './executor.ts'
import type { EngineHooks } from './hooks.ts'
import { createLeaseKeeper } from './lease.ts'
import { createScheduler } from './scheduler.ts'

export interface EngineConfig<W extends readonly AnyWorkflow[]> {
  /** Storage backend. */
  storage: StorageAdapter
  /** Workflows this engine may enqueue and execute. */
  workflows: W
  /** Lifecycle hooks. */
  hooks?: EngineHooks
  /** Runs executed in parallel. Default: 1. */
  concurrency?: number
  /** How long a claimed run stays claimed without a heartbeat before another engine may reclaim it. Default: 30000. */
  runLeaseDurationMs?: number
  /** How often leases of running runs are renewed. Default: runLeaseDurationMs / 3. */
  heartbeatIntervalMs?: number
  /** Time source for every timer and timestamp; tests pass a ManualClock. Default: the system clock. */
  clock?: Clock
}

export interface EnqueueOptions {
  /** Same key + same input returns the existing run; same key + different input throws. */
  idempotencyKey?: string
}

type WorkflowName<W extends readonly AnyWorkflow[]> = W[number]['name']
type WorkflowNamed<W extends readonly AnyWorkflow[], N> = Extract<W[number], { readonly name: N }>

export interface Engine<W extends readonly AnyWorkflow[] = readonly AnyWorkflow[]> {
  /** Initialises storage and starts processing runs continuously, polling every `pollIntervalMs` (default 1000). */
  start(pollIntervalMs?: number): Promise<void>
  /** Stops claiming, clears schedules, and waits for in-flight steps to finish and be recorded. */
  stop(): Promise<void>
  /** Claims up to `concurrency` pending or stale runs and executes them to their end. */
  tick(): Promise<void>
  /** Validates `input` and records a new pending run. */
  enqueue<N extends WorkflowName<W>>(
    name: N,
    input: WorkflowEnqueueInput<WorkflowNamed<W, N>>,
    options?: EnqueueOptions,
  ): Promise<WorkflowRun>
  /** Cancels a pending or running run; false if it had already finished (or does not exist). */
  cancel(runId: string): Promise<boolean>
  /**
   * Puts a failed or cancelled run back to pending: it resumes at the step that failed, and its
   * recorded steps are kept and not re-run. False if the run is not failed or cancelled.
   */
  retry(runId: string): Promise<boolean>
  /** Enqueues `name` with `input` every `intervalMs`; returns an id for `unschedule`. */
  schedule<N extends WorkflowName<W>>(name: N, input: WorkflowEnqueueInput<WorkflowNamed<W, N>>, intervalMs: number): string
  /** Removes a schedule; false if the id is unknown. */
  unschedule(scheduleId: string): boolean
  /** The run and its recorded steps, or null for an unknown id. */
  getRunStatus(runId: string): Promise<RunInfo | null>
}

const DEFAULT_LEASE_MS = 30_000
const DEFAULT_POLL_MS = 1_000
/**
 * Creates an engine that connects workflows to storage and executes them.
 *
 * @example
 * const engine = createEngine({ storage: new SQLiteStorage('./reflow.db'), workflows: [signup] })
 * await engine.start()
 * await engine.enqueue('signup', { email: 'ada@example.com' })
 */
export function createEngine<const W extends readonly AnyWorkflow[]>(config: EngineConfig<W>): Engine<W> {
  const settings = resolveConfig(config)
  const storage: EngineStorage = config.storage
  const clock = config.clock ?? SystemClock
  const hooks = config.hooks ?? {}
  const registry = new Map<string, AnyWorkflow>()
  for (const workflow of config.workflows) {
    if (registry.has(workflow.name)) throw new InvalidArgumentError(`Two workflows are named "${workflow.name}"; names must be unique`)
    registry.set(workflow.name, workflow)
  }
  const names = [...registry.keys()]

  const reportError = (error: unknown) => {
    try {
      hooks.onError?.(error instanceof Error ? error : new Error(String(error)))
    } catch {
      // onError itself failed: nowhere left to report to.
    }
  }

  interface Slot {
    handle: ActiveRun
    done: Promise<void>
    /** Its final write has been issued: the slot may be refilled in the same batch. */
    finishing: boolean
  }
  const active = new Map<string, Slot>()
  let stopController = new AbortController()
  const executor: ExecutorContext = {
    storage,
    clock,
    hooks,
    reportError,
    get stopSignal() {
      return stopController.signal
    },
    finishing(handle) {
      const slot = active.get(handle.run.id)
      if (!slot || slot.finishing) return
      slot.finishing = true
      finishing++
      requestFill()
    },
  }
  const leases = createLeaseKeeper({
    storage,
    clock,
    intervalMs: settings.heartbeatIntervalMs,
    leaseDurationMs: settings.runLeaseDurationMs,
    onError: reportError,
    onLost: (runId) => {
      const slot = active.get(runId)
      if (slot) abortRun(slot.handle, new LeaseLostError(runId))
    },
  })
  const scheduler = createScheduler(clock, reportError)
  const nextRunId = createUuidV7(() => clock.now())

  let running = false
  let pollMs = DEFAULT_POLL_MS
  /** Slots reserved by claims in flight. */
  let claiming = 0
  /** Active runs whose final write is issued. */
  let finishing = 0
  let fillQueued = false
  /** Bumped by every request to fill; a claim that comes back short re-fills if it moved meanwhile. */
  let requests = 0
  const claimsInFlight = new Set<Promise<void>>()
  let pollTimer: TimerHandle | undefined
  const changes = createChangeWatch(storage, requestFill, reportError)
  /** The last claim came back short: the next one snapshots the data version first, ready to go idle. */
  let drained = true
  /**
   * Stale leases (a crashed engine's runs) are looked for once per poll interval, not on every
   * refill: a run only goes stale after a whole lease duration, and it is the oldest when found.
   */
  let nextStaleCheck = 0

  /** Claims up to `limit` runs: pending ones, and stale ones too unless `withStale` is false. */
  async function claim(limit: number, withStale = true): Promise<ClaimedRun[]> {
    const staleBefore = withStale ? clock.now() - settings.runLeaseDurationMs : undefined
    if (storage.claimRuns) return storage.claimRuns(names, staleBefore, limit)
    const claimed: ClaimedRun[] = []
    while (claimed.length < limit) {
      const run = await storage.claimNextRun(names, staleBefore)
      if (!run) break
      claimed.push(run)
    }
    return claimed
  }

  function launch(run: ClaimedRun): Promise<void> {
    const workflow = registry.get(run.workflow)!
    const handle: ActiveRun = { run, controller: new AbortController() }
    leases.track(run.id, run.leaseId)
    const slot: Slot = { handle, done: undefined!, finishing: false }
    const ended = () => {
      leases.untrack(run.id)
      if (slot.finishing) finishing--
      active.delete(run.id)
      requestFill()
    }
    // Registered before the run starts: a run that finishes synchronously still finds its slot.
    active.set(run.id, slot)
    slot.done = executeRun(executor, workflow, handle).then(ended, (error) => {
      reportError(error)
      ended()
    })
    return slot.done
  }

  /** Claims for the free slots soon: every request in this turn shares one claim. */
  function requestFill(): void {
    requests++
    if (!running || fillQueued) return
    fillQueued = true
    queueMicrotask(fill)
  }

  function fill(): void {
    fillQueued = false
    if (!running) return
    const limit = settings.concurrency - (active.size - finishing) - claiming
    if (limit <= 0) return
    claiming += limit
    const requestsAtClaim = requests
    // The snapshot precedes the claim, so a change committed after it shows up at the next check.
    // Only needed when this claim may come back short, i.e. when the last one did.
    const snapshotSkipped = changes !== undefined && !drained
    if (changes && drained) changes.snapshot()
    const now = clock.now()
    const withStale = now >= nextStaleCheck
    if (withStale) nextStaleCheck = now + pollMs
    const claimed = claim(limit, withStale).then(
      (runs) => {
        claiming -= limit
        if (!running) return releaseAll(runs)
        for (const run of runs) void launch(run)
        changes?.claimed(runs.length > 0)
        drained = runs.length < limit
        if (!drained) {
          changes?.disarm()
          return requestFill()
        }
        // Short: idle, unless a wake-up arrived meanwhile or there was no snapshot before this claim
        // (the last one was full), in which case look once more.
        if (requests !== requestsAtClaim || snapshotSkipped) requestFill()
        else idle()
      },
      (error) => {
        claiming -= limit
        reportError(error)
        idle()
      },
    )
    claimsInFlight.add(claimed)
    void claimed.finally(() => claimsInFlight.delete(claimed))
  }

  /** Claimed as the engine stopped: give them straight back for the next engine. */
  async function releaseAll(runs: readonly ClaimedRun[]): Promise<void> {
    for (const run of runs) await storage.updateClaimedRunStatus(run.id, run.leaseId, 'pending').catch(reportError)
  }

  /** Nothing more to claim for now: wait for an event, the poll timer or a change. */
  function idle(): void {
    if (!running) return
    pollTimer ??= clock.setTimer(pollMs, () => {
      pollTimer = undefined
      requestFill()
    })
    changes?.arm()
  }

  function stopTimers(): void {
    pollTimer?.cancel()
    pollTimer = undefined
    changes?.disarm()
  }

  async function enqueue(name: string, input: unknown, options?: EnqueueOptions): Promise<WorkflowRun> {
    const workflow = registry.get(name)
    if (!workflow) throw new UnknownWorkflowError(String(name), names)
    const key = options?.idempotencyKey
    if (key !== undefined && (typeof key !== 'string' || key === '')) {
      throw new InvalidArgumentError(`enqueue("${name}"): idempotencyKey must be a non-empty string, got ${JSON.stringify(key)}`)
    }
    const parsed = await workflow.parseInput(input)
    const json = serialize(parsed, `Input of workflow "${name}"`)
    const stored = deserialize(json)
    const now = clock.now()
    const run: WorkflowRun & WithJsonText = {
      id: nextRunId(),
      workflow: name,
      input: stored,
      status: 'pending',
      idempotencyKey: key ?? null,
      createdAt: now,
      updatedAt: now,
    }
    run[JSON_TEXT] = json
    const result = await storage.createRun(run)
    if (!result.created && !jsonEqual(result.run.input, stored)) {
      throw new IdempotencyConflictError(name, key!, result.run.id)
    }
    if (result.created) requestFill()
    return result.run
  }

  const engine: Engine<readonly AnyWorkflow[]> = {
    async start(pollIntervalMs = DEFAULT_POLL_MS) {
      assertPositive('start(pollIntervalMs)', pollIntervalMs)
      if (running) return
      await storage.initialize()
      if (running) return
      await Promise.all(claimsInFlight)
      running = true
      pollMs = pollIntervalMs
      drained = true
      nextStaleCheck = 0
      requestFill()
    },

    async stop() {
      running = false
      stopTimers()
      scheduler.clear()
      stopController.abort(new EngineStoppedError())
      await Promise.all(claimsInFlight)
      await Promise.all([...active.values()].map((a) => a.done))
      leases.sweep()
      stopController = new AbortController()
    },

    async tick() {
      const claimed = await claim(settings.concurrency)
      await Promise.all(claimed.map(launch))
      if (!running) leases.sweep()
    },

    enqueue: enqueue as Engine['enqueue'],

    async cancel(runId) {
      const cancelled = await storage.updateRunStatus(runId, 'cancelled')
      const slot = active.get(runId)
      if (cancelled && slot) abortRun(slot.handle, new RunCancelledError(runId))
      return cancelled
    },

    async retry(runId) {
      if (!storage.retryRun) {
        throw new InvalidArgumentError('retry() needs a storage adapter that implements retryRun (SQLiteStorage and MemoryStorage do)')
      }
      const retried = await storage.retryRun(runId)
      if (retried) requestFill()
      return retried
    },

    schedule(name, input, intervalMs) {
      if (!registry.has(name)) throw new UnknownWorkflowError(String(name), names)
      assertPositive('schedule(intervalMs)', intervalMs)
      return scheduler.add(intervalMs, () => enqueue(name, input))
    },

    unschedule(scheduleId) {
      return scheduler.remove(scheduleId)
    },

    async getRunStatus(runId) {
      const run = await storage.getRun(runId)
      if (!run) return null
      return { run, steps: await storage.getStepResults(runId) }
    },
  }
  return engine as unknown as Engine<W>
}

function resolveConfig(config: EngineConfig<readonly AnyWorkflow[]>) {
  if (!config || typeof config.storage?.claimNextRun !== 'function') {
    throw new InvalidArgumentError('createEngine: `storage` must be a StorageAdapter (e.g. new SQLiteStorage(path))')
  }
  if (!Array.isArray(config.workflows)) {
    throw new InvalidArgumentError('createEngine: `workflows` must be an array of workflows made with createWorkflow()')
  }
  const concurrency = config.concurrency ?? 1
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new InvalidArgumentError(`createEngine: concurrency must be an integer >= 1, got ${String(concurrency)}`)
  }
  const runLeaseDurationMs = config.runLeaseDurationMs ?? DEFAULT_LEASE_MS
  assertPositive('createEngine: runLeaseDurationMs', runLeaseDurationMs)
  const heartbeatIntervalMs = config.heartbeatIntervalMs ?? runLeaseDurationMs / 3
  assertPositive('createEngine: heartbeatIntervalMs', heartbeatIntervalMs)
  if (heartbeatIntervalMs >= runLeaseDurationMs) {
    throw new InvalidArgumentError(
      `createEngine: heartbeatIntervalMs (${heartbeatIntervalMs}) must be less than runLeaseDurationMs (${runLeaseDurationMs}), or leases expire between heartbeats`,
    )
  }
  return { concurrency, runLeaseDurationMs, heartbeatIntervalMs }
}

function assertPositive(what: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(`${what} must be a positive number of milliseconds, got ${String(value)}`)
  }
}
