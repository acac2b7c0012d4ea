import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { createEngine, createWorkflow } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { deferred } from './helpers.ts'

const dir = mkdtempSync(path.join(os.tmpdir(), 'reflow-engine-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const freshFile = () => path.join(dir, `engine-${++n}.db`)

const executions: string[] = []
const pipeline = createWorkflow({ name: 'pipeline', input: z.object({ id: z.string() }) })
  .step('a', ({ input }) => {
    executions.push(`a:${input.id}`)
    return { fromA: input.id }
  })
  .step('b', ({ prev }) => {
    executions.push(`b:${prev.fromA}`)
    if (prev.fromA === 'explode') throw new Error('b exploded')
    return { fromB: `${prev.fromA}!` }
  })
  .step('c', ({ prev }) => {
    executions.push(`c:${prev.fromB}`)
    return { big: 10n, at: new Date(0), tags: new Set([prev.fromB]), callback: [() => 1] as unknown as number[] }
  })

test('runs persist across engine instances and storage connections', async () => {
  const file = freshFile()
  const first = new SQLiteStorage(file)
  const run = await createEngine({ storage: first, workflows: [pipeline] }).enqueue('pipeline', { id: 'r1' })
  first.close()

  const second = new SQLiteStorage(file)
  const engine = createEngine({ storage: second, workflows: [pipeline] })
  expect((await engine.getRunStatus(run.id))?.run).toMatchObject({ status: 'pending', workflow: 'pipeline', input: { id: 'r1' } })
  await engine.tick()
  second.close()

  const third = new SQLiteStorage(file)
  const info = await createEngine({ storage: third, workflows: [pipeline] }).getRunStatus(run.id)
  third.close()
  // The third step returned a function inside a list: it fails naming the step and path, the others are kept.
  expect(info?.run.status).toBe('failed')
  expect(info?.steps.map((s) => [s.name, s.status, s.output ?? s.error])).toEqual([
    ['a', 'completed', { fromA: 'r1' }],
    ['b', 'completed', { fromB: 'r1!' }],
    ['c', 'failed', expect.stringContaining('Output of step "c" cannot be stored at $.callback[0]: a function')],
  ])
})

test('after a failed run the database stays usable, and retry resumes at the failed step', async () => {
  const storage = new SQLiteStorage(freshFile())
  const engine = createEngine({ storage, workflows: [pipeline] })
  const failing = await engine.enqueue('pipeline', { id: 'explode' })
  await engine.tick()
  expect((await engine.getRunStatus(failing.id))?.run.status).toBe('failed')
  executions.length = 0
  expect(await engine.retry(failing.id)).toBe(true)
  await engine.tick()
  // Step a was recorded: only b runs again (and fails again).
  expect(executions).toEqual(['b:explode'])
  const info = await engine.getRunStatus(failing.id)
  expect(info?.run.status).toBe('failed')
  expect(info?.steps.map((s) => s.name)).toEqual(['a', 'b'])
  storage.close()
})

test('a started engine on SQLite processes a backlog with concurrency and completes every run', async () => {
  const storage = new SQLiteStorage(freshFile())
  const wf = createWorkflow({ name: 'quick', input: z.object({ i: z.number() }) })
    .step('one', ({ input }) => input.i)
    .step('two', ({ prev }) => prev * 2)
  const all = deferred()
  let completed = 0
  const engine = createEngine({
    storage,
    workflows: [wf],
    concurrency: 8,
    hooks: { onRunComplete: () => ++completed === 200 && all.resolve() },
  })
  const runs = await Promise.all(Array.from({ length: 200 }, (_, i) => engine.enqueue('quick', { i })))
  await engine.start(60_000)
  await all.promise
  await engine.stop()
  for (const run of [runs[0]!, runs[199]!]) {
    const info = await engine.getRunStatus(run.id)
    expect(info?.run.status).toBe('completed')
    expect(info?.steps.map((s) => s.output)).toEqual([(run.input as { i: number }).i, (run.input as { i: number }).i * 2])
  }
  storage.close()
})
