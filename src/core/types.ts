/**
 * The persisted vocabulary shared by every layer: runs, step results and their statuses.
 *
 * A run moves through this state machine:
 *
 *   pending ──claim (due)──▶ running ──last step recorded──▶ completed
 *    ▲  │                     │  ▲ └──step failed for good──▶ failed
 *    │  │                     │  └─lease expired: reclaimed by any engine (new lease id)
 *    │  │                     └─release: backoff, stop, storage fault (with a due time)──┐
 *    │  └────cancel───────────┴──────────────────────────────▶ cancelled              │
 *    └──────────────────────────────────────────────────────────────────────────────────┘
 *
 * A pending run is claimable once its due time (`availableAt`) has come: at once for a new run,
 * after the backoff for a run released between attempts, at `delay`/`runAt` for a delayed one.
 * A waiting run (a sleep, a wait for an event) holds no lease either; it is claimable again when
 * its sleep ends, when its event is emitted, or at its wait's timeout:
 *
 *   running ──park──▶ waiting ──due (time, or an emit of its event)──▶ claim ──▶ running
 * completed, failed and cancelled are terminal; only an explicit retry moves a failed or cancelled
 * run back to pending.
 */

export const RunStatuses = {
  pending: 'pending',
  running: 'running',
  waiting: 'waiting',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
} as const

/** Lifecycle state of a workflow run. */
export type RunStatus = (typeof RunStatuses)[keyof typeof RunStatuses]

/** The statuses a run never leaves on its own. */
export const TERMINAL_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'cancelled']

export const StepStatuses = { completed: 'completed', failed: 'failed' } as const

/** Outcome of a recorded step: a step is recorded only once it has completed or failed for good. */
export type StepStatus = (typeof StepStatuses)[keyof typeof StepStatuses]

/** Any value that survives the trip through storage unchanged (see core/json.ts). */
export type JsonValue = string | number | boolean | null | undefined | JsonValue[] | { [key: string]: JsonValue }

/** A persisted workflow run. Times are epoch milliseconds. */
export interface WorkflowRun {
  id: string
  /** The workflow's name. */
  workflow: string
  /** The validated input, as stored. */
  input: unknown
  status: RunStatus
  idempotencyKey: string | null
  createdAt: number
  updatedAt: number
}

/** A run claimed for execution: only the holder of `leaseId` may record its progress. */
export interface ClaimedRun extends WorkflowRun {
  leaseId: string
  /** Step results already recorded, when the adapter loads them with the claim. */
  steps?: StepResult[]
}

/** The recorded outcome of one step of one run. */
export interface StepResult {
  runId: string
  name: string
  status: StepStatus
  /** The step's return value as stored (Dates, Maps, BigInts... keep their types); undefined for a failed step. */
  output: unknown
  /** The failure message, or null when the step completed. */
  error: string | null
  /** How many attempts were made. */
  attempts: number
  /** When the step's first attempt started (in the execution that recorded it). */
  createdAt: number
  /** When this result was recorded; `updatedAt - createdAt` is the step's duration, retries included. */
  updatedAt: number
}

/** A run as the engine and the inspection tools see it: the stored run plus its execution state. */
export interface RunDetails extends WorkflowRun {
  /** Pending: not claimed before this time (a backoff). Running: when its lease expires. Else null. */
  availableAt: number | null
  /** The step the run will execute next (or is executing); null once it has finished. */
  currentStep: string | null
  /** Failed attempts of `currentStep` so far: what counts against `retry.maxAttempts`. */
  attempt: number
  /** Attempts of `currentStep` cut off by a crash or a lost lease; they do not count as failures. */
  interruptions: number
  /** What a waiting run waits for, and until when (kept while the run resumes, until that step is recorded). */
  wait: RunWait | null
  /** The current lease (running runs only). */
  leaseId: string | null
  /** Which engine holds the lease (its process id and host), for people reading the run. */
  leaseOwner: string | null
  /** When the holder last renewed its lease. */
  heartbeatAt: number | null
  startedAt: number | null
  finishedAt: number | null
  /**
   * The schedule that made the run and its slot (epoch milliseconds; for `reflow schedules trigger`,
   * the time of the trigger). Null for other runs, and in databases older than schedules.
   */
  schedule: { id: string; slotMs: number } | null
}

/** What a waiting run waits for. Times are epoch milliseconds. */
export type RunWait =
  | { kind: 'sleep'; step: string; until: number }
  | { kind: 'event'; step: string; event: string; key: string; timeoutAt: number | null }

export const AttemptStatuses = { failed: 'failed', interrupted: 'interrupted' } as const

/** failed: the handler threw or timed out; interrupted: its worker died or lost the lease first. */
export type AttemptStatus = (typeof AttemptStatuses)[keyof typeof AttemptStatuses]

/**
 * One attempt of a step that did not complete. A completed attempt is the step result itself, so
 * a step's history is its attempt records followed by its result.
 */
export interface AttemptRecord {
  runId: string
  stepName: string
  /** 1, 2, 3, … within one round of the step (a retry of the run starts a new round). */
  attempt: number
  status: AttemptStatus
  /** Null when unknown (an attempt cut off by a crash). */
  startedAt: number | null
  endedAt: number
  errorName: string
  errorMessage: string
  errorStack: string | null
}

/** A run together with its recorded steps and failed attempts, as `engine.getRunStatus()` returns it. */
export interface RunInfo {
  run: RunDetails
  steps: StepResult[]
  /** Failed and interrupted attempts, oldest first (empty when the adapter keeps none). */
  attempts: AttemptRecord[]
}

/** What `createRun` did: `created` is false when an existing run with the same idempotency key was returned. */
export interface CreateRunResult {
  run: WorkflowRun
  created: boolean
}

/** The spec's WorkflowRun part of a run record (execution state and lease details left out). */
export function workflowRunOf(run: WorkflowRun): WorkflowRun {
  return {
    id: run.id,
    workflow: run.workflow,
    input: run.input,
    status: run.status,
    idempotencyKey: run.idempotencyKey,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
  }
}
