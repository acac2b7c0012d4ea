/**
 * Lease keeping: one timer per engine renews every lease it holds in one store call (one
 * transaction), every `intervalMs`. Bookkeeping is keyed by lease id, never by run id: an old
 * execution of a run and a newer one are different leases and never touch each other's entries.
 *
 *   track(lease) ──▶ held ──renewal says cancelled──▶ onEnd('cancelled')
 *                      │ └──renewal says lost, or no successful renewal for a whole lease
 *                      │    duration with one in flight for a heartbeat interval (the database
 *                      │    unreachable)──▶ onEnd('lost')
 *                      └──untrack (the execution ended)
 *
 * Durations are measured on the monotonic clock, so a wall-clock jump neither expires nor extends
 * a lease locally; `renewNow()` renews every lease at once (the dispatcher calls it before it
 * judges anyone else's leases whenever its own might look overdue). The timer outlives its last
 * lease until it next fires, so short runs one after another do not set and cancel a timer each;
 * `sweep()` cancels it once nothing is tracked, so it never keeps a process alive.
 */

import { monotonicNow, type Clock, type TimerHandle } from '../core/clock.ts'
import type { Lease, Store } from '../storage/store.ts'

interface Tracked {
  lease: Lease
  /** Monotonic time of the last successful renewal (or of the claim). */
  renewedAt: number
  onEnd(state: 'cancelled' | 'lost'): void
}

export interface LeaseKeeper {
  track(lease: Lease, onEnd: (state: 'cancelled' | 'lost') => void): void
  untrack(leaseId: string): void
  /** Whether any lease went longer than `withinMs` without a renewal (a frozen process, a slow timer). */
  overdue(withinMs: number): boolean
  /** Renews every tracked lease now; resolves when the renewal has settled. */
  renewNow(): Promise<void>
  /** Cancels the timer if no lease is tracked. */
  sweep(): void
}

export function createLeaseKeeper(options: {
  store: Store
  clock: Clock
  intervalMs: number
  leaseDurationMs: number
  onError(error: unknown): void
}): LeaseKeeper {
  const { store, clock, intervalMs, leaseDurationMs } = options
  const tracked = new Map<string, Tracked>()
  let timer: TimerHandle | undefined
  /** The renewal in flight, if any: a renewal that hangs must not pile up others behind it. */
  let renewing: Promise<void> | undefined
  let renewingSince = 0

  const schedule = () => {
    if (timer === undefined && tracked.size > 0) timer = clock.setTimer(intervalMs, onTimer)
  }

  function onTimer(): void {
    timer = undefined
    void renewNow()
    schedule()
  }

  function end(entry: Tracked, state: 'cancelled' | 'lost'): void {
    if (tracked.get(entry.lease.leaseId) !== entry) return
    tracked.delete(entry.lease.leaseId)
    entry.onEnd(state)
  }

  /** Leases unrenewed for a whole lease duration may belong to another engine by now. */
  function loseUnrenewed(): void {
    const now = monotonicNow(clock)
    for (const entry of [...tracked.values()]) if (now - entry.renewedAt >= leaseDurationMs) end(entry, 'lost')
  }

  function renewNow(): Promise<void> {
    if (renewing) {
      // Leases unrenewed for a lease duration are lost once the renewal in flight has had a heartbeat
      // interval to settle: a hung database. (A process waking from a freeze finds its leases long
      // unrenewed too, but its renewal has only just started, and may well succeed.)
      if (monotonicNow(clock) - renewingSince >= intervalMs) loseUnrenewed()
      return renewing
    }
    const entries = [...tracked.values()]
    if (entries.length === 0) return Promise.resolve()
    const startedAt = monotonicNow(clock)
    renewingSince = startedAt
    renewing = store
      .heartbeat(entries.map((e) => e.lease), clock.now(), leaseDurationMs)
      .then(
        (states) => {
          entries.forEach((entry, i) => {
            const state = states[i]
            if (state === 'held') entry.renewedAt = Math.max(entry.renewedAt, startedAt)
            else if (state) end(entry, state)
          })
        },
        (error) => {
          options.onError(error)
          loseUnrenewed()
        },
      )
      .finally(() => {
        renewing = undefined
      })
    return renewing
  }

  return {
    track(lease, onEnd) {
      tracked.set(lease.leaseId, { lease, renewedAt: monotonicNow(clock), onEnd })
      schedule()
    },
    untrack(leaseId) {
      tracked.delete(leaseId)
    },
    overdue(withinMs) {
      const now = monotonicNow(clock)
      for (const entry of tracked.values()) if (now - entry.renewedAt > withinMs) return true
      return false
    },
    renewNow,
    sweep() {
      if (tracked.size > 0) return
      timer?.cancel()
      timer = undefined
    },
  }
}
