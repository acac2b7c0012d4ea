/**
 * The crash-and-resume demo: `bash scripts/demo.sh` (or `bun scripts/demo.ts`).
 *
 * A 4-step workflow runs in a worker process on a real SQLite file. The worker is killed with
 * SIGKILL in the middle of step 3; a new worker reclaims the run once its lease expires and
 * finishes it, without repeating steps 1 and 2 (the customer is charged exactly once).
 */

import { appendFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { createEngine, createWorkflow, type StandardSchemaV1 } from '../src/index.ts'
import { SQLiteStorage } from '../src/sqlite-bun.ts'

const dir = path.resolve(import.meta.dir, '..', '.tmp', 'demo')
const dbPath = path.join(dir, 'reflow.db')
const effectsPath = path.join(dir, 'side-effects.log')
const LEASE_MS = 1500

/** A tiny Standard Schema, so the demo needs no schema library. */
const articleInput: StandardSchemaV1<{ url: string; customer: string }> = {
  '~standard': {
    version: 1,
    vendor: 'demo',
    validate: (value) => {
      const v = value as { url?: unknown; customer?: unknown }
      return typeof v?.url === 'string' && typeof v.customer === 'string'
        ? { value: { url: v.url, customer: v.customer } }
        : { issues: [{ message: 'expected { url: string, customer: string }' }] }
    },
  },
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function sideEffect(step: string, detail: string): void {
  appendFileSync(effectsPath, `${step}\t${process.pid}\n`)
  console.log(`    ${detail}`)
}

export const summarize = createWorkflow({ name: 'summarize-article', input: articleInput })
  .step('fetch-article', async ({ input }) => {
    await pause(200)
    sideEffect('fetch-article', `fetched ${input.url}`)
    return { words: 1834 }
  })
  .step('charge-customer', async ({ input }) => {
    await pause(200)
    sideEffect('charge-customer', `charged ${input.customer} $0.50 (charge ch_4211)`)
    return { chargeId: 'ch_4211' }
  })
  .step('llm-summary', async ({ prev }) => {
    appendFileSync(effectsPath, `llm-summary started\t${process.pid}\n`)
    console.log(`    calling the LLM ($0.12) for receipt ${prev.chargeId}...`)
    await pause(800)
    sideEffect('llm-summary', 'LLM answered')
    return { summary: 'Durable execution means finished steps never run twice.' }
  })
  .step('email-report', async ({ input, prev }) => {
    await pause(100)
    sideEffect('email-report', `emailed "${prev.summary}" to ${input.customer}`)
  })

async function worker(): Promise<void> {
  const storage = new SQLiteStorage(dbPath)
  const engine = createEngine({
    storage,
    workflows: [summarize],
    runLeaseDurationMs: LEASE_MS,
    heartbeatIntervalMs: LEASE_MS / 5,
    hooks: {
      onStepComplete: ({ stepName }) => console.log(`  ✓ ${stepName} recorded`),
      onRunComplete: () => {
        console.log('  run completed')
        void engine.stop().then(() => process.exit(0))
      },
    },
  })
  const resume = await storage.getStepResults(process.argv[3] ?? '')
  if (resume.length > 0) {
    console.log(`  found recorded steps: ${resume.map((s) => s.name).join(', ')} (they will not run again)`)
    console.log(`  waiting for the dead worker's lease to expire (${LEASE_MS} ms)...`)
  }
  await engine.start(100)
}

function spawnWorker(label: string, runId: string, onLine: (line: string, kill: () => void) => void) {
  const child = Bun.spawn(['bun', import.meta.path, 'worker', runId], { stdout: 'pipe', stderr: 'inherit' })
  const kill = () => child.kill('SIGKILL')
  const lines = (async () => {
    let buffer = ''
    for await (const chunk of child.stdout) {
      buffer += new TextDecoder().decode(chunk)
      let nl: number
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        console.log(`[${label} pid ${child.pid}] ${line}`)
        onLine(line, kill)
      }
    }
  })()
  return Promise.all([child.exited, lines]).then(([code]) => code)
}

async function main(): Promise<void> {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const storage = new SQLiteStorage(dbPath)
  const engine = createEngine({ storage, workflows: [summarize] })
  const run = await engine.enqueue('summarize-article', { url: 'https://example.com/durable', customer: 'ada@example.com' })
  console.log(`Enqueued run ${run.id} in ${path.relative(process.cwd(), dbPath)}\n`)

  console.log('Starting worker 1; it will be killed with SIGKILL in the middle of the LLM call.')
  const code = await spawnWorker('worker 1', run.id, (line, kill) => {
    if (line.includes('calling the LLM')) kill()
  })
  console.log(`\n💥 worker 1 died (exit ${code}, SIGKILL) during llm-summary.`)
  let info = await engine.getRunStatus(run.id)
  console.log(`   In the database: run is "${info?.run.status}", recorded steps: ${info?.steps.map((s) => s.name).join(', ')}\n`)

  console.log('Starting worker 2 on the same file.')
  await spawnWorker('worker 2', run.id, () => {})

  info = await engine.getRunStatus(run.id)
  const runs = readFileSync(effectsPath, 'utf8').trim().split('\n').map((l) => l.split('\t')[0])
  console.log(`\nRun ${run.id} is "${info?.run.status}". Side effects executed per step:`)
  for (const step of summarize.steps) {
    const times = runs.filter((s) => s === step.name).length
    console.log(`  ${step.name.padEnd(16)} ${times}×`)
  }
  const started = runs.filter((s) => s === 'llm-summary started').length
  console.log(`  (llm-summary was started ${started}×: the call cut off by the crash is the only repeat)`)
  const charged = runs.filter((s) => s === 'charge-customer').length
  console.log(
    charged === 1 && info?.run.status === 'completed'
      ? '\nThe customer was charged once and the LLM answer was paid for once: nothing finished ran twice.'
      : '\nUNEXPECTED: a finished step ran again or the run did not complete.',
  )
  storage.close()
  if (charged !== 1 || info?.run.status !== 'completed') process.exit(1)
}

if (process.argv[2] === 'worker') await worker()
else await main()
