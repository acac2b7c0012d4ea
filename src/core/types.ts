/**
 * The persisted vocabulary shared by every layer: runs, step results and their statuses.
 *
 * A run moves through this state machine:
 *
 *   pending ──claim──▶ running ──last step recorded──▶ completed
 *      │                 │  ▲ └──step failed for good──▶ failed
 *      │                 │  └─lease went stale: reclaimed by any engine (new lease id)
 *      └────cancel───────┴──────────────────────────────▶ cancelled
 *
 * completed, failed and cancelled are terminal; only an explicit retry moves a failed or cancelled
 * run back to pending.
 */

export const RunStatuses = {
  pending: 'pending',
  running: 'running',
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
  /** The step's return value (JSON-compatible); undefined for a failed step. */
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

/** A run together with its recorded steps, as `engine.getRunStatus()` returns it. */
export interface RunInfo {
  run: WorkflowRun
  steps: StepResult[]
}

/** What `createRun` did: `created` is false when an existing run with the same idempotency key was returned. */
export interface CreateRunResult {
  run: WorkflowRun
  created: boolean
}
