/**
 * The public StorageAdapter methods both built-in storages implement the same way over their store:
 * the store's records as the spec's types, and the two methods whose mapping onto the store takes
 * a decision (when a created run is due, how long a claim's lease lasts).
 */

import { deserialize, hasJsonText, jsonTextOf } from '../core/json.ts'
import { workflowRunOf, type ClaimedRun, type CreateRunResult, type WorkflowRun } from '../core/types.ts'
import type { Claim, Store } from './store.ts'

/** The lease a public claim grants when the caller gives no stale time. */
const DEFAULT_LEASE_MS = 30_000

function toPublicClaim(claim: Claim): ClaimedRun {
  return { ...workflowRunOf(claim), leaseId: claim.leaseId, steps: claim.steps }
}

/** StorageAdapter.createRun over a store: claimable at once, as the adapter contract says. */
export async function createPublicRun(store: Store, run: WorkflowRun, now: number): Promise<CreateRunResult> {
  const inputJson = jsonTextOf(run, run.input, `Input of workflow "${run.workflow}"`)
  const result = await store.createRun({
    id: run.id,
    workflow: run.workflow,
    inputJson,
    // Input the engine serialised moments ago is already its own round trip: no need to parse it back.
    input: hasJsonText(run) ? run.input : deserialize(inputJson),
    idempotencyKey: run.idempotencyKey ?? null,
    createdAt: run.createdAt,
    // Even when the caller's clock runs ahead of this one.
    availableAt: Math.min(run.createdAt, now),
    firstStep: null,
  })
  return { run: workflowRunOf(result.run), created: result.created }
}

/**
 * StorageAdapter.claimNextRun over a store: with `staleBefore`, a running run last renewed before
 * it is stale; the claim's lease is given the caller's window (`now - staleBefore`), 30 s without one.
 */
export async function claimPublicRun(
  store: Store,
  workflowNames: readonly string[],
  staleBefore: number | undefined,
  now: number,
  owner: string,
): Promise<ClaimedRun | null> {
  const [claim] = await store.claim({
    workflows: workflowNames,
    limit: 1,
    now,
    leaseMs: staleBefore === undefined ? DEFAULT_LEASE_MS : Math.max(1, now - staleBefore),
    includeExpired: staleBefore !== undefined,
    staleBefore,
    owner,
  })
  return claim ? toPublicClaim(claim) : null
}
