/**
 * What the contract suites share: the runtime-agnostic harness (bun:test and node:test both pass
 * their `describe`/`test` in), declared skips, and a one-shot signal for change notifications.
 *
 * A target declares the tests it cannot run as `skip: [{ reason, tests }]` (hono's router
 * `common.case.test.ts`), each test named by its path: `group > test`. A skipped test is registered
 * as skipped with its reason; a skip that names no test fails the suite, so a renamed test cannot
 * silently lose its skip or its coverage.
 */

import assert from 'node:assert/strict'

type TestFn = (name: string, fn: () => Promise<void> | void) => void

export interface ContractHarness {
  describe(name: string, fn: () => void): void
  test: TestFn & { skip?: TestFn }
}

export interface Skip {
  reason: string
  /** Test paths, `group > test`, or a group's path for every test in it. */
  tests: readonly string[]
}

export interface Registry {
  /** A describe block whose name prefixes the paths of the tests inside it. */
  group(name: string, fn: () => void): void
  /** A test, unless the target skips it. */
  test(name: string, fn: () => Promise<void>): void
  /** Registers the check that every declared skip named a test; call last, inside the suite. */
  checkSkips(): void
}

export function registry(h: ContractHarness, skips: readonly Skip[] = []): Registry {
  const reasons = new Map<string, string>()
  for (const { reason, tests } of skips) for (const path of tests) reasons.set(path, reason)
  const seen = new Set<string>()
  const path: string[] = []
  return {
    group(name, fn) {
      seen.add([...path, name].join(' > '))
      h.describe(name, () => {
        path.push(name)
        try {
          fn()
        } finally {
          path.pop()
        }
      })
    },
    test(name, fn) {
      const full = [...path, name]
      seen.add(full.join(' > '))
      const reason = full.map((_, i) => reasons.get(full.slice(0, i + 1).join(' > '))).find((r) => r !== undefined)
      if (reason === undefined) h.test(name, fn)
      else h.test.skip?.(`${name} (skipped: ${reason})`, () => {})
    },
    checkSkips() {
      h.test('every declared skip names a test of this suite', () => {
        assert.deepEqual([...reasons.keys()].filter((p) => !seen.has(p)), [])
      })
    },
  }
}

/** A one-shot event with a generous timeout, so a missing notification fails instead of hanging. */
export function signal(): { fire: () => void; wait: (what: string) => Promise<void> } {
  let fire!: () => void
  const fired = new Promise<void>((resolve) => (fire = resolve))
  return {
    fire: () => fire(),
    async wait(what) {
      let timer: ReturnType<typeof setTimeout> | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 5_000)
      })
      try {
        await Promise.race([fired, timeout])
      } finally {
        clearTimeout(timer)
      }
    },
  }
}

/** Lets pending I/O callbacks and immediates run, so a notification that was going to come has come. */
export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve))
}
