/**
 * Deploys that change a workflow while runs are in flight: a step recorded under a name the new
 * definition no longer has is never run again under its new name.
 */

import { expect, test } from 'bun:test'
import { z } from 'zod'
import { createEngine, createWorkflow, StepRenamedError } from '../../src/index.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'

test('a step renamed in a deploy is not run again: the run fails naming the step, and resumes once the name is back', async () => {
  const charges: string[] = []
  let shipping = false
  const input = z.object({ order: z.string() })
  const ship = () => {
    if (!shipping) throw new Error('carrier down')
    return 'shipped'
  }
  const v1 = createWorkflow({ name: 'order', input })
    .step('charge', ({ input }) => void charges.push(input.order))
    .step('ship', ship)
  const v2 = createWorkflow({ name: 'order', input })
    .step('charge-card', ({ input }) => void charges.push(`renamed:${input.order}`))
    .step('ship', ship)
  const storage = new MemoryStorage()

  const before = createEngine({ storage, workflows: [v1] })
  const run = await before.enqueue('order', { order: 'o-1' })
  await before.tick()
  expect((await before.getRunStatus(run.id))?.run.status).toBe('failed')

  const after = createEngine({ storage, workflows: [v2] })
  shipping = true
  expect(await after.retry(run.id)).toBe(true)
  await after.tick()
  const info = await after.getRunStatus(run.id)
  expect(charges).toEqual(['o-1'])
  expect(info?.run.status).toBe('failed')
  expect(info?.steps.find((s) => s.name === 'charge-card')?.error).toContain('recorded step "charge", which workflow "order" no longer has')
  expect(info?.attempts.at(-1)?.errorName).toBe(new StepRenamedError('order', ['charge'], []).name)

  const restored = createEngine({ storage, workflows: [v1] })
  expect(await restored.retry(run.id)).toBe(true)
  await restored.tick()
  const done = await restored.getRunStatus(run.id)
  expect(done?.run.status).toBe('completed')
  expect(done?.steps.map((s) => [s.name, s.status])).toEqual([['charge', 'completed'], ['ship', 'completed']])
  expect(charges).toEqual(['o-1'])
})
