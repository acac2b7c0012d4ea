/**
 * In-process recurring schedules: every `intervalMs` a schedule enqueues its run. Schedules live
 * in the engine that made them (they are not persisted); `engine.stop()` clears them all.
 */

import type { Clock, TimerHandle } from '../core/clock.ts'

export interface Scheduler {
  add(intervalMs: number, fire: () => Promise<unknown>): string
  remove(id: string): boolean
  clear(): void
}

export function createScheduler(clock: Clock, onError: (error: unknown) => void): Scheduler {
  const timers = new Map<string, TimerHandle>()

  return {
    add(intervalMs, fire) {
      const id = crypto.randomUUID()
      const arm = () => {
        timers.set(
          id,
          clock.setTimer(intervalMs, () => {
            if (!timers.has(id)) return
            arm()
            fire().catch(onError)
          }),
        )
      }
      arm()
      return id
    },
    remove(id) {
      const timer = timers.get(id)
      timer?.cancel()
      return timers.delete(id)
    },
    clear() {
      for (const timer of timers.values()) timer.cancel()
      timers.clear()
    },
  }
}
