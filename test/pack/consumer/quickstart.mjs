/**
 * The spec's quick start as a user writes it in plain JavaScript: a three-step workflow validated by
 * zod, on SQLite, with stand-ins for the page fetch, the LLM and the database. Each entry script
 * passes the SQLiteStorage it imported; the result is printed as one JSON line for the pack test.
 */

import { createEngine, createWorkflow, ValidationError } from 'reflow-ts'
import { z } from 'zod'

export async function quickstart(SQLiteStorage, file) {
  const fetchPage = async (url) => ({ text: `The article at ${url}` })
  const llm = async (content) => `${content.length} characters`
  const rows = []
  const db = { insert: async (row) => void rows.push(row) }

  const pipeline = createWorkflow({
    name: 'process-content',
    input: z.object({ url: z.string() }),
  })
    .step('scrape', async ({ input }) => {
      const page = await fetchPage(input.url)
      return { content: page.text }
    })
    .step('summarize', {
      retry: { maxAttempts: 3, backoff: 'exponential' },
      handler: async ({ prev }) => {
        const summary = await llm(prev.content)
        return { summary }
      },
    })
    .step('store', async ({ input, prev }) => {
      await db.insert({ url: input.url, ...prev })
    })

  let runCompleted
  const completed = new Promise((resolve) => (runCompleted = resolve))
  const storage = new SQLiteStorage(file)
  const engine = createEngine({ storage, workflows: [pipeline], hooks: { onRunComplete: () => runCompleted() } })
  await engine.start()

  const run = await engine.enqueue('process-content', {
    url: 'https://example.com/article',
  })
  await completed
  const info = await engine.getRunStatus(run.id)
  const invalid = await engine.enqueue('process-content', { url: 42 }).then(() => null, (error) => error)
  await engine.stop()
  storage.close()
  return {
    status: info.run.status,
    steps: info.steps.map(({ name, status, output }) => ({ name, status, output })),
    rows,
    invalidInputRejected: invalid instanceof ValidationError,
  }
}

