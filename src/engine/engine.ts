/**
 * createEngine: wires workflows to a store and exposes the public engine. The dispatcher
 * (dispatcher.ts) claims and executes runs; the executor (executor.ts) runs one claimed run; this
 * module validates configuration and input, and performs the transitions a caller asks for
 * (enqueue, cancel, retry) through the store. A user's own StorageAdapter is wrapped into a store
 * once (storage/wrap-adapter.ts), so everything below has one code path.
 */

import { SystemClock, type Clock } from '../core/clock.ts'
import {
  IdempotencyConflictError,
  InvalidArgumentError,
  UnknownWorkflowError,
} from '../core/errors.ts'
import { deserialize, serialize, storedEqual } from '../core/json.ts'
import { workflowRunOf, type RunInfo, type WorkflowRun } from '../core/types.ts'
import type { StorageAdapter } from '../storage/adapter.ts'
import { describeOwner, hasStore, STORE, type Store } from '../storage/store.ts'
import { wrapAdapter } from '../storage/wrap-adapter.ts'
import type { AnyWorkflow, Workflow, WorkflowEnqueueInput } from '../workflow/workflow.ts'
import type { EventDefinition, EventPayloadInput } from '../workflow/event.ts'
import { parseDuration, type Duration } from '../core/duration.ts'
import { assertWellFormed } from '../core/identifiers.ts'
import { createUuidV7 } from '../core/uuid.ts'
import { createDispatcher } from './dispatcher.ts'
import type { EngineHooks } from './hooks.ts'
import { createScheduleRunner, parseDeclarations, type ScheduleDeclaration } from './schedules.ts'
import { createResultWaiter } from './results.ts'
import { persistWithRetries } from './persist.ts'
import { createRetention, resolveRetention, supportsRetention, type RetentionPolicy } from './retention.ts'

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
  /**
   * Attempts of one step cut off by a crash or a lost lease (a poison input that kills its worker)
   * after which the run fails with StepInterruptedError instead of trying again. Default: 5.
   */
  maxInterruptions?: number
  /** How long `onFailure` may run before the run is failed without waiting for it (reported through onError). Default: 60000. */
  onFailureTimeoutMs?: number
  /**
   * Deletes finished runs (with their steps) and events older than these windows (`'7d'`, or
   * milliseconds), each key optional; absent, nothing is ever deleted. A started engine tries a pass
   * 5 s after start() and then every minute; of all engines on the storage, one at a time runs it
   * (a lease in the storage), in transactions of 1,000 runs. A wait receives only events younger
   * than `events`.
   */
  retention?: RetentionPolicy
  /**
   * Persisted schedules: each slot makes one run across every engine sharing the storage. Their
   * shape is checked by createEngine, their inputs against the workflows' schemas by start().
   */
  schedules?: readonly ScheduleDeclaration<WorkflowName<W>>[]
}

export type { ScheduleDeclaration }

export interface StopOptions {
  /**
   * Give up waiting for in-flight steps after this many milliseconds: their signals abort, their runs
   * are handed back for another engine (the cut-off attempt counts as an interruption) and stop()
   * returns. Default: wait as long as they take.
   */
  timeoutMs?: number
}

export interface RetryOptions {
  /** Re-run this step and every step after it, keeping the outputs of the steps before it. */
  fromStep?: string
}

export interface EnqueueOptions {
  /** Same key + same input returns the existing run; same key + different input throws. */
  idempotencyKey?: string
  /** Start the run this long from now (`'10m'`, or milliseconds); it holds no slot meanwhile. */
  delay?: Duration
  /** Start the run at this time (a Date or epoch milliseconds); a time past starts it at once. */
  runAt?: Date | number
}

export interface EmitOptions<E> {
  /** Which waits receive it: those whose `key` function gave this key. */
  key: string
  payload: EventPayloadInput<E>
  /** Emitting again with this key (for this event name) stores nothing. */
  idempotencyKey?: string
}

export interface ResultOptions {
  /** Give up after this long (`'30s'`, or milliseconds) with a ResultTimeoutError. Default: wait until the run finishes. */
  timeout?: Duration
}

/** How a run ended, as `engine.result()` reports it. */
export type RunResult<TOutput = unknown> =
  | { status: 'completed'; output: TOutput }
  | { status: 'failed'; stepName: string; error: Error }
  | { status: 'cancelled' }

/** A run as `enqueue` returns it: its workflow's name is known at compile time. */
export type EnqueuedRun<N extends string = string> = WorkflowRun & { readonly workflow: N }

/** The stored output of a workflow's last step. */
export type WorkflowOutput<W> = W extends Workflow<string, any, any, infer TLast> ? TLast : unknown

type WorkflowName<W extends readonly AnyWorkflow[]> = W[number]['name']
type WorkflowNamed<W extends readonly AnyWorkflow[], N> = Extract<W[number], { readonly name: N }>

export interface Engine<W extends readonly AnyWorkflow[] = readonly AnyWorkflow[]> {
  /** Initialises storage and starts processing runs continuously, polling every `pollIntervalMs` (default 1000). */
  start(pollIntervalMs?: number): Promise<void>
  /**
   * Stops claiming, clears schedules, and waits for in-flight ticks and steps to finish and be
   * recorded; runs it was executing are handed back as pending, due at once.
   */
  stop(options?: StopOptions): Promise<void>
  /** Claims up to `concurrency` pending or stale runs and executes them to their end. */
  tick(): Promise<void>
  /** Validates `input` and records a new pending run. */
  enqueue<N extends WorkflowName<W>>(
    name: N,
    input: WorkflowEnqueueInput<WorkflowNamed<W, N>>,
    options?: EnqueueOptions,
  ): Promise<EnqueuedRun<N>>
  /**
   * Resolves once the run has finished: `{ status: 'completed', output }` (the last step's stored
   * output, typed when you pass the run `enqueue` returned), `{ status: 'failed', stepName, error }`
   * or `{ status: 'cancelled' }`. Woken by this engine's own work and by change notifications from
   * other processes on the same storage (a poll each second is the fallback), so it also works in a
   * process that never called `start()`. Rejects with UnknownRunError for an unknown id and with
   * ResultTimeoutError when `timeout` passes first.
   *
   * @example
   * const run = await engine.enqueue('signup', { email: 'ada@example.com' })
   * const result = await engine.result(run, { timeout: '30s' })
   * if (result.status === 'completed') console.log(result.output.sentTo)
   */
  result<N extends WorkflowName<W>>(
    run: { readonly id: string; readonly workflow: N },
    options?: ResultOptions,
  ): Promise<RunResult<WorkflowOutput<WorkflowNamed<W, N>>>>
  result(runId: string, options?: ResultOptions): Promise<RunResult>
  /**
   * Stores an event (its payload validated by the event's schema first: nothing is written when it
   * fails) and, in the same transaction, wakes every run waiting for its name and key; a run that
   * reaches its wait later receives it too. Works from any process on the storage, started or not.
   * With an idempotency key already used for this event, the first event stands: the same payload
   * returns it, another payload throws IdempotencyConflictError.
   *
   * @example
   * await engine.emit(approved, { key: 'e-1', payload: { by: 'ada' } })
   */
  emit<E extends EventDefinition>(event: E, options: EmitOptions<E>): Promise<{ eventId: number; created: boolean }>
  /** Cancels a pending, running or waiting run; false if it had already finished (or does not exist). */
  cancel(runId: string): Promise<boolean>
  /**
   * Puts a failed or cancelled run back to pending: it resumes at the step that failed (or at
   * `fromStep`), and the steps recorded before it are kept and not re-run; the failed attempts stay
   * in its history. False if the run is not failed or cancelled.
   */
  retry(runId: string, options?: RetryOptions): Promise<boolean>
  /**
   * Enqueues `name` with `input` every `intervalMs` (slots at multiples of it since the epoch);
   * returns an id for `unschedule`. Persisted under an id derived from name, input and interval:
   * several engines that register the same schedule make one run per interval between them.
   */
  schedule<N extends WorkflowName<W>>(name: N, input: WorkflowEnqueueInput<WorkflowNamed<W, N>>, intervalMs: number): string
  /** Removes a schedule; false if the id is unknown. */
  unschedule(scheduleId: string): boolean
  /** The run, its recorded steps and its failed attempts, or null for an unknown id. */
  getRunStatus(runId: string): Promise<RunInfo | null>
}

const DEFAULT_LEASE_MS = 30_000
const DEFAULT_POLL_MS = 1_000
const DEFAULT_MAX_INTERRUPTIONS = 5
const DEFAULT_ON_FAILURE_TIMEOUT_MS = 60_000
/** How long a handler may ignore its aborted signal before the engine reports it through onError. */
const IGNORED_ABORT_GRACE_MS = 10_000

/** The store behind a storage object: its own when it is a built-in one, else the adapter wrapped. */
function storeOf(storage: StorageAdapter): Store {
  return hasStore(storage) ? storage[STORE]() : wrapAdapter(storage)
}

/**
 * Creates an engine that connects workflows to storage and executes them.
 *
 * @example
 * const engine = createEngine({ storage: new SQLiteStorage('./reflow.db'), workflows: [signup] })
 * await engine.start()
 * await engine.enqueue('signup', { email: 'ada@example.com' })
 */
export function createEngine<const W extends readonly AnyWorkflow[]>(config: EngineConfig<W>): Engine<W> {
  return buildEngine(config, { reclaimExpired: true })
}

/** createEngine with the knobs only reflow's own tools use (testEngine never reclaims leases). */
export function buildEngine<const W extends readonly AnyWorkflow[]>(config: EngineConfig<W>, internal: { reclaimExpired: boolean }): Engine<W> {
  const settings = resolveConfig(config)
  const store = storeOf(config.storage)
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

  const dispatcher = createDispatcher({
    store,
    clock,
    registry,
    concurrency: settings.concurrency,
    leaseMs: settings.runLeaseDurationMs,
    heartbeatIntervalMs: settings.heartbeatIntervalMs,
    owner: describeOwner(),
    onSettled: () => results.changed(),
    reclaimExpired: internal.reclaimExpired,
    reportError,
    executor: {
      hooks,
      maxInterruptions: settings.maxInterruptions,
      onFailureTimeoutMs: settings.onFailureTimeoutMs,
      ignoredAbortGraceMs: IGNORED_ABORT_GRACE_MS,
      persist: (write) => persistWithRetries(write, reportError),
    },
  })
  const policy = resolveRetention(config.retention)
  if (policy && !supportsRetention(store)) throw new InvalidArgumentError('retention needs a built-in storage (SQLite or memory); this storage cannot delete runs')
  const retention = policy && supportsRetention(store)
    ? createRetention({
        store,
        clock,
        policy,
        holder: `${describeOwner()} ${crypto.randomUUID()}`,
        onPass: (event) => {
          try {
            hooks.onRetention?.(event)
          } catch (error) {
            reportError(error)
          }
        },
        reportError,
      })
    : null
  const nextRunId = createUuidV7(() => clock.now())
  const scheduler = createScheduleRunner(
    parseDeclarations(config.schedules, new Set(names), (value, what) => (value === undefined ? null : serialize(value, what))),
    {
      store,
      clock,
      reportError,
      workflows: names,
      onCreated: () => dispatcher.wake(),
      async makeRun(name, input, idempotencyKey, schedule) {
        const workflow = registry.get(name)
        if (!workflow) throw new UnknownWorkflowError(name, names)
        const inputJson = serialize(await workflow.parseInput(input), `Input of workflow "${name}"`)
        const now = clock.now()
        return {
          id: nextRunId(), workflow: name, inputJson, input: deserialize(inputJson), idempotencyKey, createdAt: now, availableAt: now,
          firstStep: workflow.steps[0]?.name ?? null, schedule,
        }
      },
    },
  )

  async function enqueue(name: string, input: unknown, options?: EnqueueOptions): Promise<WorkflowRun> {
    const workflow = registry.get(name)
    if (!workflow) throw new UnknownWorkflowError(String(name), names)
    const key = options?.idempotencyKey
    if (key !== undefined && (typeof key !== 'string' || key === '')) {
      throw new InvalidArgumentError(`enqueue("${name}"): idempotencyKey must be a non-empty string, got ${JSON.stringify(key)}`)
    }
    if (key !== undefined) assertWellFormed(`enqueue("${name}"): idempotency key`, key)
    const startAt = resolveStart(name, options)
    const parsed = await workflow.parseInput(input)
    const inputJson = serialize(parsed, `Input of workflow "${name}"`)
    const stored = deserialize(inputJson)
    const now = clock.now()
    const result = await store.createRun({
      id: nextRunId(),
      workflow: name,
      inputJson,
      input: stored,
      idempotencyKey: key ?? null,
      createdAt: now,
      availableAt: startAt === undefined ? now : Math.max(now, startAt(now)),
      firstStep: workflow.steps[0]?.name ?? null,
    })
    if (!result.created && !storedEqual(result.run.input, stored)) {
      throw new IdempotencyConflictError(name, key!, result.run.id)
    }
    if (result.created) {
      if (result.run.availableAt !== null && result.run.availableAt > now) dispatcher.parked(result.run.availableAt)
      else dispatcher.wake()
    }
    return workflowRunOf(result.run)
  }

  const results = createResultWaiter({ store, registry, onError: reportError })

  const engine: Engine<readonly AnyWorkflow[]> = {
    async start(pollIntervalMs = DEFAULT_POLL_MS) {
      assertPositive('start(pollIntervalMs)', pollIntervalMs)
      await store.initialize()
      await scheduler.start(async (name, input) => registry.get(name)!.parseInput(input))
      await dispatcher.start(pollIntervalMs)
      retention?.start()
    },

    async stop(options) {
      const timeoutMs = options?.timeoutMs
      if (timeoutMs !== undefined) assertPositive('stop({ timeoutMs })', timeoutMs)
      await scheduler.stop()
      await Promise.all([dispatcher.stop(timeoutMs), retention?.stop()])
    },

    tick: () => dispatcher.tick(),

    enqueue: enqueue as Engine['enqueue'],

    async cancel(runId) {
      const cancelled = await store.cancel(runId, clock.now())
      if (cancelled) {
        dispatcher.cancelled(runId)
        results.changed()
      }
      return cancelled
    },

    async emit(event, options) {
      if (typeof event?.name !== 'string' || typeof event.parsePayload !== 'function') {
        throw new InvalidArgumentError(`emit(): expected an event made with defineEvent(), got ${describeArg(event)}`)
      }
      const key = options?.key
      if (typeof key !== 'string' || key === '') throw new InvalidArgumentError(`emit("${event.name}"): key must be a non-empty string, got ${describeArg(key)}`)
      assertWellFormed(`emit("${event.name}"): key`, key)
      const idempotencyKey = options.idempotencyKey ?? null
      if (idempotencyKey !== null) assertWellFormed(`emit("${event.name}"): idempotency key`, idempotencyKey)
      const payload = await event.parsePayload(options.payload)
      const payloadJson = serialize(payload, `Payload of event "${event.name}"`)
      const stored = await store.emit({ name: event.name, key, payloadJson, idempotencyKey, now: clock.now() })
      if (!stored.created && !storedEqual(deserialize(stored.payloadJson), deserialize(payloadJson))) {
        throw new IdempotencyConflictError(
          event.name,
          idempotencyKey!,
          String(stored.id),
          `Idempotency key "${idempotencyKey}" of event "${event.name}" was already used by event ${stored.id} with a different payload`,
        )
      }
      if (stored.created) dispatcher.wakeWaiting()
      return { eventId: stored.id, created: stored.created }
    },

    result: ((run: string | { id: string }, options?: ResultOptions) => {
      const runId = typeof run === 'string' ? run : run?.id
      if (typeof runId !== 'string' || runId === '') {
        throw new InvalidArgumentError(`result(): expected a run id or the run enqueue returned, got ${describeArg(run)}`)
      }
      const timeoutMs = options?.timeout === undefined ? undefined : parseDuration(options.timeout, 'result() timeout')
      return results.wait(runId, timeoutMs)
    }) as Engine['result'],

    async retry(runId, options) {
      const fromStep = options?.fromStep
      if (fromStep !== undefined) {
        const run = await store.getRun(runId)
        const workflow = run && registry.get(run.workflow)
        if (workflow && !workflow.steps.some((s: { name: string }) => s.name === fromStep)) {
          const steps = workflow.steps.map((s: { name: string }) => `"${s.name}"`).join(', ')
          throw new InvalidArgumentError(`retry(${runId}, { fromStep }): workflow "${run.workflow}" has no step "${fromStep}" (its steps: ${steps})`)
        }
      }
      const retried = await store.retry(runId, clock.now(), fromStep === undefined ? {} : { fromStep })
      if (retried) dispatcher.wake()
      return retried
    },

    schedule(name, input, intervalMs) {
      if (!registry.has(name)) throw new UnknownWorkflowError(String(name), names)
      assertPositive('schedule(intervalMs)', intervalMs)
      return scheduler.add(name, input, input === undefined ? null : serialize(input, `Input of schedule of workflow "${name}"`), intervalMs)
    },

    unschedule(scheduleId) {
      return scheduler.remove(scheduleId)
    },

    async getRunStatus(runId): Promise<RunInfo | null> {
      const run = await store.getRun(runId)
      if (!run) return null
      const [steps, attempts] = await Promise.all([store.getSteps(runId), store.getAttempts(runId)])
      return { run, steps, attempts }
    },
  }
  return engine as unknown as Engine<W>
}

/** When a delayed run becomes due, from enqueue's `delay` or `runAt` (undefined: at once). */
function resolveStart(name: string, options: EnqueueOptions | undefined): ((now: number) => number) | undefined {
  const { delay, runAt } = options ?? {}
  if (delay !== undefined && runAt !== undefined) {
    throw new InvalidArgumentError(`enqueue("${name}"): give delay or runAt, not both`)
  }
  if (delay !== undefined) {
    const ms = parseDuration(delay, `enqueue("${name}") delay`)
    return (now) => now + ms
  }
  if (runAt === undefined) return undefined
  const at = runAt instanceof Date ? runAt.getTime() : runAt
  if (typeof at !== 'number' || !Number.isFinite(at)) {
    throw new InvalidArgumentError(`enqueue("${name}"): runAt must be a Date or epoch milliseconds, got ${describeArg(runAt)}`)
  }
  return () => at
}

function describeArg(value: unknown): string {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString()
  if (typeof value === 'object' && value !== null) return 'an object'
  return typeof value === 'string' ? JSON.stringify(value) : String(value)
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
  const maxInterruptions = config.maxInterruptions ?? DEFAULT_MAX_INTERRUPTIONS
  if (!Number.isInteger(maxInterruptions) || maxInterruptions < 1) {
    throw new InvalidArgumentError(`createEngine: maxInterruptions must be an integer >= 1, got ${String(maxInterruptions)}`)
  }
  const onFailureTimeoutMs = config.onFailureTimeoutMs ?? DEFAULT_ON_FAILURE_TIMEOUT_MS
  assertPositive('createEngine: onFailureTimeoutMs', onFailureTimeoutMs)
  return { concurrency, runLeaseDurationMs, heartbeatIntervalMs, maxInterruptions, onFailureTimeoutMs }
}

function assertPositive(what: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(`${what} must be a positive number of milliseconds, got ${String(value)}`)
  }
}
