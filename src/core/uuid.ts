/**
 * Run ids: UUID version 7 (RFC 9562). 48 bits of epoch milliseconds, a 12-bit counter (the RFC's
 * "method 1", so ids from one generator are strictly increasing even within a millisecond), then 62
 * random bits. Ids made later sort later, so a new run's primary-key and step-index entries land
 * beside the previous run's instead of on a random page of a large B-tree: inserts stay in cache
 * and each commit writes a few pages rather than one page per run.
 */

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'))

/**
 * A generator of increasing UUIDv7 strings stamped with `now()` (epoch milliseconds).
 *
 * @example
 * const nextId = createUuidV7(() => Date.now())
 * nextId() // '0193f6a2-5c1e-7a3b-9f0c-6d2e8b41a7c5'
 */
export function createUuidV7(now: () => number): () => string {
  const bytes = new Uint8Array(16)
  let lastMs = -1
  let counter = 0
  return () => {
    crypto.getRandomValues(bytes)
    let ms = Math.max(0, Math.floor(now()))
    if (ms > lastMs) {
      lastMs = ms
      // A random start below half the range leaves room to count up within this millisecond.
      counter = ((bytes[6]! & 0x07) << 8) | bytes[7]!
    } else {
      ms = lastMs
      if (++counter > 0xfff) {
        // Counter exhausted: borrow the next millisecond, as RFC 9562 allows.
        ms = ++lastMs
        counter = 0
      }
    }
    bytes[0] = Math.floor(ms / 2 ** 40) & 0xff
    bytes[1] = Math.floor(ms / 2 ** 32) & 0xff
    bytes[2] = (ms >>> 24) & 0xff
    bytes[3] = (ms >>> 16) & 0xff
    bytes[4] = (ms >>> 8) & 0xff
    bytes[5] = ms & 0xff
    bytes[6] = 0x70 | (counter >>> 8)
    bytes[7] = counter & 0xff
    bytes[8] = 0x80 | (bytes[8]! & 0x3f)
    const h = (i: number) => HEX[bytes[i]!]!
    return `${h(0)}${h(1)}${h(2)}${h(3)}-${h(4)}${h(5)}-${h(6)}${h(7)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`
  }
}
