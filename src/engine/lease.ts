/**
 * Lease keeping: one timer per engine renews the lease of every run it executes, all in the same
 * turn (so a batching adapter writes them in one transaction). The timer outlives its last run (it
 * lapses when it fires with nothing to renew), so an engine running short runs one after another
 * does not set and cancel a timer per run; `sweep()` cancels it for good once the engine stops or a
 * tick ends, so it never keeps a process alive. A renewal that reports the lease
 * gone, or no successful renewal for a whole lease duration (the database unreachable), means
 * another engine may own the run now: `onLost` aborts the run's work and the engine stops touching it.
 */

import type { Clock, TimerHandle } from '../core/clock.ts'
import type { EngineStorage } from '../storage/adapter.ts'

interface Lease {
  leaseId: string
  renewedAt: number
}

export interface LeaseKeeper {
  track(runId: string, leaseId: string): void
  untrack(runId: string): void
  /** Cancels the timer if no lease is tracked. */
  sweep(): void
}

export function createLeaseKeeper(options: {
  storage: EngineStorage
  clock: Clock
  intervalMs: number
  leaseDurationMs: number
  onLost(runId: string): void
  onError(error: unknown): void
}): LeaseKeeper {
  const { storage, clock, intervalMs, leaseDurationMs } = options
  const leases = new Map<string, Lease>()
  let timer: TimerHandle | undefined
  /** Leases whose renewal has not settled yet; a renewal that hangs must not stop the others. */
  const renewing = new Set<Lease>()

  const schedule = () => {
    if (timer === undefined && leases.size > 0) timer = clock.setTimer(intervalMs, renewAll)
  }

  function renewAll(): void {
    timer = undefined
    const now = clock.now()
    for (const [runId, lease] of leases) {
      if (renewing.has(lease)) {
        // Still waiting on the last renewal after a whole lease: another engine may own the run.
        if (now - lease.renewedAt >= leaseDurationMs) lose(runId)
        continue
      }
      renewing.add(lease)
      void renew(runId, lease).finally(() => renewing.delete(lease))
    }
    schedule()
  }

  async function renew(runId: string, lease: Lease): Promise<void> {
    try {
      const held = await storage.heartbeatRun(runId, lease.leaseId)
      if (leases.get(runId) !== lease) return
      if (held) lease.renewedAt = clock.now()
      else lose(runId)
    } catch (error) {
      options.onError(error)
      if (leases.get(runId) === lease && clock.now() - lease.renewedAt >= leaseDurationMs) lose(runId)
    }
  }

  function lose(runId: string): void {
    leases.delete(runId)
    options.onLost(runId)
  }

  return {
    track(runId, leaseId) {
      leases.set(runId, { leaseId, renewedAt: clock.now() })
      schedule()
    },
    untrack(runId) {
      leases.delete(runId)
    },
    sweep() {
      if (leases.size > 0) return
      timer?.cancel()
      timer = undefined
    },
  }
}
