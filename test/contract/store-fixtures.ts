/**
 * What the store contract's cases share (store.contract.ts registers them): how a case gets its
 * stores (`StoreSuite`), the times and names every case uses, and builders for the store's inputs.
 * Times are explicit: a store takes `now` as an argument.
 */

import assert from 'node:assert/strict'
import type { StepResult } from '../../src/core/types.ts'
import type { AttemptWrite, Claim, ClaimRequest, Lease, NewRun, StepWrite, Store } from '../../src/storage/store.ts'

/** How the cases register tests and get their stores; every store is closed after its test. */
export interface StoreSuite {
  /** A describe block, part of the tests' skip paths. */
  group(name: string, fn: () => void): void
  /** A bare test: it opens its own stores with `open`. */
  test(name: string, fn: () => Promise<void>): void
  /** A fresh, empty, initialised store. */
  open(): Promise<Store>
  /** A test with a fresh store. */
  it(name: string, fn: (s: Store) => Promise<void>): void
  /** A test over `n` separate connections to one database (a race). */
  race(name: string, n: number, fn: (conns: Store[]) => Promise<void>): void
  /** A writer and an observer: two connections, or one store twice for a target without connections. */
  pair(name: string, fn: (writer: Store, observer: Store) => Promise<void>): void
}

export const WF = 'orders'
export const LEASE = 30_000
export const T = 1_700_000_000_000
export const OWNER = 'pid 1 on contract'
export const THIEF = 'pid 2 on contract'

export function newRun(id: string, over: Partial<NewRun> = {}): NewRun {
  const input = 'input' in over ? over.input : { id }
  return {
    id,
    workflow: WF,
    input,
    inputJson: input === undefined ? null : JSON.stringify(input),
    idempotencyKey: null,
    createdAt: T,
    availableAt: T,
    firstStep: 'a',
    ...over,
  }
}

/** recordStep's `next`: go on to `nextStep`, or complete the run. */
export function advance(nextStep: string | null): { nextStep: string | null; complete: boolean } {
  return { nextStep, complete: false }
}

export const COMPLETE = { nextStep: null, complete: true }

export function request(over: Partial<ClaimRequest> = {}): ClaimRequest {
  return { workflows: [WF], limit: 10, now: T, leaseMs: LEASE, includeExpired: false, owner: OWNER, ...over }
}

export function step(name: string, over: Partial<StepWrite> = {}): StepWrite {
  const failed = over.status === 'failed'
  return {
    name,
    status: 'completed',
    outputJson: failed ? null : JSON.stringify({ step: name }),
    error: null,
    attempts: 1,
    startedAt: T,
    endedAt: T,
    ...over,
  }
}

/** A recorded step as the store returns step(name) for run `runId`. */
export function result(runId: string, name: string): StepResult {
  return { runId, name, status: 'completed', output: { step: name }, error: null, attempts: 1, createdAt: T, updatedAt: T }
}

export function attempt(stepName: string, over: Partial<AttemptWrite> = {}): AttemptWrite {
  return {
    stepName,
    attempt: 1,
    status: 'failed',
    startedAt: T,
    endedAt: T + 1,
    errorName: 'Error',
    errorMessage: 'boom',
    errorStack: 'Error: boom\n    at step',
    ...over,
  }
}

/** A claim that is also its lease, to hand to the transitions under it. */
export type Held = Claim & Lease

export function held(claim: Claim): Held {
  return { ...claim, runId: claim.id }
}

/** Claims at `now` and expects exactly one run. */
export async function claimOne(s: Store, now: number, over: Partial<ClaimRequest> = {}): Promise<Held> {
  const claimed = await s.claim(request({ now, ...over }))
  assert.equal(claimed.length, 1, `expected one claimable run, got ${JSON.stringify(ids(claimed))}`)
  return held(claimed[0]!)
}

/** Claims every due run at T, by run id. */
export async function claimById(s: Store): Promise<Map<string, Held>> {
  return new Map((await s.claim(request())).map((c) => [c.id, held(c)]))
}

export function ids(claims: readonly { id: string }[]): string[] {
  return claims.map((c) => c.id)
}
