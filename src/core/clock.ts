/**
 * The one time seam. The engine reads the time and sets every timer (poll, heartbeat, backoff,
 * timeout, schedule) through a Clock, and storage stamps rows with the same Clock, so tests can
 * drive all of it with a ManualClock instead of sleeping.
 */

export interface TimerHandle {
  cancel(): void
}

export interface Clock {
  /** Epoch milliseconds: what gets stored (due times, lease expiries). It may jump. */
  now(): number
  /**
   * Milliseconds from an arbitrary origin that never jumps: for durations inside one process (how
   * long since the last heartbeat). Optional for custom clocks; `now()` stands in when absent.
   */
  monotonic?(): number
  /** Calls `fn` once after `ms`; the handle cancels it. */
  setTimer(ms: number, fn: () => void): TimerHandle
}

const MAX_TIMER_MS = 2 ** 31 - 1

/** The real clock: Date.now and setTimeout. */
export const SystemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimer(ms, fn) {
    // setTimeout fires at once past 2^31-1 ms (24.8 days): such a timer fires then, and is set again.
    const id = setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS))
    return { cancel: () => clearTimeout(id) }
  },
}

/**
 * Resolves after `ms`, or rejects with the signal's reason as soon as it aborts.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const onAbort = () => {
      timer.cancel()
      reject(signal!.reason)
    }
    const timer = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    })
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

interface PendingTimer {
  at: number
  seq: number
  fn: () => void
}

/**
 * A clock that moves only when told to. `advance(ms)` fires due timers in time order, letting
 * promise continuations run between them, so code awaiting a sleep observes each step.
 *
 * @example
 * const clock = new ManualClock(0)
 * const engine = createEngine({ storage: new MemoryStorage({ clock }), workflows, clock })
 * await clock.advance(1_000)
 */
export class ManualClock implements Clock {
  private current: number
  private seq = 0
  private timers: PendingTimer[] = []

  constructor(start = 0) {
    this.current = start
  }

  now(): number {
    return this.current
  }

  monotonic(): number {
    return this.current
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer = { at: this.current + Math.max(0, ms), seq: this.seq++, fn }
    this.timers.push(timer)
    return { cancel: () => (this.timers = this.timers.filter((t) => t !== timer)) }
  }

  /** Timers waiting to fire. */
  get pendingTimers(): number {
    return this.timers.length
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms
    await flushMicrotasks()
    for (;;) {
      const next = this.timers
        .filter((t) => t.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0]
      if (!next) break
      this.timers = this.timers.filter((t) => t !== next)
      this.current = Math.max(this.current, next.at)
      next.fn()
      await flushMicrotasks()
    }
    this.current = target
    await flushMicrotasks()
  }
}

/** Lets pending promise chains (including a macrotask hop for batched storage) run to quiescence. */
async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setTimeout(resolve, 0))
}

/** `clock.monotonic()`, or `clock.now()` for a clock without one. */
export function monotonicNow(clock: Clock): number {
  return clock.monotonic ? clock.monotonic() : clock.now()
}
