/** Rows of reflow_runs, reflow_steps, reflow_attempts and reflow_schedules as the store's types (SQLite and Postgres alike). */

import { deserialize } from '../core/json.ts'
import type { AttemptRecord, AttemptStatus, RunDetails, RunStatus, RunWait, StepResult, StepStatus } from '../core/types.ts'
import type { Claim, RunSummary, ScheduleRow } from './store.ts'
/** A row as a driver returns it: column name → value. */
export type SqlRow = Record<string, unknown>

export function toRun(row: SqlRow): RunDetails {
  return {
    id: row.id as string,
    workflow: row.workflow as string,
    input: deserialize(row.input_json as string | null),
    status: row.status as RunStatus,
    idempotencyKey: (row.idempotency_key as string | null) ?? null,
    createdAt: Number(row.created_at_ms),
    updatedAt: Number(row.updated_at_ms),
    availableAt: optionalNumber(row.available_at_ms),
    currentStep: (row.current_step as string | null) ?? null,
    wait: row.wait_json == null ? null : (JSON.parse(row.wait_json as string) as RunWait),
    attempt: Number(row.attempt ?? 0),
    interruptions: Number(row.interruptions ?? 0),
    leaseId: (row.lease_id as string | null) ?? null,
    leaseOwner: (row.lease_owner as string | null) ?? null,
    heartbeatAt: optionalNumber(row.heartbeat_at_ms),
    startedAt: optionalNumber(row.started_at_ms),
    finishedAt: optionalNumber(row.finished_at_ms),
    schedule: row.schedule_id == null ? null : { id: row.schedule_id as string, slotMs: Number(row.schedule_slot_ms) },
  }
}

/** A claimed row: `steps` is left empty, and `hasSteps` says whether recorded steps must be loaded. */
export function toClaim(row: SqlRow): { claim: Claim; hasSteps: boolean } {
  const claim = toRun(row) as Claim
  claim.steps = []
  return { claim, hasSteps: Boolean(row.has_steps) }
}

export function toStep(row: SqlRow): StepResult {
  return {
    runId: row.run_id as string,
    name: row.name as string,
    status: row.status as StepStatus,
    output: deserialize(row.output_json as string | null),
    error: (row.error as string | null) ?? null,
    attempts: Number(row.attempts),
    createdAt: Number(row.created_at_ms),
    updatedAt: Number(row.updated_at_ms),
  }
}

export function toAttempt(row: SqlRow): AttemptRecord {
  return {
    runId: row.run_id as string,
    stepName: row.step_name as string,
    attempt: Number(row.attempt),
    status: row.status as AttemptStatus,
    startedAt: optionalNumber(row.started_at_ms),
    endedAt: Number(row.ended_at_ms),
    errorName: row.error_name as string,
    errorMessage: row.error_message as string,
    errorStack: (row.error_stack as string | null) ?? null,
  }
}

export function optionalNumber(value: unknown): number | null {
  return value == null ? null : Number(value)
}

export function toSchedule(row: SqlRow): ScheduleRow {
  return {
    id: row.id as string,
    workflow: row.workflow as string,
    specJson: row.spec_json as string,
    inputJson: (row.input_json as string | null) ?? null,
    declared: Boolean(row.declared),
    lastSlotMs: optionalNumber(row.last_slot_ms),
    nextSlotMs: Number(row.next_slot_ms),
    paused: Boolean(row.paused),
    lastRunId: (row.last_run_id as string | null) ?? null,
    skippedCount: Number(row.skipped_count ?? 0),
    lastSkippedSlotMs: optionalNumber(row.last_skipped_slot_ms),
    updatedAt: Number(row.updated_at_ms),
  }
}

/** A row of a run list (listRuns) as the store's summary. */
export function toSummary(row: SqlRow): RunSummary {
  return {
    id: row.id as string,
    workflow: row.workflow as string,
    status: row.status as RunStatus,
    step: row.step_name == null
      ? null
      : { name: row.step_name as string, status: row.step_status as StepResult['status'], attempts: Number(row.step_attempts) },
    error: row.step_status === 'failed' ? ((row.step_error as string | null) ?? null) : null,
    stepsRecorded: Number(row.steps_recorded),
    createdAt: Number(row.created_at_ms),
    updatedAt: Number(row.updated_at_ms),
    startedAt: optionalNumber(row.started_at_ms),
    finishedAt: optionalNumber(row.finished_at_ms),
  }
}
