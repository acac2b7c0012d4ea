/** Rows of reflow_runs and reflow_steps as the storage contract's types. */

import { deserialize } from '../../core/json.ts'
import type { ClaimedRun, RunStatus, StepResult, StepStatus, WorkflowRun } from '../../core/types.ts'
import type { SqlRow } from './driver.ts'

export function toRun(row: SqlRow): WorkflowRun {
  return {
    id: row.id as string,
    workflow: row.workflow as string,
    input: deserialize(row.input_json as string | null),
    status: row.status as RunStatus,
    idempotencyKey: (row.idempotency_key as string | null) ?? null,
    createdAt: Number(row.created_at_ms),
    updatedAt: Number(row.updated_at_ms),
  }
}

/** A claimed row: `steps` is left undefined when the run has recorded steps still to be loaded. */
export function toClaimed(row: SqlRow, leaseId: string): ClaimedRun {
  const run: ClaimedRun = toRun(row) as ClaimedRun
  run.leaseId = leaseId
  if (!row.has_steps) run.steps = []
  return run
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
