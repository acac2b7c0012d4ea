// Type-checked from the consumer side (tsc --noEmit, nodenext and bundler resolution, skipLibCheck off
// so the package's .d.ts are checked too) by the pack test. No zod here: its declarations alone take
// tsc seconds, and the quick start already runs with it; a hand-written Standard Schema stands in.
import { createEngine, createWorkflow, ReflowError, type RunInfo, type StandardSchemaV1, type StorageAdapter } from 'reflow-ts'
import { SQLiteStorage } from 'reflow-ts/sqlite'
import { SQLiteStorage as BunStorage } from 'reflow-ts/sqlite-bun'
import { SQLiteStorage as NodeStorage, type SQLiteStorageOptions } from 'reflow-ts/sqlite-node'
import { MemoryStorage, testEngine } from 'reflow-ts/test'

const urlInput: StandardSchemaV1<{ url: string }> = {
  '~standard': {
    version: 1,
    vendor: 'consumer',
    validate: (value) =>
      typeof value === 'object' && value !== null && typeof (value as { url?: unknown }).url === 'string'
        ? { value: { url: (value as { url: string }).url } }
        : { issues: [{ message: 'url must be a string', path: ['url'] }] },
  },
}

const pipeline = createWorkflow({ name: 'process-content', input: urlInput })
  .step('scrape', async ({ input }) => ({ content: input.url }))
  .step('count', async ({ prev }) => prev.content.length)

const options: SQLiteStorageOptions = { synchronous: 'full', busyTimeoutMs: 100 }
const adapters: StorageAdapter[] = [new SQLiteStorage('a.db', options), new NodeStorage('b.db'), new BunStorage('c.db'), new MemoryStorage()]
const shared: NodeStorage = new SQLiteStorage('d.db')
const engine = createEngine({ storage: shared, workflows: [pipeline] })
void engine.enqueue('process-content', { url: 'https://example.com' })
// @ts-expect-error: the input must match the schema
void engine.enqueue('process-content', { url: 42 })
// @ts-expect-error: only registered workflows can be enqueued
void engine.enqueue('unknown', { url: 'x' })
// @ts-expect-error: unknown storage option
new SQLiteStorage('e.db', { journal: 'wal' })

const te = testEngine({ workflows: [pipeline] })
export async function check(): Promise<number> {
  const result = await te.run('process-content', { url: 'u' })
  const count = result.steps.count
  // @ts-expect-error: a step's output is there only once its status says completed
  const unchecked: number = count.output
  const length: number = count.status === 'completed' ? count.output : unchecked
  // @ts-expect-error: step outputs are typed
  const wrong: string = result.steps.scrape.output
  const info: RunInfo | null = await engine.getRunStatus(result.runId)
  return length + adapters.length + (info ? 1 : 0) + (new ReflowError('STORAGE', 'x') instanceof Error ? 1 : 0) + wrong.length
}
