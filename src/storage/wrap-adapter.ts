/**
 * wrapAdapter: a user's StorageAdapter (the documented 9 methods) as a store, so the engine has one
 * code path whatever the storage. What the 9 methods cannot express is kept in this process:
 *
 * - Due times and attempt state of released runs (backoffs) live in a map here. A claim that returns
 *   a run that is not due yet (or one this engine is still executing) hands it straight back and
 *   claims on, so a parked run waits here until due; another process using the same adapter does not
 *   know the due time and may run it early. Attempt counts restart in a new process.
 * - Transitions made of two calls (record the last step, then complete) are not atomic: a crash in
 *   between resumes the run, which finds the step recorded and completes it.
 * - No attempt history, no change notifications (the engine polls), no search for unregistered
 *   workflows; `retry` needs the adapter's optional `retryRun`.
 * - Sleeps are kept like backoffs (a sleep's end is not durable: a restart ends it early); events
 *   (`emit`, `waitForEvent`) need a built-in storage and say so.
 * The built-in storages implement the store themselves and need none of this.
 */

import { InvalidArgumentError } from '../core/errors.ts'
import { deserialize, JSON_TEXT, type WithJsonText } from '../core/json.ts'
import type { ClaimedRun, RunDetails, StepResult, WorkflowRun } from '../core/types.ts'
import type { StorageAdapter } from './adapter.ts'
import type { Claim, ClaimRequest, Lease, LeaseState, NewRun, Release, StepWrite, Store } from './store.ts'

interface Parked {
  availableAt: number
  attempt: number
  interruptions: number
}

export function wrapAdapter(adapter: StorageAdapter): Store {
  const parked = new Map<string, Parked>()

  const details = (run: WorkflowRun): RunDetails => {
    const state = parked.get(run.id)
    return {
      ...run,
      availableAt: state?.availableAt ?? null,
      currentStep: null,
      wait: null,
      attempt: state?.attempt ?? 0,
      interruptions: state?.interruptions ?? 0,
      leaseId: null,
      leaseOwner: null,
      heartbeatAt: null,
      startedAt: null,
      schedule: null,
      finishedAt: null,
    }
  }

  const toResult = (runId: string, step: StepWrite): StepResult & WithJsonText => ({
    runId,
    name: step.name,
    status: step.status,
    output: deserialize(step.outputJson),
    error: step.error,
    attempts: step.attempts,
    createdAt: step.startedAt,
    updatedAt: step.endedAt,
    [JSON_TEXT]: step.outputJson,
  })

  async function claimOne(request: ClaimRequest, handedBack: Set<string>): Promise<ClaimedRun | null | 'again'> {
    const staleBefore = request.includeExpired ? request.now - request.leaseMs : undefined
    const run = await adapter.claimNextRun(request.workflows, staleBefore)
    if (!run) return null
    const state = parked.get(run.id)
    const notDue = state !== undefined && state.availableAt > request.now
    if (notDue || request.exclude?.has(run.id)) {
      await adapter.updateClaimedRunStatus(run.id, run.leaseId, 'pending')
      // Seen twice: every claimable run is one of those handed back.
      if (handedBack.has(run.id)) return null
      handedBack.add(run.id)
      return 'again'
    }
    return run
  }

  return {
    initialize: () => adapter.initialize(),

    async createRun(run: NewRun) {
      const record: WorkflowRun & WithJsonText = {
        id: run.id,
        workflow: run.workflow,
        input: run.input,
        status: 'pending',
        idempotencyKey: run.idempotencyKey,
        createdAt: run.createdAt,
        updatedAt: run.createdAt,
        [JSON_TEXT]: run.inputJson,
      }
      const result = await adapter.createRun(record)
      if (result.created && run.availableAt > run.createdAt) parked.set(run.id, { availableAt: run.availableAt, attempt: 0, interruptions: 0 })
      return { run: details(result.run), created: result.created }
    },

    async claim(request) {
      const claimed: Claim[] = []
      const handedBack = new Set<string>()
      while (claimed.length < request.limit) {
        const run = await claimOne(request, handedBack)
        if (run === null) break
        if (run === 'again') continue
        const steps = run.steps ?? (await adapter.getStepResults(run.id))
        claimed.push({ ...details(run), status: 'running', leaseId: run.leaseId, steps })
        parked.delete(run.id)
      }
      return claimed
    },

    async heartbeat(leases) {
      return Promise.all(leases.map(async (lease) => ((await adapter.heartbeatRun(lease.runId, lease.leaseId)) ? 'held' : lostOrCancelled(lease))))
    },

    async recordStep(lease, step, _now, next) {
      if (!(await adapter.saveStepResult(toResult(lease.runId, step), lease.leaseId))) return false
      return next.complete ? adapter.updateClaimedRunStatus(lease.runId, lease.leaseId, 'completed') : true
    },

    async recordFailure(lease, step, _attempt, _now, finish) {
      if (!(await adapter.saveStepResult(toResult(lease.runId, step), lease.leaseId))) return false
      return finish ? adapter.updateClaimedRunStatus(lease.runId, lease.leaseId, 'failed') : true
    },

    finish: (lease, status) => adapter.updateClaimedRunStatus(lease.runId, lease.leaseId, status),

    async release(lease: Lease, release: Release) {
      const released = await adapter.updateClaimedRunStatus(lease.runId, lease.leaseId, 'pending')
      if (released) parked.set(lease.runId, { availableAt: release.availableAt, attempt: release.attempt, interruptions: release.interruptions })
      return released
    },

    async park(lease, wait) {
      if (wait.kind === 'event') {
        throw new InvalidArgumentError(`waitForEvent needs one of the built-in storages (SQLiteStorage, MemoryStorage): step "${wait.step}"`)
      }
      const released = await adapter.updateClaimedRunStatus(lease.runId, lease.leaseId, 'pending')
      if (!released) return null
      parked.set(lease.runId, { availableAt: wait.until, attempt: 0, interruptions: 0 })
      return { parked: true }
    },

    findEvent: async () => null,

    async emit() {
      throw new InvalidArgumentError('emit() needs one of the built-in storages (SQLiteStorage, MemoryStorage)')
    },

    async cancel(runId) {
      const cancelled = await adapter.updateRunStatus(runId, 'cancelled')
      if (cancelled) parked.delete(runId)
      return cancelled
    },

    async retry(runId, _now, options) {
      if (!adapter.retryRun) {
        throw new InvalidArgumentError('retry() needs a storage adapter that implements retryRun (SQLiteStorage and MemoryStorage do)')
      }
      if (options?.fromStep !== undefined) {
        throw new InvalidArgumentError('retry({ fromStep }) needs one of the built-in storages (SQLiteStorage, MemoryStorage)')
      }
      return adapter.retryRun(runId)
    },

    async getRun(runId) {
      const run = await adapter.getRun(runId)
      return run ? details(run) : null
    },

    getSteps: (runId) => adapter.getStepResults(runId),
    getAttempts: async () => [],

    async leaseStates(leases) {
      return Promise.all(
        leases.map(async (lease): Promise<LeaseState> => {
          const run = await adapter.getRun(lease.runId)
          if (run?.status === 'running') return 'held'
          return run?.status === 'cancelled' ? 'cancelled' : 'lost'
        }),
      )
    },

    async nextDueAt(workflows, now) {
      let next: number | null = null
      for (const state of parked.values()) {
        if (state.availableAt > now && (next === null || state.availableAt < next)) next = state.availableAt
      }
      return workflows.length === 0 ? null : next
    },

    unknownWorkflows: async () => [],

    close: () => adapter.close?.(),
  }

  async function lostOrCancelled(lease: Lease): Promise<LeaseState> {
    return (await adapter.getRun(lease.runId))?.status === 'cancelled' ? 'cancelled' : 'lost'
  }
}
