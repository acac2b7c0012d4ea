/**
 * Runs one claimed run (one execution, under one lease) until it finishes or lets go of the run.
 *
 *   a recorded step the workflow no longer has (renamed in a deploy) → fail: never re-run it under a new name
 *   for each step in order:
 *     recorded completed → its stored output becomes `prev`; skip (never re-run)
 *     recorded failed    → a crash hit between recording the failure and failing the run: onFailure, fail
 *     too many interruptions of this step → fail it (StepInterruptedError): crash loops end
 *     otherwise → one attempt; the executor waits for the handler to settle, even after a timeout,
 *                 a cancel or a lost lease, so at most one attempt of a run is ever in flight here
 *       completed → record it under the lease (the last step completes the run in the same write)
 *       threw, attempts left → release the run with its wake time and attempt state: no slot, no lease
 *       threw, none left (or NonRetryableError, or an output that cannot be stored) → record, onFailure, fail
 *
 * Every write is fenced by the lease and retried on transient storage errors (`ctx.persist`);
 * when a write reports the lease gone, the executor stops touching the run. Cancellation, lease loss
 * and an abandoning stop abort the execution's signal; the handler's eventual result is ignored.
 * An engine stop lets the current step finish and be recorded, then releases the run, due at once.
 */

import {
  describeThrown,
  LeaseLostError,
  NonRetryableError,
  ReflowError,
  StepInterruptedError,
  StepRenamedError,
  StepTimeoutError,
} from '../core/errors.ts'
import type { Clock, TimerHandle } from '../core/clock.ts'
import { deserialize, serialize } from '../core/json.ts'
import { retryDelay } from '../core/retry.ts'
import type { Claim, Lease, Store, AttemptWrite, StepWrite, StoredEvent } from '../storage/store.ts'
import type { AnyWorkflow, EventStepDefinition, RunStepDefinition, SleepStepDefinition, StepDefinition } from '../workflow/workflow.ts'
import type { RunWait } from '../core/types.ts'
import type { EngineHooks } from './hooks.ts'

export interface ExecutorContext {
  store: Store
  clock: Clock
  hooks: EngineHooks
  reportError(error: unknown): void
  /** Aborted when the engine stops: no new step starts. */
  readonly stopSignal: AbortSignal
  /** Interruptions of one step after which the run fails instead of trying again. */
  maxInterruptions: number
  /** How long onFailure may take before the run is failed without waiting for it. */
  onFailureTimeoutMs: number
  /** How long a handler may ignore its aborted signal before the engine reports it. */
  ignoredAbortGraceMs: number
  /** Called once the execution's final write has been issued: its slot is as good as free. */
  finishing(execution: Execution): void
  /** A run was released until `availableAt`: the dispatcher arms its wake-up. */
  parked(availableAt: number): void
  /** Runs a storage write, retrying transient failures; rejects once it has given up. */
  persist<T>(write: () => Promise<T>): Promise<T>
}

/** One execution of a run under one lease. */
export interface Execution {
  readonly claim: Claim
  readonly lease: Lease
  /** Aborted by cancellation, lease loss or an abandoning stop; the handler's signal follows it. */
  readonly controller: AbortController
  /** The attempt state of the step in progress, as a release must keep it. */
  state: { attempt: number; interruptions: number }
  /** The attempt whose handler is running, if any. */
  attemptInFlight?: AttemptInFlight | undefined
}

/** A handler in flight: its signal, and the timer that reports it if it ignores the signal's abort. */
export interface AttemptInFlight {
  stepName: string
  controller: AbortController
  grace?: TimerHandle
}

type Outcome = { kind: 'completed'; output: unknown } | { kind: 'threw'; thrown: unknown }

export async function executeRun(ctx: ExecutorContext, workflow: AnyWorkflow, execution: Execution): Promise<void> {
  const { clock } = ctx
  const { claim } = execution
  const signal = execution.controller.signal
  const recorded = claim.steps.length === 0 ? undefined : new Map(claim.steps.map((s) => [s.name, s]))
  const steps = workflow.steps as readonly StepDefinition[]
  let prev: unknown
  const renamed = recorded && claim.steps.filter((s) => !steps.some((step) => step.name === s.name)).map((s) => s.name)
  if (renamed && renamed.length > 0) {
    const next = steps[firstUnrecorded(steps, recorded)] ?? steps[steps.length - 1]
    const error = new StepRenamedError(claim.workflow, renamed, steps.map((s) => s.name))
    if (next) return failStep(ctx, workflow, execution, next, error, claim.attempt + claim.interruptions + 1, clock.now())
    return failRun(ctx, workflow, execution, renamed[0]!, error, null)
  }

  for (let index = 0; index < steps.length; index++) {
    const step = steps[index]!
    const done = recorded?.get(step.name)
    if (done?.status === 'completed') {
      // A sleep hands `prev` on unchanged; every other step hands on its output.
      if (step.kind !== 'sleep') prev = done.output
      continue
    }
    if (done?.status === 'failed') return failRun(ctx, workflow, execution, step.name, new Error(done.error ?? 'unknown error'), null)
    if (signal.aborted) return
    // The run's attempt state belongs to its current step; a step reached afresh starts at zero.
    const resumed = claim.currentStep === step.name || (claim.currentStep === null && index === firstUnrecorded(steps, recorded))
    const failed = resumed ? claim.attempt : 0
    const interruptions = resumed ? claim.interruptions : 0
    if (ctx.stopSignal.aborted) return release(ctx, execution, { availableAt: clock.now(), attempt: failed, interruptions })
    const attempt = failed + interruptions + 1
    const startedAt = clock.now()
    execution.state = { attempt: failed, interruptions }
    if (interruptions >= ctx.maxInterruptions) {
      const error = new StepInterruptedError(step.name, interruptions)
      return failStep(ctx, workflow, execution, step, error, attempt, startedAt)
    }

    const last = index === steps.length - 1
    const next = { nextStep: steps[index + 1]?.name ?? null, complete: last }
    if (step.kind !== 'run') {
      const waited = await waitStep(ctx, workflow, execution, step, prev, next)
      if (waited.kind === 'stopped') return
      if (step.kind === 'event') prev = waited.output
      continue
    }

    const outcome = await runAttempt(ctx, execution, step, prev, attempt)
    if (signal.aborted) return
    let json: string | null
    let output: unknown
    try {
      if (outcome.kind === 'threw') throw outcome.thrown
      json = serialize(outcome.output, `Output of step "${step.name}"`)
      output = deserialize(json)
    } catch (thrown) {
      const retryable = !(thrown instanceof NonRetryableError) && !(thrown instanceof ReflowError && thrown.code === 'NOT_SERIALIZABLE')
      if (!retryable || failed + 1 >= step.policy.maxAttempts) return failStep(ctx, workflow, execution, step, thrown, attempt, startedAt)
      const availableAt = clock.now() + retryDelay(step.policy, failed + 1)
      const attemptRecord = attemptWrite(step.name, attempt, thrown, startedAt, clock.now())
      return release(ctx, execution, { availableAt, attempt: failed + 1, interruptions, attemptRecord })
    }

    const result: StepWrite = { name: step.name, status: 'completed', outputJson: json, error: null, attempts: attempt, startedAt, endedAt: clock.now() }
    if (!(await recordCompleted(ctx, execution, result, output, next))) return
    prev = output
  }
  const { onRunComplete } = ctx.hooks
  if (onRunComplete) callHook(ctx, () => onRunComplete({ runId: claim.id, workflow: claim.workflow }))
}

/**
 * A sleep or a wait for an event: passes at once when its time has come or its event is there
 * (recording the step, and for an event which one it received), else parks the run, which then
 * holds no slot and no lease until it is due again (`stopped`). The wait, once parked, is kept
 * on the run, so a resumed run neither restarts a sleep nor recomputes a wait's key or deadline.
 */
async function waitStep(
  ctx: ExecutorContext,
  workflow: AnyWorkflow,
  execution: Execution,
  step: SleepStepDefinition | EventStepDefinition,
  prev: unknown,
  next: { nextStep: string | null; complete: boolean },
): Promise<{ kind: 'passed'; output: unknown } | { kind: 'stopped' }> {
  const { clock, store } = ctx
  const { claim } = execution
  const startedAt = clock.now()
  const earlier = claim.wait?.step === step.name ? claim.wait : null
  let wait: RunWait
  try {
    // The step's own functions (the wake time, the key) run once, when the run first gets here.
    const context = { input: claim.input, prev }
    if (step.kind === 'sleep') {
      wait = earlier?.kind === 'sleep' ? earlier : { kind: 'sleep', step: step.name, until: step.wakeAt(context, startedAt) }
    } else {
      const timeoutAt = step.timeoutMs === undefined ? null : startedAt + step.timeoutMs
      wait = earlier?.kind === 'event' ? earlier : { kind: 'event', step: step.name, event: step.event.name, key: step.key(context), timeoutAt }
    }
  } catch (thrown) {
    await failStep(ctx, workflow, execution, step, thrown, 1, startedAt)
    return { kind: 'stopped' }
  }
  let outputJson: string | null = null
  let eventId: number | null = null
  if (wait.kind === 'sleep') {
    if (wait.until > startedAt) {
      await parkFor(ctx, execution, wait, wait.until)
      return { kind: 'stopped' }
    }
  } else {
    let event = await write(ctx, execution, async () => (await store.findEvent(claim.id, wait.event, wait.key)) ?? { none: true as const })
    if (event === null) return { kind: 'stopped' }
    if ('none' in event && (wait.timeoutAt === null || wait.timeoutAt > startedAt)) {
      const parked = await parkFor(ctx, execution, wait, wait.timeoutAt)
      if (parked.kind === 'stopped') return parked
      event = parked.event
    }
    const received = 'none' in event ? null : event
    eventId = received?.id ?? null
    if (step.kind === 'event' && step.timeoutMs === undefined) outputJson = received!.payloadJson
    else outputJson = serialize(received ? { received: true, payload: deserialize(received.payloadJson) } : { received: false }, `Output of step "${step.name}"`)
  }
  const result: StepWrite = { name: step.name, status: 'completed', outputJson, error: null, attempts: 1, startedAt, endedAt: clock.now(), eventId }
  const output = deserialize(outputJson)
  return (await recordCompleted(ctx, execution, result, output, next)) ? { kind: 'passed', output } : { kind: 'stopped' }
}

/**
 * Records a completed step under the lease (with the run's completion when it is the last step, in
 * the same write) and tells the onStepComplete hook. False when the execution must stop.
 */
async function recordCompleted(
  ctx: ExecutorContext,
  execution: Execution,
  result: StepWrite,
  output: unknown,
  next: { nextStep: string | null; complete: boolean },
): Promise<boolean> {
  if (next.complete) ctx.finishing(execution)
  if (!(await write(ctx, execution, () => ctx.store.recordStep(execution.lease, result, ctx.clock.now(), next)))) return false
  const { onStepComplete } = ctx.hooks
  const { claim } = execution
  if (onStepComplete) {
    callHook(ctx, () => onStepComplete({ runId: claim.id, workflow: claim.workflow, stepName: result.name, output, attempts: result.attempts }))
  }
  return true
}

/**
 * Parks the run (it then holds nothing) and arms the engine's wake-up for `due`; a wait for an
 * event whose event arrived meanwhile is not parked, and gets the event instead.
 */
async function parkFor(
  ctx: ExecutorContext,
  execution: Execution,
  wait: RunWait,
  due: number | null,
): Promise<{ kind: 'stopped' } | { kind: 'event'; event: StoredEvent }> {
  // A sleep always parks, so its slot is as good as free now (the refill joins the park's commit); a
  // wait for an event may find its event instead and go on, holding its slot.
  if (wait.kind === 'sleep') ctx.finishing(execution)
  const parked = await write(ctx, execution, () => ctx.store.park(execution.lease, wait, ctx.clock.now()))
  if (parked === null) return { kind: 'stopped' }
  if (!parked.parked) return { kind: 'event', event: parked.event }
  ctx.finishing(execution)
  if (due !== null) ctx.parked(due)
  return { kind: 'stopped' }
}

/** The index of the first step without a recorded result. */
function firstUnrecorded(steps: readonly StepDefinition[], recorded: Map<string, unknown> | undefined): number {
  const index = steps.findIndex((s) => !recorded?.has(s.name))
  return index === -1 ? steps.length : index
}

/**
 * One attempt: resolves once the handler has settled, whatever happened meanwhile. The handler's
 * signal is the attempt's own (a listener a step leaves on it never hears of a later step's
 * cancel): `abortExecution` aborts it with the execution, and a timeout aborts it alone and becomes
 * the attempt's outcome. A handler that ignores its aborted signal keeps its slot; after a grace
 * period the engine reports it.
 */
async function runAttempt(ctx: ExecutorContext, execution: Execution, step: RunStepDefinition, prev: unknown, attempt: number): Promise<Outcome> {
  const { claim } = execution
  const controller = new AbortController()
  const inFlight: AttemptInFlight = { stepName: step.name, controller }
  execution.attemptInFlight = inFlight
  const runSignal = execution.controller.signal
  if (runSignal.aborted) abortAttempt(ctx, execution, runSignal.reason)
  const { timeoutMs } = step.policy
  let timedOut: StepTimeoutError | undefined
  const timeout =
    timeoutMs === undefined
      ? undefined
      : ctx.clock.setTimer(timeoutMs, () => {
          timedOut = new StepTimeoutError(step.name, timeoutMs)
          abortAttempt(ctx, execution, timedOut)
        })
  let outcome: Outcome
  try {
    const output = await step.handler({
      input: claim.input,
      prev,
      signal: controller.signal,
      runId: claim.id,
      workflow: claim.workflow,
      stepName: step.name,
      attempt,
    })
    outcome = { kind: 'completed', output }
  } catch (thrown) {
    outcome = { kind: 'threw', thrown }
  }
  timeout?.cancel()
  inFlight.grace?.cancel()
  execution.attemptInFlight = undefined
  return timedOut ? { kind: 'threw', thrown: timedOut } : outcome
}

/** Cancellation, lease loss, an abandoning stop: the execution's signal and its attempt's abort. */
export function abortExecution(ctx: AbortContext, execution: Execution, reason: unknown): void {
  if (execution.controller.signal.aborted) return
  execution.controller.abort(reason)
  abortAttempt(ctx, execution, reason)
}

type AbortContext = Pick<ExecutorContext, 'clock' | 'reportError' | 'ignoredAbortGraceMs'>

/**
 * Aborts the handler in flight, if any; if it has not settled after the grace period, says so,
 * naming run and step.
 */
function abortAttempt(ctx: AbortContext, execution: Execution, reason: unknown): void {
  const inFlight = execution.attemptInFlight
  if (!inFlight || inFlight.controller.signal.aborted) return
  inFlight.controller.abort(reason)
  const { claim } = execution
  inFlight.grace = ctx.clock.setTimer(ctx.ignoredAbortGraceMs, () => {
    ctx.reportError(
      new Error(
        `Step "${inFlight.stepName}" of run ${claim.id} (workflow "${claim.workflow}") is still running ${ctx.ignoredAbortGraceMs} ms after its signal ` +
          `was aborted (${describeThrown(reason).message}); it keeps its worker slot until it settles. Pass \`signal\` on to the work it does.`,
      ),
    )
  })
}

/** A step failed for good: record it with its last attempt, compensate, fail the run. */
function failStep(
  ctx: ExecutorContext,
  workflow: AnyWorkflow,
  execution: Execution,
  step: StepDefinition,
  thrown: unknown,
  attempt: number,
  startedAt: number,
): Promise<void> {
  const described = describeThrown(thrown)
  const endedAt = ctx.clock.now()
  const result: StepWrite = { name: step.name, status: 'failed', outputJson: null, error: described.message, attempts: attempt, startedAt, endedAt }
  return failRun(ctx, workflow, execution, step.name, described.error, { result, attempt: attemptWrite(step.name, attempt, thrown, startedAt, endedAt) })
}

async function failRun(
  ctx: ExecutorContext,
  workflow: AnyWorkflow,
  execution: Execution,
  stepName: string,
  error: Error,
  failure: { result: StepWrite; attempt: AttemptWrite } | null,
): Promise<void> {
  const { store, clock } = ctx
  const { lease, claim } = execution
  const onFailure = workflow.failureHandler
  const record = (finish: boolean) => () => store.recordFailure(lease, failure!.result, failure!.attempt, clock.now(), finish)
  if (onFailure) {
    // The failure is recorded before compensating, so a crash during onFailure resumes here.
    if (failure && !(await write(ctx, execution, record(false)))) return
    await compensate(ctx, execution, () => onFailure({ error, stepName, input: claim.input, runId: claim.id }))
    if (execution.controller.signal.aborted) return
    ctx.finishing(execution)
    if (!(await write(ctx, execution, () => store.finish(lease, 'failed', clock.now())))) return
  } else {
    ctx.finishing(execution)
    if (!(await write(ctx, execution, failure ? record(true) : () => store.finish(lease, 'failed', clock.now())))) return
  }
  callHook(ctx, () => ctx.hooks.onRunFailed?.({ runId: claim.id, workflow: claim.workflow, stepName, error }))
}

/** onFailure, bounded: it settles, the run is cancelled or its lease lost, or its time runs out. */
async function compensate(ctx: ExecutorContext, execution: Execution, call: () => unknown): Promise<void> {
  const { claim } = execution
  let timer: TimerHandle | undefined
  let onAbort: (() => void) | undefined
  const bounded = new Promise<void>((resolve) => {
    timer = ctx.clock.setTimer(ctx.onFailureTimeoutMs, () => {
      ctx.reportError(
        new Error(`onFailure of workflow "${claim.workflow}" for run ${claim.id} did not settle within ${ctx.onFailureTimeoutMs} ms; the run is failed without waiting for it`),
      )
      resolve()
    })
    onAbort = resolve
    execution.controller.signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    await Promise.race([Promise.resolve().then(call), bounded])
  } catch (compensationError) {
    ctx.reportError(compensationError)
  } finally {
    timer?.cancel()
    execution.controller.signal.removeEventListener('abort', onAbort!)
  }
}

/** Hands the run back until `availableAt`, keeping its attempt state; it holds no slot or lease meanwhile. */
async function release(ctx: ExecutorContext, execution: Execution, state: { availableAt: number; attempt: number; interruptions: number; attemptRecord?: AttemptWrite }) {
  ctx.finishing(execution)
  if (await write(ctx, execution, () => ctx.store.release(execution.lease, state, ctx.clock.now()))) ctx.parked(state.availableAt)
}

/**
 * A write under the lease: its result, or null when the lease is gone (the execution aborts) or the
 * write could not be made even after retries, in which case the run is handed back, due at once,
 * for a healthy engine (or this one, once the fault clears) to continue from its last recorded step.
 */
async function write<T>(ctx: ExecutorContext, execution: Execution, make: () => Promise<T | null | false>): Promise<T | null> {
  try {
    const result = await ctx.persist(make)
    if (result !== null && result !== false) return result
  } catch (error) {
    ctx.reportError(error)
    const state = { availableAt: ctx.clock.now(), ...execution.state }
    await ctx.persist(() => ctx.store.release(execution.lease, state, ctx.clock.now())).catch(ctx.reportError)
  }
  abortExecution(ctx, execution, new LeaseLostError(execution.claim.id))
  return null
}

function attemptWrite(stepName: string, attempt: number, thrown: unknown, startedAt: number, endedAt: number): AttemptWrite {
  const { name, message, stack } = describeThrown(thrown)
  return { stepName, attempt, status: 'failed', startedAt, endedAt, errorName: name, errorMessage: message, errorStack: stack }
}

/** Hooks observe; a throwing or rejecting hook is reported, never allowed to affect the run. */
function callHook(ctx: ExecutorContext, call: () => unknown): void {
  try {
    const result = call()
    if (result instanceof Promise) result.catch(ctx.reportError)
  } catch (error) {
    ctx.reportError(error)
  }
}
