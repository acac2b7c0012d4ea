/**
 * Identifiers (workflow names, step names, idempotency keys, run ids) must be well-formed Unicode,
 * what `String.prototype.isWellFormed` checks. A JavaScript string may hold an unpaired UTF-16
 * surrogate, which has no UTF-8 form: bun:sqlite stores it as U+FFFD, so two idempotency keys that
 * differ only there collide, and better-sqlite3 does not agree with it. Refusing them up front keeps
 * every identifier a string that means the same in memory, on disk and under either runtime.
 */

import { InvalidArgumentError } from './errors.ts'

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/**
 * Throws an InvalidArgumentError unless `value` is well-formed Unicode. `what` starts the message and
 * names the identifier; the value is quoted with its surrogate escaped.
 *
 * @example
 * assertWellFormed('Idempotency key', options.idempotencyKey)
 * // InvalidArgumentError: Idempotency key "k\ud800" is not well-formed Unicode: U+D800 at index 1 is an
 * // unpaired UTF-16 surrogate, which has no UTF-8 form (expected a well-formed string)
 */
export function assertWellFormed(what: string, value: string): void {
  const match = LONE_SURROGATE.exec(value)
  if (match === null) return
  const unit = match[0].charCodeAt(0).toString(16).toUpperCase()
  throw new InvalidArgumentError(
    `${what} ${JSON.stringify(value)} is not well-formed Unicode: U+${unit} at index ${match.index} is an unpaired ` +
      'UTF-16 surrogate, which has no UTF-8 form (expected a well-formed string)',
  )
}
