/**
 * Change watching: how an idle started engine learns that another process has made work claimable,
 * long before its poll interval.
 *
 *   snapshot() reads the change source's version()
 *   arm() ──▶ armed ──dataVersion() differs from the snapshot──▶ fired: onChange() (the engine claims)
 *              │ ▲                                                 │
 *              └─┘ unchanged: check again after a longer pause     └─ claimed(found) reports the outcome
 *   disarm(): stop checking, stop listening (the engine is busy, or stopping)
 *
 * Checks run on a real timer that backs off from 5 ms to 25 ms while nothing changes: a wake-up of
 * the process costs far more CPU than the check (about 0.2 ms under Bun), so an engine checking every
 * 5 ms forever would burn 2-4% of a core doing nothing. When the adapter also offers `watchChanges`
 * (a file-system notification on SQLite's WAL), a notification checks at once (and once more 2 ms
 * later, since the notification can come before the commit is visible), and the timer becomes a
 * safety net: from 25 ms backing off to 200 ms.
 *
 * Changes that bring no work (another engine's steps and heartbeats on the same file) would make an
 * idle engine claim on every one of their commits; after a few such empty claims in a row, reacting
 * to a change waits, doubling up to a second, until a claim finds work again.
 *
 * Not time logic (no run's outcome depends on it) but a probe for news, like a file watcher, so it
 * uses real timers whatever the engine's Clock: a ManualClock must not have to step through it.
 */

import type { ChangeSource } from '../storage/store.ts'

const FIRST_CHECK_MS = 5
const MAX_PAUSE_MS = 25
const FIRST_CHECK_NOTIFIED_MS = 25
const MAX_PAUSE_NOTIFIED_MS = 200
const RECHECK_NOTIFIED_MS = 2
const BACKOFF = 1.5
/** Empty claims after changes, in a row, before reacting to the next change waits. */
const FREE_EMPTY_CLAIMS = 3
const MAX_THROTTLE_MS = 1_000

export interface ChangeWatch {
  /** Remembers the current data version: only changes after this moment count. False if unreadable. */
  snapshot(): boolean
  /** Watches for a change since the last snapshot; a no-op while armed or without a snapshot. */
  arm(): void
  /** The outcome of a claim: whether it found work. Counts only for the claim a change prompted. */
  claimed(found: boolean): void
  /** Stops checking and listening. */
  disarm(): void
}

/** A change watch over a store's change source. */
export function createChangeWatch(source: ChangeSource, onChange: () => void, onError: (error: unknown) => void): ChangeWatch {
  const dataVersion = () => source.version()
  let seen: number | undefined
  let armed = false
  let pauseMs = FIRST_CHECK_MS
  let timer: ReturnType<typeof setTimeout> | undefined
  let unwatch: (() => void) | undefined
  /** onChange fired and its claim's outcome is still to come. */
  let prompted = false
  let emptyClaims = 0

  function later(ms: number, fn: () => void): void {
    timer = setTimeout(fn, ms)
    // Never what keeps a process alive: the engine's poll timer (on a real clock) does that.
    ;(timer as { unref?: () => void }).unref?.()
  }

  function clearTimer(): void {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
  }

  function fire(): void {
    timer = undefined
    prompted = true
    onChange()
  }

  /** `notified`: a write has begun, and may not be committed yet: if nothing shows, look again soon. */
  function check(notified = false): void {
    if (!armed) return
    clearTimer()
    let changed: boolean
    try {
      changed = dataVersion() !== seen
    } catch (error) {
      // Reported once: the engine's next claim (at its poll interval at the latest) arms again.
      onError(error)
      seen = undefined
      return disarm()
    }
    if (changed) {
      armed = false
      const throttle = emptyClaims < FREE_EMPTY_CLAIMS ? 0 : Math.min(MAX_THROTTLE_MS, FIRST_CHECK_MS * 2 ** (emptyClaims - FREE_EMPTY_CLAIMS))
      return throttle === 0 ? fire() : later(throttle, fire)
    }
    // A notification can precede the commit it announces: look once more, shortly.
    if (notified) return later(RECHECK_NOTIFIED_MS, () => check())
    pauseMs = Math.min(unwatch ? MAX_PAUSE_NOTIFIED_MS : MAX_PAUSE_MS, pauseMs * BACKOFF)
    later(pauseMs, () => check())
  }

  function disarm(): void {
    armed = false
    clearTimer()
    unwatch?.()
    unwatch = undefined
  }

  return {
    snapshot() {
      try {
        seen = dataVersion()
        return true
      } catch (error) {
        seen = undefined
        onError(error)
        return false
      }
    },
    arm() {
      if (armed || seen === undefined) return
      clearTimer()
      armed = true
      if (!unwatch) {
        try {
          unwatch = source.watch(() => check(true)) ?? undefined
        } catch (error) {
          onError(error)
        }
      }
      pauseMs = unwatch ? FIRST_CHECK_NOTIFIED_MS : FIRST_CHECK_MS
      later(pauseMs, () => check())
    },
    claimed(found) {
      if (found) emptyClaims = 0
      else if (prompted) emptyClaims++
      prompted = false
    },
    disarm,
  }
}
