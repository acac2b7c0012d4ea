/**
 * How the store's inputs bind to the Postgres statements' named parameters (queries.ts), shared by
 * the store, its schedules and the public adapter methods.
 */

import type { AttemptWrite, Lease, NewRun, StepWrite } from '../store.ts'

export function newRunValues(run: NewRun): Record<string, unknown> {
  return {
    id: run.id,
    workflow: run.workflow,
    inputJson: run.inputJson,
    idempotencyKey: run.idempotencyKey,
    createdAt: run.createdAt,
    availableAt: run.availableAt,
    firstStep: run.firstStep,
    now: run.createdAt,
  }
}

export function leaseValues(lease: Lease): Record<string, unknown> {
  return { runId: lease.runId, leaseId: lease.leaseId }
}

export function stepValues(step: StepWrite): Record<string, unknown> {
  return {
    name: step.name,
    stepStatus: step.status,
    outputJson: step.outputJson,
    error: step.error,
    attempts: step.attempts,
    startedAt: step.startedAt,
    endedAt: step.endedAt,
    eventId: step.eventId ?? null,
  }
}

export function attemptValues(a: AttemptWrite): Record<string, unknown> {
  return {
    attemptStep: a.stepName,
    attempt: a.attempt,
    attemptStatus: a.status,
    attemptStartedAt: a.startedAt,
    attemptEndedAt: a.endedAt,
    errorName: a.errorName,
    errorMessage: a.errorMessage,
    errorStack: a.errorStack,
  }
}
