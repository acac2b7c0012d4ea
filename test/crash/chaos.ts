/**
 * The chaos run, shared by chaos.test.ts (CI size) and scripts/chaos.ts (any size).
 *
 * Several worker processes execute multi-step runs from one file while new runs keep arriving and
 * the parent SIGKILLs one of the workers at a random moment, starts a replacement, and repeats. The
 * victim is preferably a worker caught inside a step (read from the log and the file), so kills
 * interrupt work rather than idle processes.
 *
 * Kills are spaced so that no step can be interrupted twice: after a kill, the next one waits until
 * every step the victim had started is recorded (by whoever reclaimed its runs). So at most two
 * executions per step is a guarantee of the design, and a third one is a bug.
 *
 * The verdict is a list of violations (empty when all holds), computed from the database file and
 * the side-effect log alone.
 */

import { createEngine } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { CHAOS_LEASE_MS, CHAOS_STEPS, chaosWorkflow, neverExecuted, type StepOutput } from './fixtures/child.ts'
import { DbView, readExecutions, until, Worker, type Execution } from './harness.ts'

const MAX_REPORTED = 40

export interface ChaosOptions {
  dbPath: string
  logPath: string
  runs: number
  workers: number
  kills: number
  /** Progress lines, for the standalone runner. */
  progress?: (line: string) => void
}

export interface Kill {
  pid: number
  /** Just before the signal was sent: the victim's death is at or after this. */
  sentAt: number
  /** When the parent saw it exit: the victim's death is at or before this. */
  exitedAt: number
  /** Steps the victim had started and not recorded (`key step`). */
  interrupted: string[]
}

export interface ChaosReport {
  violations: string[]
  kills: Kill[]
  /** Steps executed twice: the kills that really interrupted work. */
  reexecutedSteps: number
  executions: number
  durationMs: number
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const { dbPath, logPath, runs, workers: workerCount, kills: killCount } = options
  const say = options.progress ?? (() => {})
  const started = Date.now()
  const violations: string[] = []
  const workflow = chaosWorkflow(neverExecuted)
  const storage = new SQLiteStorage(dbPath)
  const engine = createEngine({ storage, workflows: [workflow] })
  await storage.initialize()
  const view = new DbView(dbPath)

  const keys = Array.from({ length: runs }, (_, i) => `c${String(i).padStart(5, '0')}`)
  // Runs arrive at a steady pace spread over the expected length of the kill loop (each kill costs
  // about a lease before its quiet period ends), so work is flowing whenever a kill comes.
  const gapMs = (killCount * (CHAOS_LEASE_MS + 300)) / runs
  let enqueued = 0
  let hurry = false
  const feed = async () => {
    while (enqueued < runs) {
      const key = keys[enqueued++]!
      await engine.enqueue('chaos', { key }, { idempotencyKey: key })
      if (!hurry) await Bun.sleep(gapMs)
    }
  }

  let spawned = 0
  const everyWorker: Worker[] = []
  const spawn = () => {
    const worker = Worker.spawn(`chaos worker ${++spawned}`, 'chaos-worker.ts', [dbPath, logPath])
    everyWorker.push(worker)
    return worker
  }
  const workers = Array.from({ length: workerCount }, spawn)
  const recordedSteps = () => new Set(view.steps().map((row) => `${row.key} ${row.name}`))
  /** Steps each process has started and not recorded, by pid. */
  const inFlight = () => {
    const recorded = recordedSteps()
    const byPid = new Map<number, string[]>()
    for (const e of readExecutions(logPath)) {
      const id = `${e.key} ${e.step}`
      if (!recorded.has(id)) byPid.set(e.pid, [...(byPid.get(e.pid) ?? []), id])
    }
    return byPid
  }

  const kills: Kill[] = []
  let feeding: Promise<void> | undefined
  try {
    await Promise.all(workers.map((worker) => worker.waitFor('ready')))
    feeding = feed()
    for (let k = 0; k < killCount; k++) {
      await Bun.sleep(20 + Math.random() * 200)
      // Prefer a worker caught inside a step; after a while, settle for any.
      let busy: Worker[] = []
      for (const deadline = Date.now() + 2_000; busy.length === 0 && Date.now() < deadline; await Bun.sleep(1)) {
        const running = inFlight()
        busy = workers.filter((worker) => running.has(worker.pid))
      }
      const pool = busy.length > 0 ? busy : workers
      const victim = pool[Math.floor(Math.random() * pool.length)]!
      const sentAt = Date.now()
      victim.signal('SIGKILL')
      const exit = await victim.exited
      const exitedAt = Date.now()
      if (exit.signal !== 'SIGKILL') violations.push(`${victim.name} ended with ${JSON.stringify(exit)}, not by SIGKILL\n${victim.describe()}`)
      const interrupted = inFlight().get(victim.pid) ?? []
      kills.push({ pid: victim.pid, sentAt, exitedAt, interrupted })
      workers[workers.indexOf(victim)] = spawn()
      say(`kill ${k + 1}/${killCount}: pid ${victim.pid}, ${interrupted.length} step(s) interrupted, ${enqueued}/${runs} runs enqueued`)
      // The quiet period: the victim's unfinished steps are re-executed and recorded before the next kill.
      await until(() => {
        const recorded = recordedSteps()
        return interrupted.every((step) => recorded.has(step))
      }, `the steps pid ${victim.pid} was running when killed to be recorded: ${interrupted.join(', ')}`)
    }
    hurry = true
    await feeding
    await until(
      () => view.count(`select count(*) as n from reflow_runs where status = 'completed'`) === runs,
      `all ${runs} runs to complete`,
      30_000,
    )
    for (const worker of workers) worker.send('stop')
    for (const worker of workers) {
      const exit = await worker.exited
      if (exit.code !== 0) violations.push(`${worker.name} did not stop cleanly: ${JSON.stringify(exit)}\n${worker.describe()}`)
    }
  } finally {
    hurry = true
    enqueued = runs
    await feeding?.catch(() => {})
    for (const worker of workers) worker.signal('SIGKILL')
    await Promise.all(workers.map((worker) => worker.exited))
  }

  for (const worker of everyWorker) {
    for (const line of worker.marked('error')) violations.push(`${worker.name} (pid ${worker.pid}) reported ${line}`)
  }
  if (new Set(everyWorker.map((w) => w.pid)).size !== everyWorker.length) violations.push('a pid was reused; the log cannot tell workers apart')

  const executions = readExecutions(logPath)
  const found = verify(view, executions, kills, runs)
  violations.push(...found.slice(0, MAX_REPORTED))
  if (found.length > MAX_REPORTED) violations.push(`... and ${found.length - MAX_REPORTED} more violations`)
  view.close()
  storage.close()

  const perStep = countBy(executions, (e) => `${e.key} ${e.step}`)
  return {
    violations,
    kills,
    reexecutedSteps: [...perStep.values()].filter((n) => n > 1).length,
    executions: executions.length,
    durationMs: Date.now() - started,
  }
}

/** Checks the invariants; returns one message per violation. */
function verify(view: DbView, executions: Execution[], kills: Kill[], runs: number): string[] {
  const violations: string[] = []
  const killOf = new Map(kills.map((kill) => [kill.pid, kill]))

  const runRows = view.runs()
  if (runRows.length !== runs) violations.push(`${runRows.length} runs in the file, expected ${runs}`)
  for (const run of runRows) {
    if (run.status !== 'completed' || run.lease_id !== null) violations.push(`run ${run.key} is ${run.status} with lease ${run.lease_id}`)
  }

  // Takeovers are on record: each one an interrupted attempt of the step the run was at, numbered
  // 1, 2, … per step; nothing in the chaos run fails.
  const interruptions = new Map<string, number>()
  for (const a of view.attempts()) {
    const id = `${a.key} ${a.step_name}`
    const n = (interruptions.get(id) ?? 0) + 1
    interruptions.set(id, n)
    if (a.status !== 'interrupted' || a.attempt !== n) violations.push(`${id} has attempt record ${a.attempt} ${a.status}, expected ${n} interrupted`)
  }

  const byStep = new Map<string, Execution[]>()
  for (const e of executions) byStep.set(`${e.key} ${e.step}`, [...(byStep.get(`${e.key} ${e.step}`) ?? []), e])

  // Every step recorded exactly once: the three of them, in order, never overwritten, each as the
  // attempt after its interruptions.
  const stepsByKey = new Map<string, ReturnType<DbView['steps']>>()
  for (const row of view.steps()) stepsByKey.set(row.key, [...(stepsByKey.get(row.key) ?? []), row])
  for (const run of runRows) {
    const rows = stepsByKey.get(run.key) ?? []
    const shape = rows.map((r) => `${r.name}#${r.seq}:${r.status}x${r.attempts}`).join(' ')
    const expected = CHAOS_STEPS.map((name, i) => `${name}#${i + 1}:completedx${1 + (interruptions.get(`${run.key} ${name}`) ?? 0)}`).join(' ')
    if (shape !== expected) violations.push(`run ${run.key} has steps [${shape}], expected [${expected}]`)
    // A step that ran more often than its attempts count was re-executed without a takeover on record.
    for (const r of rows) {
      const ran = byStep.get(`${run.key} ${r.name}`)?.length ?? 0
      if (ran > r.attempts) violations.push(`${run.key} ${r.name} executed ${ran} times but records ${r.attempts} attempts`)
    }
  }

  for (const e of executions) {
    const kill = killOf.get(e.pid)
    if (kill && e.startedAt > kill.exitedAt) violations.push(`${e.key} ${e.step} started in pid ${e.pid} after it was dead`)
  }

  for (const [key, rows] of stepsByKey) {
    for (const [index, row] of rows.entries()) {
      const id = `${key} ${row.name}`
      const runsOfStep = byStep.get(id) ?? []
      if (runsOfStep.length === 0 || runsOfStep.length > 2) {
        violations.push(`${id} executed ${runsOfStep.length} times: ${describeAll(runsOfStep)}`)
      }
      // Never two live executions: each re-execution starts after the previous executor died.
      const overlapping = runsOfStep.slice(1).some((e, i) => {
        const kill = killOf.get(runsOfStep[i]!.pid)
        return !kill || e.startedAt < kill.sentAt
      })
      if (overlapping) violations.push(`${id} re-executed while its previous executor was alive: ${describeAll(runsOfStep)}`)
      // Nothing starts a step once it is recorded, and the recorded result is the latest execution's.
      const late = runsOfStep.filter((e) => e.startedAt > row.updated_at_ms)
      if (late.length > 0) violations.push(`${id} started after it was recorded at ${row.updated_at_ms}: ${describeAll(late)}`)
      const output = JSON.parse(row.output_json ?? 'null') as StepOutput | null
      const last = runsOfStep.at(-1)
      if (!last || output?.pid !== last.pid || output.startedAt !== last.startedAt) {
        violations.push(`${id} recorded ${JSON.stringify(output)}, not its latest execution ${last ? describeAll([last]) : '(none)'}`)
      } else if (row.created_at_ms > last.startedAt || last.startedAt > row.updated_at_ms) {
        // The row's times bracket the execution it records: nothing older overwrote it.
        violations.push(`${id} recorded at ${row.created_at_ms}..${row.updated_at_ms}, outside its execution ${describeAll([last])}`)
      }
      // A step starts only once the step before it is recorded.
      const previous = rows[index - 1]
      if (previous) {
        const early = runsOfStep.filter((e) => e.startedAt < previous.updated_at_ms)
        if (early.length > 0) violations.push(`${id} started before ${previous.name} was recorded at ${previous.updated_at_ms}: ${describeAll(early)}`)
      }
    }
  }
  for (const id of byStep.keys()) {
    const [key, step] = id.split(' ')
    if (!stepsByKey.get(key!)?.some((row) => row.name === step)) violations.push(`${id} was executed but never recorded`)
  }
  return violations
}

function describeAll(executions: Execution[]): string {
  return executions.map((e) => `pid ${e.pid} at ${e.startedAt}`).join(', ')
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>()
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1)
  return counts
}
