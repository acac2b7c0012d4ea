/** Retry policy: how many attempts a step gets, how long to wait between them, when one times out. */

import { InvalidArgumentError } from './errors.ts'

/** Configuration for automatic step retries. */
export interface RetryConfig {
  /** Maximum number of attempts, the first included. Default: 1 (no retry). */
  maxAttempts?: number
  /** Delay growth between attempts: linear `initial × attempt`, exponential `initial × 2^(attempt-1)`. */
  backoff?: 'linear' | 'exponential'
  /** Base delay in milliseconds. Default: 1000. */
  initialDelayMs?: number
  /** Timeout per attempt in milliseconds. A step-level `timeoutMs` takes precedence. */
  timeoutMs?: number
  /** Upper bound on any one delay in milliseconds (caps exponential growth). Default: none. */
  maxDelayMs?: number
}

export interface RetryPolicy {
  maxAttempts: number
  backoff: 'linear' | 'exponential'
  initialDelayMs: number
  timeoutMs: number | undefined
  maxDelayMs: number
}

export const DEFAULT_INITIAL_DELAY_MS = 1000

/** Validates a step's retry settings once, when the step is defined. */
export function resolveRetryPolicy(stepName: string, retry: RetryConfig | undefined, stepTimeoutMs: number | undefined): RetryPolicy {
  const maxAttempts = retry?.maxAttempts ?? 1
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new InvalidArgumentError(`Step "${stepName}": retry.maxAttempts must be an integer >= 1, got ${String(maxAttempts)}`)
  }
  const backoff = retry?.backoff ?? 'exponential'
  if (backoff !== 'linear' && backoff !== 'exponential') {
    throw new InvalidArgumentError(`Step "${stepName}": retry.backoff must be 'linear' or 'exponential', got ${JSON.stringify(backoff)}`)
  }
  const initialDelayMs = retry?.initialDelayMs ?? DEFAULT_INITIAL_DELAY_MS
  assertNonNegative(stepName, 'retry.initialDelayMs', initialDelayMs)
  const timeoutMs = stepTimeoutMs ?? retry?.timeoutMs
  if (timeoutMs !== undefined && (!Number.isFinite(timeoutMs) || timeoutMs <= 0)) {
    throw new InvalidArgumentError(`Step "${stepName}": timeoutMs must be a positive number of milliseconds, got ${String(timeoutMs)}`)
  }
  const maxDelayMs = retry?.maxDelayMs ?? Number.POSITIVE_INFINITY
  if (retry?.maxDelayMs !== undefined) assertNonNegative(stepName, 'retry.maxDelayMs', maxDelayMs)
  return { maxAttempts, backoff, initialDelayMs, timeoutMs, maxDelayMs }
}

/** Milliseconds to wait after failed attempt number `attempt` (1-based) before the next one. */
export function retryDelay(policy: RetryPolicy, attempt: number): number {
  const delay = policy.backoff === 'linear' ? policy.initialDelayMs * attempt : policy.initialDelayMs * 2 ** (attempt - 1)
  return Math.min(delay, policy.maxDelayMs)
}

function assertNonNegative(stepName: string, field: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(`Step "${stepName}": ${field} must be a non-negative number, got ${String(value)}`)
  }
}
