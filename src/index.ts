/**
 * reflow-ts: durable multi-step workflows on one SQLite file.
 *
 * @example
 * import { createWorkflow, createEngine } from 'reflow-ts'
 * import { SQLiteStorage } from 'reflow-ts/sqlite-bun'
 *
 * const signup = createWorkflow({ name: 'signup', input: z.object({ email: z.string() }) })
 *   .step('create-account', async ({ input }) => ({ accountId: await createAccount(input.email) }))
 *   .step('send-welcome', async ({ input, prev }) => sendWelcome(input.email, prev.accountId))
 *
 * const engine = createEngine({ storage: new SQLiteStorage('./reflow.db'), workflows: [signup] })
 * await engine.start()
 * await engine.enqueue('signup', { email: 'ada@example.com' })
 */

export { createWorkflow } from './workflow/workflow.ts'
export { defineEvent } from './workflow/event.ts'
export type { EventDefinition, EventPayload, EventPayloadInput } from './workflow/event.ts'
export type {
  AnyWorkflow,
  FailureContext,
  FailureHandler,
  StepConfig,
  StepContext,
  StepDefinition,
  StepHandler,
  StoredOutput,
  Workflow,
  WorkflowConfig,
  WorkflowEnqueueInput,
  WorkflowInput,
  WorkflowSteps,
} from './workflow/workflow.ts'
export type { StandardSchemaV1 } from './workflow/schema.ts'
export { createEngine } from './engine/engine.ts'
export type {
  Engine,
  EmitOptions,
  EngineConfig,
  EnqueuedRun,
  EnqueueOptions,
  ResultOptions,
  RetryOptions,
  ScheduleDeclaration,
  RunResult,
  StopOptions,
  WorkflowOutput,
} from './engine/engine.ts'
export type { Duration } from './core/duration.ts'
export type { EngineHooks, RunCompleteEvent, RunFailedEvent, StepCompleteEvent } from './engine/hooks.ts'
export type { RetentionPassEvent, RetentionPolicy } from './engine/retention.ts'
export type { StorageAdapter } from './storage/adapter.ts'
export type {
  AttemptRecord,
  AttemptStatus,
  RunWait,
  ClaimedRun,
  CreateRunResult,
  JsonValue,
  RunDetails,
  RunInfo,
  RunStatus,
  StepResult,
  StepStatus,
  WorkflowRun,
} from './core/types.ts'
export { AttemptStatuses, RunStatuses, StepStatuses } from './core/types.ts'
export type { Jsonify } from './core/json.ts'
export type { Stored } from './core/codec.ts'
export type { RetryConfig } from './core/retry.ts'
export { ManualClock, SystemClock, type Clock, type TimerHandle } from './core/clock.ts'
export {
  DuplicateStepError,
  EngineStoppedError,
  IdempotencyConflictError,
  InvalidArgumentError,
  LeaseLostError,
  NonRetryableError,
  ReflowError,
  ResultTimeoutError,
  RunCancelledError,
  SerializationError,
  StepInterruptedError,
  StepRenamedError,
  StepTimeoutError,
  StorageError,
  UnknownRunError,
  UnknownWorkflowError,
  ValidationError,
  type ReflowErrorCode,
  type ValidationIssue,
} from './core/errors.ts'
