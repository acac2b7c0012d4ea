// The spec's testing example: reflow-ts/test runs a workflow in memory and returns typed step results.
import { createWorkflow } from 'reflow-ts'
import { MemoryStorage, testEngine } from 'reflow-ts/test'
import { z } from 'zod'
import { report } from './report.mjs'

const orderWorkflow = createWorkflow({ name: 'order-fulfillment', input: z.object({ orderId: z.string(), amount: z.number() }) })
  .step('charge', async ({ input }) => ({ chargeId: `ch_${input.orderId}_${input.amount}` }))
  .step('ship', async ({ prev }) => ({ shipped: prev.chargeId.length > 0 }))

const te = testEngine({ workflows: [orderWorkflow] })
const result = await te.run('order-fulfillment', { orderId: 'test', amount: 100 })
report({
  resolved: import.meta.resolve('reflow-ts/test'),
  status: result.status,
  chargeId: result.steps.charge.output.chargeId,
  shipped: result.steps.ship.output.shipped,
  inMemory: te.storage instanceof MemoryStorage,
})
