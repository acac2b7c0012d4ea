/**
 * The dispatcher: keeps `concurrency` slots full, executes what it claims, and wakes up when there
 * may be work. Driven by events, not a loop:
 *
 *   slot frees ─┐                           ┌─ claimed = asked → ask again (slots may be free still)
 *   enqueue ────┤                           │
 *   due timer ──┼─▶ fill: claim(free) ──────┤
 *   poll/change ┘                           └─ claimed < asked → idle: arm the due timer for the next
 *                                              parked run, the poll timer, and the change watch
 *
 * Modes: stopped ──start()──▶ started ──stop()──▶ stopping (no claims; in-flight work finishes and
 * is recorded, runs are handed back) ──▶ stopped. `tick()` works in any mode but stopping.
 *
 * Executions are keyed by lease id. A run never has two executions here: claims exclude the runs
 * this engine executes, and a run that comes back anyway (cancelled elsewhere, then retried while its
 * cancelled handler still runs) starts only after the older execution has settled.
 *
 * A slot counts as free as soon as its execution's final write has been issued, so the claim that
 * refills it joins the same group commit. Expired leases are looked for once per poll interval, and
 * only after this engine's own leases are known to be fresh (renewed first if they might look
 * overdue: a frozen process, a wall-clock jump), so an engine never takes over its own live runs.
 * While an execution has run for more than 20 ms, change notifications also check the leases, so a
 * cancel made by another process or the CLI aborts a step within milliseconds of that.
 */

import { monotonicNow, type Clock, type TimerHandle } from '../core/clock.ts'
import { EngineStoppedError, LeaseLostError, RunCancelledError } from '../core/errors.ts'
import type { Claim, Store } from '../storage/store.ts'
import type { AnyWorkflow } from '../workflow/workflow.ts'
import { createChangeWatch } from './change-watch.ts'
import { abortExecution, executeRun, type Execution, type ExecutorContext } from './executor.ts'
import { createLeaseKeeper } from './lease.ts'

export interface DispatcherOptions {
  store: Store
  clock: Clock
  registry: ReadonlyMap<string, AnyWorkflow>
  concurrency: number
  leaseMs: number
  heartbeatIntervalMs: number
  owner: string
  /** Whether expired leases are taken over (testEngine's in-memory engine never needs to). */
  reclaimExpired: boolean
  reportError(error: unknown): void
  /** An execution ended (its run may have finished): `engine.result()` looks again. */
  onSettled(): void
  executor: Omit<ExecutorContext, 'store' | 'clock' | 'reportError' | 'stopSignal' | 'finishing' | 'parked'>
}

interface Slot {
  execution: Execution
  /** Monotonic time of the launch: only executions older than WATCH_AFTER_MS make the engine watch leases. */
  launchedAt: number
  done: Promise<void>
  /** Its final write has been issued: the slot may be refilled in the same batch. */
  finishing: boolean
}

/** A wall clock that moved this much more or less than the monotonic one has jumped. */
const JUMP_MS = 1_000
/** A change notification is looked at this much later, so a burst of them costs one look. */
const LOOK_AFTER_MS = 2
/** How often a started engine looks for pending runs of workflows it does not register. */
const UNKNOWN_CHECK_MS = 60_000
/** Executions younger than this do not make the engine watch for cancels from elsewhere. */
const WATCH_AFTER_MS = 20

export function createDispatcher(options: DispatcherOptions) {
  const { store, clock, registry, concurrency, leaseMs, reportError } = options
  const names = [...registry.keys()]
  const slots = new Map<string, Slot>()
  const byRun = new Map<string, Slot>()
  let stopController = new AbortController()

  const leases = createLeaseKeeper({ store, clock, intervalMs: options.heartbeatIntervalMs, leaseDurationMs: leaseMs, onError: reportError })
  const executor: ExecutorContext = {
    ...options.executor,
    store,
    clock,
    reportError,
    get stopSignal() {
      return stopController.signal
    },
    finishing(execution) {
      const slot = slots.get(execution.lease.leaseId)
      if (!slot || slot.finishing) return
      slot.finishing = true
      finishing++
      requestFill()
    },
    parked: (availableAt) => armDue(availableAt),
  }

  let mode: 'stopped' | 'started' | 'stopping' = 'stopped'
  let pollMs = 1_000
  let claiming = 0
  let finishing = 0
  let fillQueued = false
  let requests = 0
  const inFlight = new Set<Promise<unknown>>()
  let pollTimer: TimerHandle | undefined
  let dueTimer: { at: number; handle: TimerHandle } | undefined
  const changes = store.changes ? createChangeWatch(store.changes, lookForWoken, reportError) : undefined
  /**
   * Waiting runs become due by time or by an emit, never by this engine's own refills: a claim looks
   * for them only after a wake-up that may have made one due, so busy refills skip the query.
   */
  let wokenMaybeDue = true
  let drained = true
  let nextExpiryCheck = 0
  /** Pending runs of unregistered workflows are looked for at start and then once a minute. */
  let nextUnknownCheck = 0
  let wall = { now: clock.now(), mono: monotonicNow(clock) }
  /** Expired leases are not judged before this (monotonic): every engine first renews its own after a jump. */
  let judgeAfter = 0
  const reportedUnknown = new Set<string>()
  let unwatchLeases: (() => void) | undefined
  let leaseCheck: Promise<void> | undefined
  let leaseLook: ReturnType<typeof setTimeout> | undefined
  let ageCheck: ReturnType<typeof setTimeout> | undefined
  let seenVersion: number | undefined

  function track<T>(promise: Promise<T>): Promise<T> {
    inFlight.add(promise)
    void promise.finally(() => inFlight.delete(promise)).catch(() => {})
    return promise
  }

  /** Detects a wall-clock jump since the last look; after one, leases are renewed before any judging. */
  function clockJumped(): boolean {
    const now = { now: clock.now(), mono: monotonicNow(clock) }
    const skew = now.now - wall.now - (now.mono - wall.mono)
    wall = now
    if (Math.abs(skew) <= JUMP_MS) return false
    judgeAfter = now.mono + options.heartbeatIntervalMs
    return true
  }

  async function claim(limit: number, includeExpired: boolean, includeWoken = true): Promise<Claim[]> {
    let withExpired = includeExpired && options.reclaimExpired
    if (withExpired) {
      const jumped = clockJumped()
      if (jumped || leases.overdue(options.heartbeatIntervalMs * 1.5)) await leases.renewNow()
      if (monotonicNow(clock) < judgeAfter) withExpired = false
    }
    return store.claim({
      workflows: names,
      limit,
      now: clock.now(),
      leaseMs,
      includeExpired: withExpired,
      includeWoken,
      owner: options.owner,
      exclude: byRun,
    })
  }

  /** Something may have made a waiting run due (a timer, a change, an emit): the next claim looks. */
  function lookForWoken(): void {
    wokenMaybeDue = true
    requestFill()
  }

  function launch(claimed: Claim): Promise<void> {
    const workflow = registry.get(claimed.workflow)!
    const execution: Execution = {
      claim: claimed,
      lease: { runId: claimed.id, leaseId: claimed.leaseId },
      controller: new AbortController(),
      state: { attempt: claimed.attempt, interruptions: claimed.interruptions },
    }
    const slot: Slot = { execution, launchedAt: monotonicNow(clock), done: undefined!, finishing: false }
    const older = byRun.get(claimed.id)
    if (older) abort(older.execution, 'superseded')
    slots.set(claimed.leaseId, slot)
    byRun.set(claimed.id, slot)
    leases.track(execution.lease, (state) => abort(execution, state))
    scheduleAgeCheck()
    const run = () => executeRun(executor, workflow, execution)
    slot.done = (older ? older.done.then(run) : run()).catch(reportError).finally(() => {
      leases.untrack(claimed.leaseId)
      if (slot.finishing) finishing--
      slots.delete(claimed.leaseId)
      if (byRun.get(claimed.id) === slot) byRun.delete(claimed.id)
      if (slots.size === 0) unwatchLeasesNow()
      options.onSettled()
      requestFill()
    })
    return slot.done
  }

  function abort(execution: Execution, state: 'cancelled' | 'lost' | 'superseded' | 'abandoned'): void {
    if (execution.controller.signal.aborted) return
    const id = execution.claim.id
    const reason = state === 'cancelled' ? new RunCancelledError(id) : state === 'abandoned' ? new EngineStoppedError() : new LeaseLostError(id)
    abortExecution(executor, execution, reason)
  }

  /**
   * While an execution has run for WATCH_AFTER_MS, a change made elsewhere may be its cancel: watch
   * for changes and check the leases. Short executions never pay for the watch (a file notification
   * per commit); one look at every lease when the watch starts covers what happened before it.
   */
  function scheduleAgeCheck(): void {
    if (ageCheck !== undefined || unwatchLeases || !store.changes) return
    ageCheck = setTimeout(() => {
      ageCheck = undefined
      if (slots.size === 0) return
      const now = monotonicNow(clock)
      if ([...slots.values()].some((slot) => now - slot.launchedAt >= WATCH_AFTER_MS)) watchLeases()
      else scheduleAgeCheck()
    }, WATCH_AFTER_MS)
    ;(ageCheck as { unref?: () => void }).unref?.()
  }

  function watchLeases(): void {
    if (unwatchLeases || !store.changes) return
    try {
      seenVersion = undefined
      unwatchLeases = store.changes.watch(onChangeNotified) ?? (() => {})
      lookAtLeases(false)
    } catch (error) {
      reportError(error)
    }
  }

  function unwatchLeasesNow(): void {
    unwatchLeases?.()
    unwatchLeases = undefined
    if (ageCheck !== undefined) clearTimeout(ageCheck)
    ageCheck = undefined
    if (leaseLook !== undefined) clearTimeout(leaseLook)
    leaseLook = undefined
  }

  /**
   * A change notification while executions exist: look at the change source shortly (one look per
   * burst of notifications), and at the leases when it moved. A file notification can precede the
   * commit it announces, so a look that finds no change looks once more.
   */
  function onChangeNotified(): void {
    if (leaseLook !== undefined) return
    leaseLook = setTimeout(() => lookAtLeases(true), LOOK_AFTER_MS)
    ;(leaseLook as { unref?: () => void }).unref?.()
  }

  function lookAtLeases(again: boolean): void {
    leaseLook = undefined
    if (leaseCheck || slots.size === 0 || !store.changes) return
    let version: number
    try {
      version = store.changes.version()
    } catch {
      return
    }
    if (version === seenVersion) {
      if (again) {
        leaseLook = setTimeout(() => lookAtLeases(false), LOOK_AFTER_MS)
        ;(leaseLook as { unref?: () => void }).unref?.()
      }
      return
    }
    seenVersion = version
    const executions = [...slots.values()].map((s) => s.execution).filter((e) => !e.controller.signal.aborted)
    if (executions.length === 0) return
    leaseCheck = store
      .leaseStates(executions.map((e) => e.lease))
      .then((states) => states.forEach((state, i) => state !== 'held' && abort(executions[i]!, state)), reportError)
      .finally(() => {
        leaseCheck = undefined
      })
  }

  function requestFill(): void {
    requests++
    if (mode !== 'started' || fillQueued) return
    fillQueued = true
    queueMicrotask(fill)
  }

  function fill(): void {
    fillQueued = false
    if (mode !== 'started') return
    const limit = concurrency - (slots.size - finishing) - claiming
    if (limit <= 0) return
    claiming += limit
    const requestsAtClaim = requests
    const snapshotSkipped = changes !== undefined && !drained
    if (changes && drained) changes.snapshot()
    const mono = monotonicNow(clock)
    const withExpired = mono >= nextExpiryCheck
    if (withExpired) {
      nextExpiryCheck = mono + pollMs
      try {
        store.verify?.()
      } catch (error) {
        claiming -= limit
        return halt(error)
      }
      if (mono >= nextUnknownCheck) {
        nextUnknownCheck = mono + UNKNOWN_CHECK_MS
        void track(lookForUnknownWorkflows())
      }
    }
    const withWoken = wokenMaybeDue || withExpired
    wokenMaybeDue = false
    track(claim(limit, withExpired, withWoken)).then(
      (claimed) => {
        claiming -= limit
        if (mode !== 'started') return void track(handBack(claimed))
        // A full batch that took waiting runs may have left more behind: the next claims look again.
        // (Otherwise they are looked for again at the next wake-up, the poll at the latest.)
        if (withWoken && claimed.length === limit && claimed.some((run) => run.wait !== null)) wokenMaybeDue = true
        for (const run of claimed) void launch(run)
        changes?.claimed(claimed.length > 0)
        drained = claimed.length < limit
        if (!drained) {
          changes?.disarm()
          return requestFill()
        }
        // Another claim still out decides, the last to come back: each sees requests made after it
        // began. (Two overlapping claims that each counted the other's refill as news, and asked again,
        // kept an engine with nothing to claim claiming forever.)
        if (claiming > 0) return
        if (requests !== requestsAtClaim || snapshotSkipped) requestFill()
        else idle()
      },
      (error) => {
        claiming -= limit
        reportError(error)
        idle()
      },
    )
  }

  /** Claimed as the engine stopped: give them straight back, due at once, for the next engine. */
  async function handBack(claimed: readonly Claim[]): Promise<void> {
    for (const run of claimed) {
      const state = { availableAt: clock.now(), attempt: run.attempt, interruptions: run.interruptions }
      await store.release({ runId: run.id, leaseId: run.leaseId }, state, clock.now()).catch(reportError)
    }
  }

  /** Nothing more to claim now: wait for an event, the next due run, the poll timer or a change. */
  function idle(): void {
    if (mode !== 'started') return
    pollTimer ??= clock.setTimer(pollMs, () => {
      pollTimer = undefined
      lookForWoken()
    })
    changes?.arm()
    void track(store.nextDueAt(names, clock.now()).then((at) => at !== null && armDue(at), reportError))
  }

  /** Wakes the engine when a parked run falls due (only the earliest matters). */
  function armDue(at: number): void {
    if (mode !== 'started' || (dueTimer && dueTimer.at <= at)) return
    dueTimer?.handle.cancel()
    const handle = clock.setTimer(at - clock.now(), () => {
      if (dueTimer?.handle === handle) dueTimer = undefined
      lookForWoken()
    })
    dueTimer = { at, handle }
  }

  /** Pending runs of workflows this engine does not know wait silently forever: say so, once each. */
  async function lookForUnknownWorkflows(): Promise<void> {
    const unknown = await store.unknownWorkflows(names, 10).catch((error) => (reportError(error), [] as string[]))
    for (const name of unknown) {
      if (reportedUnknown.has(name)) continue
      reportedUnknown.add(name)
      const known = names.length ? names.map((n) => `"${n}"`).join(', ') : '(none)'
      reportError(
        new Error(
          `There are pending runs of workflow "${name}", which this engine does not have registered (it knows ${known}); ` +
            'they wait for an engine that registers it',
        ),
      )
    }
  }

  /** The storage cannot keep what it acknowledges any more: say so once and take no more work. */
  function halt(error: unknown): void {
    reportError(error)
    mode = 'stopped'
    stopTimers()
  }

  function stopTimers(): void {
    pollTimer?.cancel()
    pollTimer = undefined
    dueTimer?.handle.cancel()
    dueTimer = undefined
    changes?.disarm()
  }

  let stopping: Promise<void> | undefined

  return {
    get started() {
      return mode === 'started'
    },

    async start(poll: number): Promise<void> {
      if (stopping) await stopping
      if (mode === 'started') return
      mode = 'started'
      pollMs = poll
      drained = true
      nextExpiryCheck = 0
      nextUnknownCheck = 0
      wall = { now: clock.now(), mono: monotonicNow(clock) }
      requestFill()
    },

    /** Claims up to `concurrency` runs once and executes them to their end (or until they park). */
    tick(): Promise<void> {
      return track(claim(concurrency, true).then((claimed) => Promise.all(claimed.map(launch)).then(() => leases.sweep())))
    },

    /** Cancels an execution here at once, with the cancellation as its reason. */
    cancelled(runId: string): void {
      const slot = byRun.get(runId)
      if (slot) abort(slot.execution, 'cancelled')
    },

    wake: requestFill,

    /** An emit through this engine may have made waiting runs due. */
    wakeWaiting: lookForWoken,

    /** A run was created or released until `availableAt`: wake up then. */
    parked: armDue,

    stop(deadlineMs: number | undefined): Promise<void> {
      stopping ??= (async () => {
        mode = 'stopping'
        stopTimers()
        stopController.abort(new EngineStoppedError())
        const settled = (async () => {
          while (inFlight.size > 0 || slots.size > 0) {
            await Promise.allSettled([...inFlight, ...[...slots.values()].map((s) => s.done)])
          }
        })()
        if (deadlineMs === undefined) await settled
        else await Promise.race([settled, abandonAfter(deadlineMs)])
        unwatchLeasesNow()
        leases.sweep()
        stopController = new AbortController()
        mode = 'stopped'
      })().finally(() => {
        stopping = undefined
      })
      return stopping
    },
  }

  /**
   * stop()'s deadline: executions still running then are abandoned. Their signals abort, their runs
   * are handed back (the cut-off attempt counts as an interruption), and their handlers' eventual
   * results are ignored (every write is fenced by the lease, which is gone).
   */
  async function abandonAfter(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      ;(timer as { unref?: () => void }).unref?.()
    })
    const abandoned = [...slots.values()]
    await Promise.all(
      abandoned.map(async ({ execution }) => {
        abort(execution, 'abandoned')
        leases.untrack(execution.lease.leaseId)
        const state = { availableAt: clock.now(), attempt: execution.state.attempt, interruptions: execution.state.interruptions + 1 }
        await store.release(execution.lease, state, clock.now()).catch(reportError)
      }),
    )
    for (const slot of abandoned) {
      slots.delete(slot.execution.lease.leaseId)
      byRun.delete(slot.execution.claim.id)
    }
    inFlight.clear()
  }
}

export type Dispatcher = ReturnType<typeof createDispatcher>
