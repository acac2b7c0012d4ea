import type { RetentionPassEvent } from './retention.ts'

/** Lifecycle hooks: observers of what the engine does. They never change a run's outcome. */

export interface StepCompleteEvent {
  runId: string
  workflow: string
  stepName: string
  /** The step's output as stored. */
  output: unknown
  attempts: number
}

export interface RunCompleteEvent {
  runId: string
  workflow: string
}

export interface RunFailedEvent {
  runId: string
  workflow: string
  stepName: string
  error: Error
}

export interface EngineHooks {
  /** After a step's result has been recorded. */
  onStepComplete?: (event: StepCompleteEvent) => unknown
  /** After a run has been recorded as completed. */
  onRunComplete?: (event: RunCompleteEvent) => unknown
  /** After a run has been recorded as failed (and its onFailure handler has run). */
  onRunFailed?: (event: RunFailedEvent) => unknown
  /** After a retention pass of this engine (one that took the retention lease) has finished. */
  onRetention?: (event: RetentionPassEvent) => unknown
  /** Background failures: scheduled enqueues, poll cycles, heartbeats, throwing hooks and onFailure handlers. */
  onError?: (error: Error) => unknown
}
