/**
 * createEngine: wires workflows to storage and runs them.
 *
 * The `start()` loop keeps up to `concurrency` runs in flight: whenever a slot is free it claims
 * more work, and when there is none it sleeps until an enqueue in this process, a finished run, or
 * the poll interval wakes it. `tick()` is the explicit alternative: claim up to `concurrency` runs
 * once and execute them to their end.
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
import { jsonEqual, roundTrip } from '../core/json.ts'
import type { ClaimedRun, RunInfo, WorkflowRun } from '../core/types.ts'
import type { StorageAdapter, EngineStorage } from '../storage/adapter.ts'
import type { AnyWorkflow, WorkflowEnqueueInput } from '../workflow/workflow.ts'
import { executeRun, type ActiveRun, type ExecutorContext } from './executor.ts'
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

  const active = new Map<string, { handle: ActiveRun; done: Promise<void> }>()
  let stopController = new AbortController()
  const executor: ExecutorContext = {
    storage,
    clock,
    hooks,
    reportError,
    get stopSignal() {
      return stopController.signal
    },
  }
  const leases = createLeaseKeeper({
    storage,
    clock,
    intervalMs: settings.heartbeatIntervalMs,
    leaseDurationMs: settings.runLeaseDurationMs,
    onError: reportError,
    onLost: (runId) => active.get(runId)?.handle.controller.abort(new LeaseLostError(runId)),
  })
  const scheduler = createScheduler(clock, reportError)

  let loop: Promise<void> | undefined
  let running = false
  let wakeUp: (() => void) | undefined
  let woken = false

  function wake(): void {
    woken = true
    wakeUp?.()
  }

  function sleepUntilWoken(ms: number): Promise<void> {
    if (woken) {
      woken = false
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      let timer: TimerHandle | undefined
      wakeUp = () => {
        timer?.cancel()
        wakeUp = undefined
        woken = false
        resolve()
      }
      timer = clock.setTimer(ms, wakeUp)
    })
  }

  async function claim(limit: number): Promise<ClaimedRun[]> {
    const staleBefore = clock.now() - settings.runLeaseDurationMs
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
    const done = executeRun(executor, workflow, handle)
      .catch(reportError)
      .finally(() => {
        leases.untrack(run.id)
        active.delete(run.id)
        wake()
      })
    active.set(run.id, { handle, done })
    return done
  }

  async function runLoop(pollMs: number): Promise<void> {
    while (running) {
      const free = settings.concurrency - active.size
      let claimed: ClaimedRun[] = []
      if (free > 0) {
        try {
          claimed = await claim(free)
        } catch (error) {
          reportError(error)
        }
        if (!running) {
          for (const run of claimed) await storage.updateClaimedRunStatus(run.id, run.leaseId, 'pending').catch(reportError)
          break
        }
        for (const run of claimed) void launch(run)
        if (claimed.length > 0 && claimed.length === free) continue
      }
      await sleepUntilWoken(pollMs)
    }
  }

  async function enqueue(name: string, input: unknown, options?: EnqueueOptions): Promise<WorkflowRun> {
    const workflow = registry.get(name)
    if (!workflow) throw new UnknownWorkflowError(String(name), names)
    const key = options?.idempotencyKey
    if (key !== undefined && (typeof key !== 'string' || key === '')) {
      throw new InvalidArgumentError(`enqueue("${name}"): idempotencyKey must be a non-empty string, got ${JSON.stringify(key)}`)
    }
    const parsed = await workflow.parseInput(input)
    const stored = roundTrip(parsed, `Input of workflow "${name}"`)
    const now = clock.now()
    const result = await storage.createRun({
      id: crypto.randomUUID(),
      workflow: name,
      input: stored,
      status: 'pending',
      idempotencyKey: key ?? null,
      createdAt: now,
      updatedAt: now,
    })
    if (!result.created && !jsonEqual(result.run.input, stored)) {
      throw new IdempotencyConflictError(name, key!, result.run.id)
    }
    if (result.created) wake()
    return result.run
  }

  const engine: Engine<readonly AnyWorkflow[]> = {
    async start(pollIntervalMs = DEFAULT_POLL_MS) {
      assertPositive('start(pollIntervalMs)', pollIntervalMs)
      if (running) return
      await storage.initialize()
      await loop
      running = true
      loop = runLoop(pollIntervalMs)
    },

    async stop() {
      running = false
      scheduler.clear()
      stopController.abort(new EngineStoppedError())
      wake()
      await loop
      await Promise.all([...active.values()].map((a) => a.done))
      stopController = new AbortController()
    },

    async tick() {
      const claimed = await claim(settings.concurrency)
      await Promise.all(claimed.map(launch))
    },

    enqueue: enqueue as Engine['enqueue'],

    async cancel(runId) {
      const cancelled = await storage.updateRunStatus(runId, 'cancelled')
      if (cancelled) active.get(runId)?.handle.controller.abort(new RunCancelledError(runId))
      return cancelled
    },

    async retry(runId) {
      if (!storage.retryRun) {
        throw new InvalidArgumentError('retry() needs a storage adapter that implements retryRun (SQLiteStorage and MemoryStorage do)')
      }
      const retried = await storage.retryRun(runId)
      if (retried) wake()
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
