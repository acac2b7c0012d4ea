/**
 * Runs one claimed run to its end, or until it must let go of it.
 *
 *   for each step in order:
 *     recorded completed → its stored output becomes `prev`; skip (never re-run)
 *     recorded failed    → a crash hit between recording the failure and marking the run: go to failure
 *     otherwise          → attempt it (retries, backoff, timeout), then record the outcome under the lease
 *   last step: its result and the run's completion are recorded in one transaction when the adapter can.
 *   failure: record the failed step, run onFailure, mark the run failed (each under the lease).
 *
 * Every write is fenced by the lease: when one reports the lease gone, the executor stops at once
 * and touches the run no more. Cancellation and lease loss abort the run (`abortRun`): its signal
 * aborts and the attempt in progress is abandoned; engine stop lets the current step finish and
 * record, then releases the run to `pending` for the next engine.
 *
 * A step's output is serialised once: the text goes to storage with the result (JSON_TEXT) and its
 * parse becomes `prev`. Once the run's final write is issued, `ctx.finishing` tells the engine, which
 * may claim the next run into the same group commit as that write.
 */

import { sleep, type Clock, type TimerHandle } from '../core/clock.ts'
import { LeaseLostError, ReflowError, StepTimeoutError } from '../core/errors.ts'
import { deserialize, errorMessage, JSON_TEXT, serialize, type WithJsonText } from '../core/json.ts'
import { retryDelay } from '../core/retry.ts'
import type { ClaimedRun, StepResult } from '../core/types.ts'
import type { EngineStorage } from '../storage/adapter.ts'
import type { AnyWorkflow, StepDefinition } from '../workflow/workflow.ts'
import type { EngineHooks } from './hooks.ts'

export interface ExecutorContext {
  storage: EngineStorage
  clock: Clock
  hooks: EngineHooks
  reportError(error: unknown): void
  /** Aborted when the engine stops: no new step starts, backoff waits end early. */
  stopSignal: AbortSignal
  /** Called once the run's final write has been issued (before it commits): its slot is as good as free. */
  finishing(active: ActiveRun): void
}

/** A run being executed: its claim and the signal that cancellation or lease loss aborts. */
export interface ActiveRun {
  readonly run: ClaimedRun
  readonly controller: AbortController
  /** Rejects the attempt in progress, if any (set by runAttempt). */
  interrupt?: ((reason: unknown) => void) | undefined
}

/**
 * Cancellation and lease loss: aborts the run's signal and abandons the attempt in progress at once,
 * whether or not its handler listens to the signal.
 */
export function abortRun(active: ActiveRun, reason: unknown): void {
  if (active.controller.signal.aborted) return
  active.controller.abort(reason)
  active.interrupt?.(reason)
}

type Attempt =
  | { kind: 'completed'; output: unknown; json: string | null; attempts: number }
  | { kind: 'failed'; error: Error; attempts: number }
  | { kind: 'interrupted' }

export async function executeRun(ctx: ExecutorContext, workflow: AnyWorkflow, active: ActiveRun): Promise<void> {
  const { storage, clock } = ctx
  const { run } = active
  const signal = active.controller.signal
  const loaded = run.steps ?? (await storage.getStepResults(run.id))
  const recorded = loaded.length === 0 ? undefined : new Map(loaded.map((s) => [s.name, s]))
  const steps = workflow.steps
  let prev: unknown

  for (let index = 0; index < steps.length; index++) {
    const step = steps[index]!
    const done = recorded?.get(step.name)
    if (done?.status === 'completed') {
      prev = done.output
      continue
    }
    if (done?.status === 'failed') {
      return failRun(ctx, workflow, active, step.name, new Error(done.error ?? 'unknown error'), null)
    }
    if (signal.aborted) return
    if (ctx.stopSignal.aborted) return release(ctx, active)

    const startedAt = clock.now()
    const attempt = await attemptStep(ctx, step, active, prev)
    if (attempt.kind === 'interrupted') {
      return signal.aborted ? undefined : release(ctx, active)
    }
    if (attempt.kind === 'failed') {
      const failed = stepResult(run.id, step.name, 'failed', undefined, errorMessage(attempt.error), attempt.attempts, startedAt, clock.now())
      return failRun(ctx, workflow, active, step.name, attempt.error, failed)
    }

    const result: StepResult & WithJsonText = stepResult(run.id, step.name, 'completed', attempt.output, null, attempt.attempts, startedAt, clock.now())
    result[JSON_TEXT] = attempt.json
    const last = index === steps.length - 1
    const held = last && storage.finishRun
      ? await finalWrite(ctx, active, storage.finishRun(run.id, run.leaseId, 'completed', result))
      : await storage.saveStepResult(result, run.leaseId)
    if (!held) return lost(active)
    const { onStepComplete } = ctx.hooks
    if (onStepComplete) {
      callHook(ctx, () =>
        onStepComplete({ runId: run.id, workflow: run.workflow, stepName: step.name, output: attempt.output, attempts: attempt.attempts }),
      )
    }
    prev = attempt.output
    if (last && storage.finishRun) return completed(ctx, run)
  }

  if (!(await finalWrite(ctx, active, storage.updateClaimedRunStatus(run.id, run.leaseId, 'completed')))) return lost(active)
  completed(ctx, run)
}

/** The run's last write, already issued: tells the engine its slot can be refilled, then waits for it. */
function finalWrite<T>(ctx: ExecutorContext, active: ActiveRun, write: Promise<T>): Promise<T> {
  ctx.finishing(active)
  return write
}

/** One step, attempt after attempt, until it completes, fails for good, or the run is interrupted. */
async function attemptStep(ctx: ExecutorContext, step: StepDefinition, active: ActiveRun, prev: unknown): Promise<Attempt> {
  const { policy } = step
  const runSignal = active.controller.signal
  for (let attempt = 1; ; attempt++) {
    let error: Error
    try {
      const output = await runAttempt(ctx.clock, step, active, prev)
      const json = serialize(output, `Output of step "${step.name}"`)
      return { kind: 'completed', output: deserialize(json), json, attempts: attempt }
    } catch (thrown) {
      if (runSignal.aborted) return { kind: 'interrupted' }
      error = thrown instanceof Error ? thrown : new Error(errorMessage(thrown))
      // An output that cannot be stored will not become storable by running the step again.
      if (error instanceof ReflowError && error.code === 'NOT_SERIALIZABLE') return { kind: 'failed', error, attempts: attempt }
    }
    if (attempt >= policy.maxAttempts) return { kind: 'failed', error, attempts: attempt }
    try {
      await sleep(ctx.clock, retryDelay(policy, attempt), AbortSignal.any([runSignal, ctx.stopSignal]))
    } catch {
      return { kind: 'interrupted' }
    }
  }
}

/**
 * One attempt: the handler raced against the run being aborted (`abortRun` calls `interrupt`) and
 * the attempt's timeout. Each attempt gets its own signal, aborted with the run or on timeout.
 */
function runAttempt(clock: Clock, step: StepDefinition, active: ActiveRun, prev: unknown): Promise<unknown> {
  const attempt = new AbortController()
  const runSignal = active.controller.signal
  const { timeoutMs } = step.policy
  return new Promise<unknown>((resolve, reject) => {
    if (runSignal.aborted) {
      attempt.abort(runSignal.reason)
      return reject(runSignal.reason)
    }
    let timer: TimerHandle | undefined
    const interrupt = (reason: unknown) => {
      timer?.cancel()
      active.interrupt = undefined
      attempt.abort(reason)
      reject(reason)
    }
    active.interrupt = interrupt
    if (timeoutMs !== undefined) timer = clock.setTimer(timeoutMs, () => interrupt(new StepTimeoutError(step.name, timeoutMs)))
    const settle = () => {
      timer?.cancel()
      if (active.interrupt === interrupt) active.interrupt = undefined
    }
    let output: unknown
    try {
      output = step.handler({ input: active.run.input, prev, signal: attempt.signal })
    } catch (error) {
      settle()
      return reject(error)
    }
    if (!isThenable(output)) {
      settle()
      return resolve(output)
    }
    ;(output instanceof Promise ? output : Promise.resolve(output)).then(
      (value) => {
        settle()
        resolve(value)
      },
      (error) => {
        settle()
        reject(error)
      },
    )
  })
}

async function failRun(
  ctx: ExecutorContext,
  workflow: AnyWorkflow,
  active: ActiveRun,
  stepName: string,
  error: Error,
  failed: StepResult | null,
): Promise<void> {
  const { storage } = ctx
  const { run } = active
  const onFailure = workflow.failureHandler
  let held: boolean
  if (onFailure) {
    // The failure is recorded before compensating, so a crash during onFailure resumes here.
    if (failed && !(await storage.saveStepResult(failed, run.leaseId))) return lost(active)
    try {
      await onFailure({ error, stepName, input: run.input, runId: run.id })
    } catch (compensationError) {
      ctx.reportError(compensationError)
    }
    held = await finalWrite(ctx, active, storage.updateClaimedRunStatus(run.id, run.leaseId, 'failed'))
  } else if (storage.finishRun) {
    held = await finalWrite(ctx, active, storage.finishRun(run.id, run.leaseId, 'failed', failed ?? undefined))
  } else {
    held = (!failed || (await storage.saveStepResult(failed, run.leaseId))) &&
      (await finalWrite(ctx, active, storage.updateClaimedRunStatus(run.id, run.leaseId, 'failed')))
  }
  if (!held) return lost(active)
  callHook(ctx, () => ctx.hooks.onRunFailed?.({ runId: run.id, workflow: run.workflow, stepName, error }))
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

function completed(ctx: ExecutorContext, run: ClaimedRun): void {
  const { onRunComplete } = ctx.hooks
  if (onRunComplete) callHook(ctx, () => onRunComplete({ runId: run.id, workflow: run.workflow }))
}

/** Gives the run back for another engine to pick up at once, rather than after its lease expires. */
async function release(ctx: ExecutorContext, active: ActiveRun): Promise<void> {
  await ctx.storage.updateClaimedRunStatus(active.run.id, active.run.leaseId, 'pending')
}

function lost(active: ActiveRun): void {
  abortRun(active, new LeaseLostError(active.run.id))
}

function stepResult(
  runId: string,
  name: string,
  status: StepResult['status'],
  output: unknown,
  error: string | null,
  attempts: number,
  startedAt: number,
  now: number,
): StepResult {
  return { runId, name, status, output, error, attempts, createdAt: startedAt, updatedAt: now }
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
