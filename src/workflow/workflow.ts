/**
 * createWorkflow: the immutable, typed workflow builder. Each `.step()` returns a new workflow whose
 * type records the step's name and stored output, so the next step's `prev`, `enqueue()`'s input
 * and `testEngine().run()`'s results are all checked at compile time.
 */

import { DuplicateStepError, InvalidArgumentError } from '../core/errors.ts'
import { assertWellFormed } from '../core/identifiers.ts'
import type { Stored, Unstorable } from '../core/codec.ts'
import { resolveRetryPolicy, type RetryConfig, type RetryPolicy } from '../core/retry.ts'
import { validateInput, type StandardSchemaV1 } from './schema.ts'
import type { EventDefinition, EventPayload } from './event.ts'
import { parseDuration, type Duration } from '../core/duration.ts'

/** What a step handler receives. */
export interface StepContext<TInput, TPrev> {
  /** The validated workflow input (the same for every step). */
  input: TInput
  /** The previous step's return value, as stored (undefined for the first step). */
  prev: TPrev
  /** Aborted when the run is cancelled, its lease is lost, or the attempt times out. */
  signal: AbortSignal
  /** The run's id: with `stepName`, a stable idempotency key for the APIs a step calls. */
  runId: string
  /** The workflow's name. */
  workflow: string
  /** This step's name. */
  stepName: string
  /**
   * This attempt's number, from 1: every try of the step counts, including ones cut off by a crash
   * (those do not count against `retry.maxAttempts`, which counts failures).
   */
  attempt: number
}

export type StepHandler<TInput, TPrev, TOutput> = (context: StepContext<TInput, TPrev>) => TOutput

/** The long form of a step: a handler plus retry and timeout settings. */
export interface StepConfig<TInput, TPrev, TOutput> {
  handler: StepHandler<TInput, TPrev, TOutput>
  retry?: RetryConfig
  /** Timeout per attempt in milliseconds; takes precedence over `retry.timeoutMs`. */
  timeoutMs?: number
}

/** What an `onFailure` handler receives. */
export interface FailureContext<TInput> {
  /** The error that made the step fail for good (after all its attempts). */
  error: Error
  /** The step that failed. */
  stepName: string
  /** The original workflow input. */
  input: TInput
  runId: string
}

export type FailureHandler<TInput> = (context: FailureContext<TInput>) => unknown

/** A step as the engine runs it: one that runs a handler, a sleep, or a wait for an event. */
export type StepDefinition = RunStepDefinition | SleepStepDefinition | EventStepDefinition

export interface RunStepDefinition {
  readonly kind: 'run'
  readonly name: string
  readonly handler: StepHandler<unknown, unknown, unknown>
  readonly policy: RetryPolicy
}

/** What the functions of a sleep or wait step receive. */
export interface WaitContext<TInput, TPrev> {
  input: TInput
  prev: TPrev
}

export interface SleepStepDefinition {
  readonly kind: 'sleep'
  readonly name: string
  /** When the sleep ends (epoch ms), computed once, when the run first reaches the step. */
  wakeAt(context: WaitContext<unknown, unknown>, now: number): number
}

export interface EventStepDefinition {
  readonly kind: 'event'
  readonly name: string
  readonly event: EventDefinition
  key(context: WaitContext<unknown, unknown>): string
  /** Without one the run waits as long as it takes; with one, `prev` says whether the event came. */
  readonly timeoutMs: number | undefined
}

/** What a wait step with a timeout hands on as `prev`. */
export type EventOutcome<TPayload> = { received: true; payload: TPayload } | { received: false }

/** The input steps see: the schema's output after a trip through storage. */
export type WorkflowInput<S extends StandardSchemaV1> = Stored<StandardSchemaV1.InferOutput<S>>

/** A step's return value as the next step and the results see it. */
export type StoredOutput<T> = Stored<Awaited<T>>

type UniqueStepName<N extends string, TSteps> = N extends keyof TSteps
  ? { 'duplicate step name': N }
  : unknown

/**
 * A step whose return value TypeScript can see cannot be stored (a function, a symbol, an object
 * with methods...) is a compile error on its name, naming the path: the codec would refuse it at
 * run time, failing the step.
 */
type StorableOutput<TOutput> = [Unstorable<Awaited<TOutput>>] extends [never]
  ? unknown
  : { 'step output cannot be stored': Unstorable<Awaited<TOutput>> }

/** The same for a schema whose output TypeScript can see cannot be stored, on `createWorkflow`'s config. */
type StorableInput<S extends StandardSchemaV1> = [Unstorable<StandardSchemaV1.InferOutput<S>>] extends [never]
  ? unknown
  : { 'workflow input cannot be stored': Unstorable<StandardSchemaV1.InferOutput<S>> }

type WithStep<TSteps, N extends string, TOutput> = TSteps & { [K in N]: StoredOutput<TOutput> }

export interface Workflow<
  TName extends string = string,
  TSchema extends StandardSchemaV1 = StandardSchemaV1,
  TSteps extends Record<string, unknown> = {},
  TPrev = undefined,
> {
  /** The workflow's unique name. */
  readonly name: TName
  /** The input schema. */
  readonly input: TSchema
  /** The steps, in order. */
  readonly steps: readonly StepDefinition[]
  /** The compensation handler set by `.onFailure()`, if any. */
  readonly failureHandler: FailureHandler<unknown> | undefined
  /** Type-level record of step outputs by step name (never set at run time). */
  readonly '~steps'?: TSteps

  /**
   * Appends a step. Returns a new workflow; this one is unchanged.
   *
   * @example
   * workflow.step('charge', async ({ input, prev, signal }) => ({ chargeId: await charge(input, { signal }) }))
   */
  step<const N extends string, TOutput>(
    name: N & UniqueStepName<N, TSteps> & StorableOutput<TOutput>,
    handler: StepHandler<WorkflowInput<TSchema>, TPrev, TOutput>,
  ): Workflow<TName, TSchema, WithStep<TSteps, N, TOutput>, StoredOutput<TOutput>>
  step<const N extends string, TOutput>(
    name: N & UniqueStepName<N, TSteps> & StorableOutput<TOutput>,
    config: StepConfig<WorkflowInput<TSchema>, TPrev, TOutput>,
  ): Workflow<TName, TSchema, WithStep<TSteps, N, TOutput>, StoredOutput<TOutput>>

  /**
   * Sets the compensation handler, called once a step has failed for good (saga pattern). It runs
   * before the run is marked failed, so a crash in between runs it again: make it idempotent.
   */
  onFailure(handler: FailureHandler<WorkflowInput<TSchema>>): Workflow<TName, TSchema, TSteps, TPrev>

  /**
   * Appends a sleep: the run waits `duration` (milliseconds, or `'10m'`, `'3d'`...) holding no slot
   * and no lease, then goes on; `prev` passes through unchanged. Survives stops and crashes: the
   * wake time is recorded when the run first reaches the step.
   *
   * @example
   * workflow.sleep('cool-off', '10m')
   */
  sleep<const N extends string>(name: N & UniqueStepName<N, TSteps>, duration: Duration): Workflow<TName, TSchema, TSteps & { [K in N]: undefined }, TPrev>

  /**
   * Appends a sleep until the time `until` returns (a Date or epoch milliseconds, computed once when
   * the run first reaches the step; a time past does not wait). `prev` passes through unchanged.
   *
   * @example
   * workflow.sleepUntil('office-hours', ({ input }) => nextNineAm(input.timezone))
   */
  sleepUntil<const N extends string>(
    name: N & UniqueStepName<N, TSteps>,
    until: (context: WaitContext<WorkflowInput<TSchema>, TPrev>) => Date | number,
  ): Workflow<TName, TSchema, TSteps & { [K in N]: undefined }, TPrev>

  /**
   * Appends a wait for `event` with the key `key` returns: the run holds no slot and no lease until
   * an event of that name and key is emitted (one emitted since the run was created, and not
   * received by an earlier step of the run, counts: none is lost to a race). `prev` becomes the
   * payload; with `timeout`, `{ received: true, payload }` or, at the deadline, `{ received: false }`.
   *
   * @example
   * workflow.waitForEvent('approval', approved, { key: ({ input }) => input.id, timeout: '3d' })
   */
  waitForEvent<const N extends string, E extends EventDefinition>(
    name: N & UniqueStepName<N, TSteps>,
    event: E,
    options: { key: (context: WaitContext<WorkflowInput<TSchema>, TPrev>) => string; timeout?: undefined },
  ): Workflow<TName, TSchema, TSteps & { [K in N]: EventPayload<E> }, EventPayload<E>>
  waitForEvent<const N extends string, E extends EventDefinition>(
    name: N & UniqueStepName<N, TSteps>,
    event: E,
    options: { key: (context: WaitContext<WorkflowInput<TSchema>, TPrev>) => string; timeout: Duration },
  ): Workflow<TName, TSchema, TSteps & { [K in N]: EventOutcome<EventPayload<E>> }, EventOutcome<EventPayload<E>>>

  /** Validates `input` with the schema; resolves to the parsed value or rejects with ValidationError. */
  parseInput(input: unknown): Promise<StandardSchemaV1.InferOutput<TSchema>>
}

/** Any workflow, whatever its types. */
export type AnyWorkflow = Workflow<string, any, any, any>

/** The input `enqueue()` accepts for a workflow: the schema's input type. */
export type WorkflowEnqueueInput<W> = W extends Workflow<string, infer S, any, any> ? StandardSchemaV1.InferInput<S> : never

/** Step outputs by step name. */
export type WorkflowSteps<W> = W extends { readonly '~steps'?: infer T } ? NonNullable<T> : never

export interface WorkflowConfig<TName extends string, TSchema extends StandardSchemaV1> {
  /** Unique workflow name; it becomes a literal type. */
  name: TName
  /** Any Standard Schema: zod, valibot, arktype, ... */
  input: TSchema
}

/**
 * Creates a workflow builder.
 *
 * @example
 * const signup = createWorkflow({ name: 'signup', input: z.object({ email: z.email() }) })
 *   .step('create-account', async ({ input }) => ({ accountId: await createAccount(input.email) }))
 *   .step('send-welcome', async ({ input, prev }) => sendWelcome(input.email, prev.accountId))
 */
export function createWorkflow<const TName extends string, TSchema extends StandardSchemaV1>(
  config: WorkflowConfig<TName, TSchema> & StorableInput<TSchema>,
): Workflow<TName, TSchema> {
  if (typeof config?.name !== 'string' || config.name.trim() === '') {
    throw new InvalidArgumentError(`createWorkflow: name must be a non-empty string, got ${describe(config?.name)}`)
  }
  assertWellFormed('createWorkflow: name', config.name)
  if (typeof config.input?.['~standard']?.validate !== 'function') {
    throw new InvalidArgumentError(
      `createWorkflow("${config.name}"): input must be a Standard Schema (zod, valibot, arktype, ...), got ${describe(config.input)}`,
    )
  }
  return new WorkflowBuilder(config.name, config.input, [], undefined) as unknown as Workflow<TName, TSchema>
}

class WorkflowBuilder {
  constructor(
    readonly name: string,
    readonly input: StandardSchemaV1,
    readonly steps: readonly StepDefinition[],
    readonly failureHandler: FailureHandler<unknown> | undefined,
  ) {
    Object.freeze(this)
  }

  step(name: string, handlerOrConfig: StepHandler<unknown, unknown, unknown> | StepConfig<unknown, unknown, unknown>): WorkflowBuilder {
    this.checkName(name)
    const config = typeof handlerOrConfig === 'function' ? { handler: handlerOrConfig } : handlerOrConfig
    if (typeof config?.handler !== 'function') {
      throw new InvalidArgumentError(
        `Workflow "${this.name}", step "${name}": expected a handler function or { handler, retry?, timeoutMs? }, got ${describe(handlerOrConfig)}`,
      )
    }
    const policy = resolveRetryPolicy(name, config.retry, config.timeoutMs)
    return this.with({ kind: 'run', name, handler: config.handler, policy })
  }

  sleep(name: string, duration: Duration): WorkflowBuilder {
    this.checkName(name)
    const ms = parseDuration(duration, `Workflow "${this.name}", sleep "${name}": duration`)
    return this.with({ kind: 'sleep', name, wakeAt: (_context, now) => now + ms })
  }

  sleepUntil(name: string, until: (context: WaitContext<unknown, unknown>) => Date | number): WorkflowBuilder {
    this.checkName(name)
    if (typeof until !== 'function') {
      throw new InvalidArgumentError(`Workflow "${this.name}", sleepUntil "${name}": expected a function returning a Date or epoch milliseconds, got ${describe(until)}`)
    }
    const workflow = this.name
    return this.with({
      kind: 'sleep',
      name,
      wakeAt(context) {
        const value = until(context)
        const at = value instanceof Date ? value.getTime() : value
        if (typeof at !== 'number' || !Number.isFinite(at)) {
          throw new InvalidArgumentError(`Workflow "${workflow}", sleepUntil "${name}": expected a Date or epoch milliseconds, got ${describe(value)}`)
        }
        return at
      },
    })
  }

  waitForEvent(name: string, event: EventDefinition, options: { key: (context: WaitContext<unknown, unknown>) => string; timeout?: Duration }): WorkflowBuilder {
    this.checkName(name)
    if (typeof event?.name !== 'string' || typeof event.parsePayload !== 'function') {
      throw new InvalidArgumentError(`Workflow "${this.name}", waitForEvent "${name}": expected an event made with defineEvent(), got ${describe(event)}`)
    }
    if (typeof options?.key !== 'function') {
      throw new InvalidArgumentError(`Workflow "${this.name}", waitForEvent "${name}": options.key must be a function returning the event key`)
    }
    const timeoutMs = options.timeout === undefined ? undefined : parseDuration(options.timeout, `Workflow "${this.name}", waitForEvent "${name}": timeout`)
    const workflow = this.name
    const keyOf = options.key
    return this.with({
      kind: 'event',
      name,
      event,
      timeoutMs,
      key(context) {
        const key = keyOf(context)
        if (typeof key !== 'string' || key === '') {
          throw new InvalidArgumentError(`Workflow "${workflow}", waitForEvent "${name}": the key must be a non-empty string, got ${describe(key)}`)
        }
        assertWellFormed(`Workflow "${workflow}", waitForEvent "${name}": key`, key)
        return key
      },
    })
  }

  private checkName(name: string): void {
    if (typeof name !== 'string' || name === '') {
      throw new InvalidArgumentError(`Workflow "${this.name}": step name must be a non-empty string, got ${describe(name)}`)
    }
    assertWellFormed(`Workflow "${this.name}": step name`, name)
    if (this.steps.some((s) => s.name === name)) throw new DuplicateStepError(this.name, name)
  }

  private with(step: StepDefinition): WorkflowBuilder {
    return new WorkflowBuilder(this.name, this.input, Object.freeze([...this.steps, Object.freeze(step)]), this.failureHandler)
  }

  onFailure(handler: FailureHandler<unknown>): WorkflowBuilder {
    if (typeof handler !== 'function') {
      throw new InvalidArgumentError(`Workflow "${this.name}": onFailure expects a function, got ${describe(handler)}`)
    }
    return new WorkflowBuilder(this.name, this.input, this.steps, handler)
  }

  parseInput(input: unknown): Promise<unknown> {
    return validateInput(this.name, this.input, input)
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (value === null || value === undefined) return String(value)
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`
}
