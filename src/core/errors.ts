/**
 * Every error reflow throws on purpose is a ReflowError with a stable string `code`, so callers can
 * branch on `error.code` instead of parsing messages.
 */

export type ReflowErrorCode =
  | 'VALIDATION_FAILED'
  | 'UNKNOWN_WORKFLOW'
  | 'IDEMPOTENCY_CONFLICT'
  | 'NOT_SERIALIZABLE'
  | 'STEP_TIMEOUT'
  | 'RUN_CANCELLED'
  | 'LEASE_LOST'
  | 'DUPLICATE_STEP'
  | 'INVALID_ARGUMENT'
  | 'STORAGE'
  | 'ENGINE_STOPPED'

export class ReflowError extends Error {
  readonly code: ReflowErrorCode
  constructor(code: ReflowErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** One problem reported by a Standard Schema validator. */
export interface ValidationIssue {
  message: string
  path?: ReadonlyArray<PropertyKey | { key: PropertyKey }>
}

/** Input did not satisfy the workflow's schema; `issues` are the schema library's own. */
export class ValidationError extends ReflowError {
  readonly workflow: string
  readonly issues: readonly ValidationIssue[]
  constructor(workflow: string, issues: readonly ValidationIssue[]) {
    const details = issues.map((issue) => {
      const path = (issue.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.')
      return path ? `${path}: ${issue.message}` : issue.message
    })
    super('VALIDATION_FAILED', `Invalid input for workflow "${workflow}": ${details.join('; ')}`)
    this.workflow = workflow
    this.issues = issues
  }
}

export class UnknownWorkflowError extends ReflowError {
  readonly workflow: string
  constructor(workflow: string, registered: readonly string[]) {
    const list = registered.length ? registered.map((n) => `"${n}"`).join(', ') : '(none)'
    super('UNKNOWN_WORKFLOW', `Unknown workflow "${workflow}". Registered workflows: ${list}`)
    this.workflow = workflow
  }
}

export class IdempotencyConflictError extends ReflowError {
  readonly idempotencyKey: string
  readonly existingRunId: string
  constructor(workflow: string, idempotencyKey: string, existingRunId: string) {
    super(
      'IDEMPOTENCY_CONFLICT',
      `Idempotency key "${idempotencyKey}" of workflow "${workflow}" is already used by run ${existingRunId} with different input`,
    )
    this.idempotencyKey = idempotencyKey
    this.existingRunId = existingRunId
  }
}

/** A value that cannot be stored as JSON; `path` points at the offending part (`$.user.tags[2]`). */
export class SerializationError extends ReflowError {
  readonly path: string
  constructor(what: string, path: string, reason: string) {
    super('NOT_SERIALIZABLE', `${what} is not JSON-compatible at ${path}: ${reason}`)
    this.path = path
  }
}

export class StepTimeoutError extends ReflowError {
  constructor(stepName: string, timeoutMs: number) {
    super('STEP_TIMEOUT', `Step "${stepName}" timed out after ${timeoutMs}ms`)
  }
}

export class RunCancelledError extends ReflowError {
  constructor(runId: string) {
    super('RUN_CANCELLED', `Run ${runId} was cancelled`)
  }
}

/** This engine no longer holds the run's lease: another engine may own it now. */
export class LeaseLostError extends ReflowError {
  constructor(runId: string) {
    super('LEASE_LOST', `Lease on run ${runId} was lost; another engine may have reclaimed it`)
  }
}

export class DuplicateStepError extends ReflowError {
  constructor(workflow: string, stepName: string) {
    super('DUPLICATE_STEP', `Workflow "${workflow}" already has a step named "${stepName}"`)
  }
}

/** A bad argument to a public function: the message names the value and what was expected. */
export class InvalidArgumentError extends ReflowError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message)
  }
}

/** The storage cannot be opened or used: missing directory, not a database, newer schema. */
export class StorageError extends ReflowError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORAGE', message, options)
  }
}

export class EngineStoppedError extends ReflowError {
  constructor() {
    super('ENGINE_STOPPED', 'The engine is stopping and accepts no new work')
  }
}
