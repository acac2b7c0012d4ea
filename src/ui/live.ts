/**
 * The change feed behind the pages' server-sent events. While at least one page listens, it follows
 * the store's change notifications (`changes.watch`); when the store cannot notify (no watch, or a
 * file system without notifications) the SERVER checks `changes.version()` on a timer instead, so
 * browsers never poll. Bursts of changes (a busy worker commits many times a second) are coalesced
 * into at most one message per `minGapMs`. A store without a change source sends nothing: pages
 * then show what they showed when loaded.
 *
 *   idle (no listeners) ──first listener──▶ following: watch, or version timer
 *   following ──change──▶ pending flush (≤ minGapMs) ──▶ every listener gets one message
 *   following ──last listener gone──▶ idle (unwatch, timer cleared)
 */

import type { ChangeSource } from '../storage/store.ts'

export interface ChangeFeed {
  /** Calls `listener` after changes (coalesced) until the returned function is called. */
  listen(listener: () => void): () => void
  /** Stops following the store and drops every listener. */
  close(): void
}

export interface ChangeFeedOptions {
  /** Least time between two messages. */
  minGapMs?: number
  /** How often the version is checked when the store cannot notify. */
  pollMs?: number
}

export function createChangeFeed(source: ChangeSource | undefined, options: ChangeFeedOptions = {}): ChangeFeed {
  const minGapMs = options.minGapMs ?? 200
  const pollMs = options.pollMs ?? 500
  const listeners = new Set<() => void>()
  let unwatch: (() => void) | undefined
  let poller: ReturnType<typeof setInterval> | undefined
  let flushTimer: ReturnType<typeof setTimeout> | undefined
  let lastFlush = 0
  let version = 0

  const flush = () => {
    flushTimer = undefined
    lastFlush = Date.now()
    for (const listener of [...listeners]) listener()
  }
  const changed = () => {
    if (flushTimer !== undefined || listeners.size === 0) return
    flushTimer = setTimeout(flush, Math.max(0, lastFlush + minGapMs - Date.now()))
  }
  const readVersion = () => {
    try {
      return source?.version() ?? 0
    } catch {
      return version // a closed or broken store: report nothing rather than crash the server
    }
  }
  const follow = () => {
    if (!source) return
    version = readVersion()
    unwatch = source.watch(changed)
    if (unwatch) return
    poller = setInterval(() => {
      const now = readVersion()
      if (now !== version) {
        version = now
        changed()
      }
    }, pollMs)
  }
  const stop = () => {
    unwatch?.()
    unwatch = undefined
    clearInterval(poller)
    poller = undefined
    clearTimeout(flushTimer)
    flushTimer = undefined
  }

  return {
    listen(listener) {
      listeners.add(listener)
      if (listeners.size === 1) follow()
      return () => {
        listeners.delete(listener)
        if (listeners.size === 0) stop()
      }
    },
    close() {
      listeners.clear()
      stop()
    },
  }
}
