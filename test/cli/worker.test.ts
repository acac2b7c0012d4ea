/**
 * `reflow worker` and `reflow enqueue` from the compiled binary, in a project directory outside the
 * repository where no reflow-ts package is installed: the workflow file's `import 'reflow-ts'` must
 * resolve to the library inside the binary, its other imports (zod, its own files) as usual.
 *
 * Steps append to a side-effect log and print markers; step two waits for a gate file the test
 * creates, so the test stops workers at known points by waiting for markers, never by sleeping.
 */

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { cleanEnv, cli, cliJson, lineReader, reflowBinary, removeTempDirs, tempDir } from './helpers.ts'

const WORKFLOWS = `
import { createWorkflow } from 'reflow-ts'
import { z } from 'zod'
import { waitForFile } from './gate.ts'
import { appendFileSync } from '#effects'

const input = z.object({ log: z.string(), gate: z.string() })

export const pipeline = createWorkflow({ name: 'pipeline', input })
  .step('one', ({ input }) => {
    appendFileSync(input.log, 'one\\n')
    return { n: 1 }
  })
  .step('two', async ({ input, prev }) => {
    appendFileSync(input.log, 'two:start\\n')
    console.log('MARK two waiting')
    await waitForFile(input.gate)
    appendFileSync(input.log, 'two\\n')
    return { n: prev.n + 1 }
  })
  .step('three', ({ input, prev }) => {
    appendFileSync(input.log, 'three\\n')
    return { n: prev.n + 1 }
  })

export const settings = { name: 'not a workflow' }
`

const GATE = `
import { existsSync } from 'node:fs'

/** Resolves once the file exists (the test creates it). */
export async function waitForFile(file: string): Promise<void> {
  while (!existsSync(file)) await Bun.sleep(5)
}
`

/**
 * A project directory in the system temp dir: workflows.ts, its own modules (one reached through a
 * package.json `#imports` entry that maps to a tsconfig `paths` alias) and zod, but no reflow-ts.
 */
function project() {
  const dir = tempDir()
  writeFileSync(path.join(dir, 'workflows.ts'), WORKFLOWS)
  writeFileSync(path.join(dir, 'gate.ts'), GATE)
  mkdirSync(path.join(dir, 'lib'))
  writeFileSync(path.join(dir, 'lib', 'effects.ts'), "export { appendFileSync } from 'node:fs'\n")
  writeFileSync(path.join(dir, 'effects.ts'), "export * from '@lib/effects.ts'\n")
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', type: 'module', imports: { '#effects': './effects.ts' } }))
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { paths: { '@lib/*': ['./lib/*'] } } }))
  mkdirSync(path.join(dir, 'node_modules'))
  symlinkSync(path.join(import.meta.dir, '../../node_modules/zod'), path.join(dir, 'node_modules', 'zod'), 'dir')
  return { dir, db: path.join(dir, 'reflow.db') }
}

/** Workers a test started; any still running when it ends (a failed assertion) are killed. */
const workers: Bun.Subprocess[] = []
afterEach(() => {
  for (const child of workers.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

function startWorker(dir: string, ...extra: string[]) {
  return reflowBinary().then((binary) => {
    const child = Bun.spawn([binary, 'worker', 'workflows.ts', '--lease', '500', '--poll', '20', ...extra], {
      cwd: dir,
      env: cleanEnv(),
      stdout: 'pipe',
      stderr: 'pipe',
    })
    workers.push(child)
    return { child, out: lineReader(child.stdout), err: new Response(child.stderr).text() }
  })
}

const effects = (file: string) => readFileSync(file, 'utf8').trim().split('\n')

beforeAll(async () => {
  await reflowBinary()
}, 60_000)
afterAll(removeTempDirs)

test('the project directory cannot resolve reflow-ts on its own', () => {
  const { dir } = project()
  expect(() => Bun.resolveSync('reflow-ts', dir)).toThrow()
  expect(Bun.resolveSync('zod', dir)).toContain('zod')
})

describe('enqueue', () => {
  test('validates with the workflow schema and records a pending run', async () => {
    const { dir, db } = project()
    const input = { log: 'l', gate: 'g' }
    const run = await cliJson<any>(['enqueue', 'workflows.ts', 'pipeline', JSON.stringify(input)], { cwd: dir })
    expect(run).toEqual({ id: expect.any(String), workflow: 'pipeline', status: 'pending', input, idempotencyKey: null, createdAt: expect.any(Number) })
    expect(existsSync(db)).toBe(true)
    const human = await cli(['enqueue', 'workflows.ts', 'pipeline', JSON.stringify(input), '--db', db], { cwd: dir })
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/^[0-9a-f-]{36}\n$/)
    const listed = await cliJson<any[]>(['runs', '--db', db])
    expect(listed.map((r) => r.id).sort()).toEqual([run.id, human.stdout.trim()].sort())
  })

  test('--idempotency-key returns the existing run; other input under the same key fails', async () => {
    const { dir } = project()
    const args = ['enqueue', 'workflows.ts', 'pipeline', '{"log":"a","gate":"b"}', '--idempotency-key', 'k1']
    const first = await cliJson<any>(args, { cwd: dir })
    const again = await cliJson<any>(args, { cwd: dir })
    expect(again.id).toBe(first.id)
    expect(first.idempotencyKey).toBe('k1')
    const conflict = await cli(['enqueue', 'workflows.ts', 'pipeline', '{"log":"other","gate":"b"}', '--idempotency-key', 'k1'], { cwd: dir })
    expect(conflict.code).toBe(1)
    expect(conflict.stderr).toBe(`reflow: Idempotency key "k1" of workflow "pipeline" is already used by run ${first.id} with different input\n`)
  })

  test('invalid input, an unknown workflow, a broken module: one line, exit 1; bad JSON: exit 2', async () => {
    const { dir } = project()
    const invalid = await cli(['enqueue', 'workflows.ts', 'pipeline', '{"log":5}'], { cwd: dir })
    expect(invalid.code).toBe(1)
    expect(invalid.stderr).toStartWith('reflow: Invalid input for workflow "pipeline": log: ')
    expect(invalid.stderr.trimEnd().split('\n')).toHaveLength(1)
    const unknown = await cli(['enqueue', 'workflows.ts', 'nope', '{}'], { cwd: dir })
    expect(unknown).toEqual({ code: 1, stdout: '', stderr: 'reflow: Unknown workflow "nope". Registered workflows: "pipeline"\n' })
    writeFileSync(path.join(dir, 'empty.ts'), 'export const x = 1\n')
    expect((await cli(['enqueue', 'empty.ts', 'pipeline', '{}'], { cwd: dir })).stderr).toBe(
      'reflow: empty.ts exports no workflows (export the values createWorkflow() returns)\n',
    )
    writeFileSync(path.join(dir, 'broken.ts'), "import { nothing } from 'not-installed-anywhere'\nexport const y = nothing\n")
    const broken = await cli(['enqueue', 'broken.ts', 'pipeline', '{}'], { cwd: dir })
    expect(broken.code).toBe(1)
    expect(broken.stderr).toStartWith('reflow: cannot load broken.ts: ')
    expect(broken.stderr).toContain('not-installed-anywhere')
    expect((await cli(['enqueue', 'missing.ts', 'pipeline', '{}'], { cwd: dir })).stderr).toBe('reflow: no such file: missing.ts\n')
    const badJson = await cli(['enqueue', 'workflows.ts', 'pipeline', '{log:'], { cwd: dir })
    expect(badJson.code).toBe(2)
    expect(badJson.stderr).toStartWith('reflow: enqueue: JSON is not valid JSON')
    expect((await cli(['enqueue', 'workflows.ts', 'pipeline'], { cwd: dir })).stderr).toStartWith('reflow: enqueue: missing JSON\n')
  })
})

describe('enqueue --delay and --wait', () => {
  test('--delay records a run due later; --wait prints how a run a worker finished ended', async () => {
    const { dir, db } = project()
    const log = path.join(dir, 'effects.log')
    const gate = path.join(dir, 'gate')
    writeFileSync(gate, '')
    const before = Date.now()
    const delayed = await cliJson<any>(['enqueue', 'workflows.ts', 'pipeline', JSON.stringify({ log, gate }), '--delay', '10m'], { cwd: dir })
    const shown = await cliJson<any>(['show', delayed.id, '--db', db])
    expect(shown.run.status).toBe('pending')
    expect(shown.run.availableAt).toBeGreaterThanOrEqual(before + 600_000)
    expect((await cli(['show', delayed.id, '--db', db])).stdout).toMatch(/\n {2}Due {6}\S+ \(in 10m\)\n/)
    const bad = await cli(['enqueue', 'workflows.ts', 'pipeline', '{}', '--delay', 'soon'], { cwd: dir })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toStartWith('reflow: enqueue: --delay must be a number of milliseconds or a duration')

    const worker = await startWorker(dir)
    await worker.out.waitFor('worker started')
    const waited = await cliJson<any>(['enqueue', 'workflows.ts', 'pipeline', JSON.stringify({ log, gate }), '--wait', '--timeout', '20s'], { cwd: dir })
    expect(waited).toEqual({ id: expect.any(String), status: 'completed', output: { n: 3 } })
    const human = await cli(['enqueue', 'workflows.ts', 'pipeline', JSON.stringify({ log, gate }), '--wait'], { cwd: dir })
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/^[0-9a-f-]{36} completed: \{n: 3\}\n$/)
    worker.child.kill('SIGTERM')
    expect(await worker.child.exited).toBe(0)
    // The delayed run is still waiting for its time.
    expect((await cliJson<any>(['show', delayed.id, '--db', db])).run.status).toBe('pending')
  }, 30_000)
})

describe('worker', () => {
  test('SIGKILL mid-run, then a new worker: the run resumes and recorded steps are not repeated', async () => {
    const { dir, db } = project()
    const log = path.join(dir, 'effects.log')
    const gate = path.join(dir, 'gate')
    const { id } = await cliJson<any>(['enqueue', 'workflows.ts', 'pipeline', JSON.stringify({ log, gate })], { cwd: dir })

    const first = await startWorker(dir)
    await first.out.waitFor('worker started')
    expect(first.out.lines[0]).toMatch(/worker started \(pid \d+\): 1 workflow \(pipeline\) on \.\/reflow\.db, concurrency 1, poll 20ms, lease 500ms$/)
    await first.out.waitFor('MARK two waiting')
    first.child.kill('SIGKILL')
    expect(await first.child.exited).not.toBe(0)
    expect(effects(log)).toEqual(['one', 'two:start'])
    const crashed = await cliJson<any>(['show', id], { cwd: dir })
    expect(crashed.run.status).toBe('running')
    expect(crashed.steps.map((s: any) => s.name)).toEqual(['one'])

    writeFileSync(gate, '')
    const second = await startWorker(dir)
    await second.out.waitFor(`run ${id} completed (pipeline)`)
    second.child.kill('SIGTERM')
    expect(await second.child.exited).toBe(0)
    expect(await second.err).toBe('')

    // Step one was recorded before the crash and never ran again; step two was not, so it ran again.
    expect(effects(log)).toEqual(['one', 'two:start', 'two:start', 'two', 'three'])
    const done = await cliJson<any>(['show', id, '--db', db])
    expect(done.run.status).toBe('completed')
    expect(done.steps.map((s: any) => [s.name, s.status, s.output])).toEqual([
      ['one', 'completed', { n: 1 }],
      ['two', 'completed', { n: 2 }],
      ['three', 'completed', { n: 3 }],
    ])
  }, 30_000)

  test('SIGTERM lets the step in flight finish and be recorded, exits 0; the next worker continues', async () => {
    const { dir } = project()
    const log = path.join(dir, 'effects.log')
    const gate = path.join(dir, 'gate')
    const { id } = await cliJson<any>(['enqueue', 'workflows.ts', 'pipeline', JSON.stringify({ log, gate })], { cwd: dir })

    const worker = await startWorker(dir)
    await worker.out.waitFor('MARK two waiting')
    worker.child.kill('SIGTERM')
    await worker.out.waitFor('SIGTERM: stopping, waiting for steps in flight to finish')
    writeFileSync(gate, '')
    expect(await worker.child.exited).toBe(0)
    expect(worker.out.lines.at(-1)).toMatch(/worker stopped$/)
    expect(effects(log)).toEqual(['one', 'two:start', 'two'])
    const stopped = await cliJson<any>(['show', id], { cwd: dir })
    expect(stopped.run.status).toBe('pending')
    expect(stopped.steps.map((s: any) => `${s.name}:${s.status}`)).toEqual(['one:completed', 'two:completed'])

    const next = await startWorker(dir)
    await next.out.waitFor(`run ${id} completed (pipeline)`)
    next.child.kill('SIGINT')
    expect(await next.child.exited).toBe(0)
    expect(effects(log)).toEqual(['one', 'two:start', 'two', 'three'])
  }, 30_000)

  test('reflow cancel from another process stops a running run: nothing more is recorded', async () => {
    const { dir } = project()
    const log = path.join(dir, 'effects.log')
    const gate = path.join(dir, 'gate')
    const { id } = await cliJson<any>(['enqueue', 'workflows.ts', 'pipeline', JSON.stringify({ log, gate })], { cwd: dir })
    const worker = await startWorker(dir)
    await worker.out.waitFor('MARK two waiting')
    expect(await cliJson(['cancel', id], { cwd: dir })).toMatchObject({ status: 'cancelled', previousStatus: 'running' })
    writeFileSync(gate, '')
    worker.child.kill('SIGTERM')
    expect(await worker.child.exited).toBe(0)
    const shown = await cliJson<any>(['show', id], { cwd: dir })
    expect(shown.run.status).toBe('cancelled')
    expect(shown.steps.map((s: any) => s.name)).toEqual(['one'])
    expect(effects(log)).not.toContain('three')
  }, 30_000)

  test('a failed run is logged, and usage and file errors exit 2 and 1', async () => {
    const { dir } = project()
    const { id } = await cliJson<any>(['enqueue', 'workflows.ts', 'pipeline', JSON.stringify({ log: path.join(dir, 'no-such-dir', 'x.log'), gate: 'g' })], { cwd: dir })
    const worker = await startWorker(dir)
    const failed = await worker.out.waitFor(`run ${id} failed (pipeline) at step "one": `)
    expect(failed).toContain('ENOENT')
    worker.child.kill('SIGTERM')
    expect(await worker.child.exited).toBe(0)
    expect((await cli(['worker', 'missing.ts'], { cwd: dir })).stderr).toBe('reflow: no such file: missing.ts\n')
    const usage = await cli(['worker', 'workflows.ts', '--concurrency', 'many'], { cwd: dir })
    expect(usage.code).toBe(2)
    expect(usage.stderr).toStartWith('reflow: worker: --concurrency must be an integer >= 1, got "many"\nusage: reflow worker FILE.ts')
    expect((await cli(['worker'], { cwd: dir })).code).toBe(2)
  }, 30_000)
})
