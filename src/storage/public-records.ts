/** The store's records as the public StorageAdapter types show them, shared by every storage. */

import type { ClaimedRun, RunDetails, WorkflowRun } from '../core/types.ts'
import type { Claim } from './store.ts'

/** A run without its execution state: the spec's WorkflowRun. */
export function toPublicRun(run: RunDetails): WorkflowRun {
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

export function toPublicClaim(claim: Claim): ClaimedRun {
  return { ...toPublicRun(claim), leaseId: claim.leaseId, steps: claim.steps }
}
