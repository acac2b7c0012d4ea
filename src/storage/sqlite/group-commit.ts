/**
 * Group commit: the write queue behind SQLiteStorage. A write does not touch the database when
 * called: it becomes an operation (a synchronous function over cached statements) on the queue, and
 * the call returns a promise.
 *
 *   idle ──first enqueue──▶ scheduled (setImmediate) ──flush──▶ idle
 *
 * A flush takes the whole queue: begin, run each operation in order, commit, and only then settle
 * each promise, so nothing is acknowledged before the commit that made it durable.
 *   - an operation throws → roll back the batch, reject that operation alone, and run the rest
 *     again in a fresh transaction (nothing of a failed batch survives, one bad write harms no other);
 *   - begin or commit fails → roll back and reject every operation of the batch.
 * Operations must not change anything outside the database, since a rolled-back batch reruns them.
 */

/** How the queue drives one connection's transactions; `wrap` turns a failure into the error to report. */
export interface TransactionControl {
  begin(): void
  commit(): void
  rollback(): void
  wrap(what: string, error: unknown): unknown
}

interface Operation {
  what: string
  run: () => unknown
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
}

export class GroupCommit {
  private queue: Operation[] = []
  private scheduled = false
  private commits = 0

  constructor(private readonly tx: TransactionControl) {}

  /** Write transactions committed so far. */
  get transactionCount(): number {
    return this.commits
  }

  /** Whether writes are waiting for the next flush. */
  get pending(): boolean {
    return this.queue.length > 0
  }

  /** Queues `run` for the next transaction; resolves with its result once that transaction commits. */
  enqueue<T>(what: string, run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ what, run, resolve: resolve as (value: unknown) => void, reject })
      if (!this.scheduled) {
        this.scheduled = true
        setImmediate(() => this.flush())
      }
    })
  }

  /** Commits everything queued now (also called synchronously before the connection closes). */
  flush(): void {
    this.scheduled = false
    const batch = this.queue
    this.queue = []
    while (batch.length > 0) {
      try {
        this.tx.begin()
      } catch (error) {
        return rejectAll(batch, this.tx.wrap('Beginning a write transaction', error))
      }
      const results: unknown[] = []
      let failure: { error: unknown } | undefined
      for (const operation of batch) {
        try {
          results.push(operation.run())
        } catch (error) {
          failure = { error }
          break
        }
      }
      if (failure) {
        this.tx.rollback()
        const [operation] = batch.splice(results.length, 1)
        operation!.reject(this.tx.wrap(operation!.what, failure.error))
        continue
      }
      try {
        this.tx.commit()
      } catch (error) {
        this.tx.rollback()
        return rejectAll(batch, this.tx.wrap('Committing a write transaction', error))
      }
      this.commits++
      batch.forEach((operation, i) => operation.resolve(results[i]))
      return
    }
  }
}

function rejectAll(batch: readonly Operation[], error: unknown): void {
  for (const operation of batch) operation.reject(error)
}
