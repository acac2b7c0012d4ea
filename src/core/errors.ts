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
  | 'NON_RETRYABLE'
  | 'STEP_INTERRUPTED'
  | 'STEP_RENAMED'
  | 'UNKNOWN_RUN'
  | 'RESULT_TIMEOUT'

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
  /** `subject` names what was validated: by default the input of workflow `workflow`. */
  constructor(workflow: string, issues: readonly ValidationIssue[], subject = `input for workflow "${workflow}"`) {
    const details = issues.map((issue) => {
      const path = (issue.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.')
      return path ? `${path}: ${issue.message}` : issue.message
    })
    super('VALIDATION_FAILED', `Invalid ${subject}: ${details.join('; ')}`)
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
  /** `message` replaces the default one (which speaks of a workflow's runs), e.g. for events. */
  constructor(workflow: string, idempotencyKey: string, existingRunId: string, message?: string) {
    super(
      'IDEMPOTENCY_CONFLICT',
      message ?? `Idempotency key "${idempotencyKey}" of workflow "${workflow}" is already used by run ${existingRunId} with different input`,
    )
    this.idempotencyKey = idempotencyKey
    this.existingRunId = existingRunId
  }
}

/** A value the codec (core/codec.ts) cannot store; `path` points at the offending part (`$.user.tags[2]`). */
export class SerializationError extends ReflowError {
  readonly path: string
  constructor(what: string, path: string, reason: string) {
    super('NOT_SERIALIZABLE', `${what} cannot be stored at ${path}: ${reason}`)
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

/**
 * Throw it from a step to fail the step at once, whatever `retry.maxAttempts` says (a declined card,
 * a 4xx answer: trying again cannot help).
 *
 * @example
 * if (response.status === 402) throw new NonRetryableError('card declined')
 */
export class NonRetryableError extends ReflowError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NON_RETRYABLE', message, options)
  }
}

/**
 * A step's attempts kept dying with their process (a crash, an out-of-memory kill, a lost lease) and
 * the engine gave up on it instead of looping forever.
 */
export class StepInterruptedError extends ReflowError {
  constructor(stepName: string, interruptions: number) {
    super(
      'STEP_INTERRUPTED',
      `Step "${stepName}" was interrupted ${interruptions} times without finishing (its worker crashed, was killed or lost ` +
        `its lease each time); the run fails instead of trying it forever. Fix the cause, then retry the run`,
    )
  }
}

/** No run has this id (in `engine.result()`, the CLI's commands). */
export class UnknownRunError extends ReflowError {
  readonly runId: string
  constructor(runId: string) {
    super('UNKNOWN_RUN', `No run has the id ${JSON.stringify(runId)}`)
    this.runId = runId
  }
}

/** `engine.result()` gave up: the run had not finished within the timeout. */
export class ResultTimeoutError extends ReflowError {
  readonly runId: string
  constructor(runId: string, timeoutMs: number, status: string) {
    super('RESULT_TIMEOUT', `Run ${runId} had not finished within ${timeoutMs} ms (it is ${status}); it goes on, ask again later`)
    this.runId = runId
  }
}

/**
 * A run recorded a step that its workflow no longer has (renamed or removed in a deploy). Running on
 * would execute the renamed step again (a second charge), so the run fails instead.
 */
export class StepRenamedError extends ReflowError {
  readonly missing: readonly string[]
  constructor(workflow: string, missing: readonly string[], current: readonly string[]) {
    const names = missing.map((n) => `"${n}"`).join(', ')
    super(
      'STEP_RENAMED',
      `This run recorded step${missing.length === 1 ? '' : 's'} ${names}, which workflow "${workflow}" no longer has ` +
        `(its steps are now ${current.map((n) => `"${n}"`).join(', ') || 'none'}). A renamed step would run again, so the run ` +
        'stops here: deploy the old step names back and retry the run, or keep them until no run in flight has recorded them',
    )
    this.missing = missing
  }
}

/** What is recorded of a thrown value: always three strings' worth, whatever was thrown. */
export interface ThrownDescription {
  name: string
  message: string
  stack: string | null
  /** The thrown value itself when it is a usable Error, else an Error carrying name and message. */
  error: Error
}

/**
 * Describes any thrown value without ever throwing itself: an Error whose `message` is not a string
 * or whose getters throw, an object whose `toString`/`toJSON` throw, a cyclic null-prototype object,
 * a symbol. Used for every failure the engine records.
 */
export function describeThrown(thrown: unknown): ThrownDescription {
  if (thrown instanceof Error) {
    const name = readString(() => thrown.name) ?? 'Error'
    const message = readString(() => thrown.message) ?? safeText(() => (thrown as { message?: unknown }).message) ?? ''
    const stack = readString(() => thrown.stack) ?? null
    const usable = readString(() => thrown.message) !== undefined
    return { name, message: message || name, stack, error: usable ? thrown : rebuild(name, message || name, stack) }
  }
  const message = typeof thrown === 'string' ? thrown : (safeText(() => thrown) ?? 'an unreadable value was thrown')
  return { name: 'Error', message, stack: null, error: rebuild('Error', message, null) }
}

function rebuild(name: string, message: string, stack: string | null): Error {
  const error = new Error(message)
  error.name = name
  if (stack !== null) error.stack = stack
  return error
}

function readString(read: () => unknown): string | undefined {
  try {
    const value = read()
    return typeof value === 'string' ? value : undefined
  } catch {
    return undefined
  }
}

/** A readable text for any value: JSON when it can, else a tag like `[object Object]`. */
function safeText(read: () => unknown): string | undefined {
  let value: unknown
  try {
    value = read()
  } catch {
    return undefined
  }
  if (value === undefined) return undefined
  if (typeof value === 'string') return value
  if (typeof value === 'symbol' || typeof value === 'function' || typeof value === 'bigint') {
    return readString(() => String(value)) ?? typeof value
  }
  try {
    const json = JSON.stringify(value)
    if (json !== undefined) return json
  } catch {
    // toJSON threw, a cycle, a BigInt inside: fall through to the type tag.
  }
  return readString(() => Object.prototype.toString.call(value)) ?? typeof value
}
