/**
 * The chaos run, shared by chaos.test.ts (CI size, SQLite), chaos-postgres.test.ts (Postgres, Bun
 * and Node workers) and scripts/chaos.ts (any size).
 *
 * Several worker processes execute multi-step runs from one database while new runs keep arriving
 * and the parent SIGKILLs one of the workers at a random moment, starts a replacement, and repeats.
 * The victim is preferably a worker caught inside a step (read from the log and the database), so
 * kills interrupt work rather than idle processes. What the database is, how workers start and
 * what the workflow looks like (plain steps, a retried step, a sleep) is the backend's: see
 * ChaosBackend; sqliteChaos() is the SQLite one.
 *
 * Kills are spaced so that no step can be interrupted twice: after a kill, the next one waits until
 * every step the victim had started is recorded (by whoever reclaimed its runs). So at most two
 * executions per step, beyond its deliberate failures, is a guarantee of the design, and one more
 * is a bug.
 *
 * The verdict is a list of violations (empty when all holds), computed from the database and the
 * side-effect log alone.
 */

import { createEngine, type AnyWorkflow } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import type { StorageAdapter } from '../../src/storage/adapter.ts'
import { CHAOS_LEASE_MS, CHAOS_STEPS, chaosWorkflow, neverExecuted, type StepOutput } from './fixtures/child.ts'
import { DbView, readExecutions, Worker, type AttemptRow, type Execution, type RunRow, type StepRow } from './harness.ts'

const MAX_REPORTED = 40
/** Stored times may round up to the next millisecond (Postgres keeps microseconds). */
const ROUNDING_MS = 1

/** One step of the chaos workflow, in order: a handler that logs each execution, or a sleep. */
export interface ChaosStep {
  name: string
  kind: 'run' | 'sleep'
}

/** Everything the verdict reads from the database. */
export interface ChaosRecords {
  runs: RunRow[]
  steps: StepRow[]
  /** Failed and interrupted attempts, oldest first. */
  attempts: AttemptRow[]
}

/** A database and the workers that share it. */
export interface ChaosBackend {
  /** Storage for the parent's engine, which only enqueues. */
  storage: StorageAdapter
  /** The workflow the runs are enqueued into (its steps never execute in the parent). */
  workflow: AnyWorkflow
  steps: readonly ChaosStep[]
  /** How long a worker's lease lasts: the pace of the kill loop. */
  leaseMs: number
  /** The sleep step's duration: a step after it starts no earlier than this after the step before it started. */
  sleepMs?: number
  /** The retry delay after a deliberate failure: the retry starts no earlier than this after the failing execution. */
  retryDelayMs?: number
  /**
   * Whether the database stamps steps with exactly the times the worker measured (SQLite), so a
   * recorded step's times must bracket its execution; on Postgres's clock they are translated.
   */
  exactTimes: boolean
  /** Starts the `index`-th worker (from 1): it prints `ready`, and stops and exits 0 on `stop`. */
  spawn(index: number): Worker
  /** `key name` of every recorded step. */
  recordedSteps(): Promise<Set<string>>
  /** Attempts recorded as failed, as `key name`: the deliberate failures. */
  failedSteps(): Promise<Set<string>>
  completedRuns(): Promise<number>
  records(): Promise<ChaosRecords>
  close(): Promise<void>
}

export interface ChaosOptions {
  /** The SQLite file (the backend is then sqliteChaos), unless a backend is given. */
  dbPath?: string
  backend?: ChaosBackend
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
  /** Steps executed again beyond their deliberate failures: the kills that really interrupted work. */
  reexecutedSteps: number
  /** Attempts recorded as failed (and retried). */
  failedAttempts: number
  executions: number
  durationMs: number
}

/** The three-step SQLite chaos: `bun chaos-worker.ts <dbPath> <logPath>` workers on one file. */
export function sqliteChaos(dbPath: string, logPath: string): ChaosBackend {
  const storage = new SQLiteStorage(dbPath)
  let view: DbView | undefined
  const open = () => (view ??= new DbView(dbPath))
  return {
    storage,
    workflow: chaosWorkflow(neverExecuted),
    steps: CHAOS_STEPS.map((name) => ({ name, kind: 'run' })),
    leaseMs: CHAOS_LEASE_MS,
    exactTimes: true,
    spawn: (index) => Worker.spawn(`chaos worker ${index}`, 'chaos-worker.ts', [dbPath, logPath]),
    recordedSteps: async () => new Set(open().steps().map((row) => `${row.key} ${row.name}`)),
    failedSteps: async () => new Set(open().attempts().filter((a) => a.status === 'failed').map((a) => `${a.key} ${a.step_name}`)),
    completedRuns: async () => open().count(`select count(*) as n from reflow_runs where status = 'completed'`),
    records: async () => ({ runs: open().runs(), steps: open().steps(), attempts: open().attempts() }),
    close: async () => {
      view?.close()
      storage.close()
    },
  }
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const { logPath, runs, workers: workerCount, kills: killCount } = options
  if (!options.backend && !options.dbPath) throw new Error('runChaos needs a dbPath or a backend')
  const backend = options.backend ?? sqliteChaos(options.dbPath!, logPath)
  const say = options.progress ?? (() => {})
  const started = Date.now()
  const violations: string[] = []
  const workflow = backend.workflow
  const engine = createEngine({ storage: backend.storage, workflows: [workflow] })
  await backend.storage.initialize()

  const keys = Array.from({ length: runs }, (_, i) => `c${String(i).padStart(5, '0')}`)
  // Runs arrive at a steady pace spread over the expected length of the kill loop (each kill costs
  // about a lease before its quiet period ends), so work is flowing whenever a kill comes.
  const gapMs = (killCount * (backend.leaseMs + 300)) / runs
  let enqueued = 0
  let hurry = false
  const feed = async () => {
    while (enqueued < runs) {
      const key = keys[enqueued++]!
      await engine.enqueue(workflow.name, { key }, { idempotencyKey: key })
      if (!hurry) await Bun.sleep(gapMs)
    }
  }

  let spawned = 0
  const everyWorker: Worker[] = []
  const spawn = () => {
    const worker = backend.spawn(++spawned)
    everyWorker.push(worker)
    return worker
  }
  const workers = Array.from({ length: workerCount }, spawn)
  /**
   * Steps each process has started and not recorded, by pid. A deliberately failing execution
   * whose failure is on record is over, not in flight.
   */
  const inFlight = async () => {
    const [recorded, failed] = await Promise.all([backend.recordedSteps(), backend.failedSteps()])
    const byPid = new Map<number, string[]>()
    for (const e of readExecutions(logPath)) {
      const id = `${e.key} ${e.step}`
      if (recorded.has(id) || (e.failing && failed.has(id))) continue
      byPid.set(e.pid, [...(byPid.get(e.pid) ?? []), id])
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
        const running = await inFlight()
        busy = workers.filter((worker) => running.has(worker.pid))
      }
      const pool = busy.length > 0 ? busy : workers
      const victim = pool[Math.floor(Math.random() * pool.length)]!
      const sentAt = Date.now()
      victim.signal('SIGKILL')
      const exit = await victim.exited
      const exitedAt = Date.now()
      if (exit.signal !== 'SIGKILL') violations.push(`${victim.name} ended with ${JSON.stringify(exit)}, not by SIGKILL\n${victim.describe()}`)
      const interrupted = (await inFlight()).get(victim.pid) ?? []
      kills.push({ pid: victim.pid, sentAt, exitedAt, interrupted })
      workers[workers.indexOf(victim)] = spawn()
      say(`kill ${k + 1}/${killCount}: ${victim.name} (pid ${victim.pid}), ${interrupted.length} step(s) interrupted, ${enqueued}/${runs} runs enqueued`)
      // The quiet period: the victim's unfinished steps are re-executed and recorded before the next kill.
      await untilAsync(async () => {
        const recorded = await backend.recordedSteps()
        return interrupted.every((step) => recorded.has(step))
      }, `the steps pid ${victim.pid} was running when killed to be recorded: ${interrupted.join(', ')}`)
    }
    hurry = true
    await feeding
    await untilAsync(async () => (await backend.completedRuns()) === runs, `all ${runs} runs to complete`, 30_000)
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
  const records = await backend.records()
  await backend.close()
  const found = verify(backend, records, executions, kills, runs)
  violations.push(...found.slice(0, MAX_REPORTED))
  if (found.length > MAX_REPORTED) violations.push(`... and ${found.length - MAX_REPORTED} more violations`)

  const perStep = countBy(executions, (e) => `${e.key} ${e.step}`)
  const failuresOf = countBy(records.attempts.filter((a) => a.status === 'failed'), (a) => `${a.key} ${a.step_name}`)
  return {
    violations,
    kills,
    reexecutedSteps: [...perStep].filter(([id, n]) => n > 1 + (failuresOf.get(id) ?? 0)).length,
    failedAttempts: [...failuresOf.values()].reduce((a, b) => a + b, 0),
    executions: executions.length,
    durationMs: Date.now() - started,
  }
}

/** Checks the invariants; returns one message per violation. */
function verify(backend: ChaosBackend, records: ChaosRecords, executions: Execution[], kills: Kill[], runs: number): string[] {
  const violations: string[] = []
  const killOf = new Map(kills.map((kill) => [kill.pid, kill]))
  const kindOf = new Map(backend.steps.map((step) => [step.name, step.kind]))

  const runRows = records.runs
  if (runRows.length !== runs) violations.push(`${runRows.length} runs in the database, expected ${runs}`)
  for (const run of runRows) {
    if (run.status !== 'completed' || run.lease_id !== null) violations.push(`run ${run.key} is ${run.status} with lease ${run.lease_id}`)
  }

  // Takeovers and deliberate failures are on record: each one an attempt of the step the run was
  // at, numbered 1, 2, … per step; a failure only where a failing execution is in the log.
  const attemptRecords = new Map<string, number>()
  const failures = new Map<string, number>()
  const failingExecutions = countBy(executions.filter((e) => e.failing), (e) => `${e.key} ${e.step}`)
  for (const a of records.attempts) {
    const id = `${a.key} ${a.step_name}`
    const n = (attemptRecords.get(id) ?? 0) + 1
    attemptRecords.set(id, n)
    if (a.status === 'failed') failures.set(id, (failures.get(id) ?? 0) + 1)
    const expected = a.status === 'failed' ? 'failed or interrupted' : 'interrupted'
    if ((a.status !== 'interrupted' && a.status !== 'failed') || a.attempt !== n) {
      violations.push(`${id} has attempt record ${a.attempt} ${a.status}, expected ${n} ${expected}`)
    }
  }
  for (const [id, n] of failures) {
    if (n > (failingExecutions.get(id) ?? 0)) violations.push(`${id} has ${n} failed attempts on record but ${failingExecutions.get(id) ?? 0} failing executions`)
  }

  const byStep = new Map<string, Execution[]>()
  for (const e of executions) byStep.set(`${e.key} ${e.step}`, [...(byStep.get(`${e.key} ${e.step}`) ?? []), e])

  // Every step recorded exactly once: all of them, in order, never overwritten, each as the
  // attempt after its interruptions and failures (a sleep records one attempt, however it resumed).
  const stepsByKey = new Map<string, StepRow[]>()
  for (const row of records.steps) stepsByKey.set(row.key, [...(stepsByKey.get(row.key) ?? []), row])
  for (const run of runRows) {
    const rows = stepsByKey.get(run.key) ?? []
    const shape = rows.map((r) => `${r.name}#${r.seq}:${r.status}x${r.attempts}`).join(' ')
    const expected = backend.steps
      .map(({ name, kind }, i) => `${name}#${i + 1}:completedx${kind === 'sleep' ? 1 : 1 + (attemptRecords.get(`${run.key} ${name}`) ?? 0)}`)
      .join(' ')
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
      const previous = rows[index - 1]
      if (kindOf.get(row.name) === 'sleep') {
        if (runsOfStep.length > 0) violations.push(`${id} is a sleep, yet it executed: ${describeAll(runsOfStep)}`)
        continue
      }
      const failed = failures.get(id) ?? 0
      if (runsOfStep.length === 0 || runsOfStep.length > 2 + failed) {
        violations.push(`${id} executed ${runsOfStep.length} times with ${failed} failure(s): ${describeAll(runsOfStep)}`)
      }
      // Never two live executions: each re-execution starts after the previous executor died, or
      // after the previous execution failed and the retry delay passed.
      for (const [i, e] of runsOfStep.slice(1).entries()) {
        const before = runsOfStep[i]!
        const kill = killOf.get(before.pid)
        const killedFirst = kill !== undefined && e.startedAt >= kill.sentAt
        if (before.failing && backend.retryDelayMs !== undefined && e.startedAt < before.startedAt + backend.retryDelayMs - ROUNDING_MS) {
          violations.push(`${id} retried ${e.startedAt - before.startedAt} ms after its failing execution, before the ${backend.retryDelayMs} ms retry delay: ${describeAll([before, e])}`)
        } else if (!killedFirst && !before.failing) {
          violations.push(`${id} re-executed while its previous executor was alive: ${describeAll(runsOfStep)}`)
        }
      }
      // Nothing starts a step once it is recorded, and the recorded result is the latest execution's.
      const late = runsOfStep.filter((e) => e.startedAt > row.updated_at_ms)
      if (late.length > 0) violations.push(`${id} started after it was recorded at ${row.updated_at_ms}: ${describeAll(late)}`)
      const output = JSON.parse(row.output_json ?? 'null') as StepOutput | null
      const last = runsOfStep.at(-1)
      if (!last || output?.pid !== last.pid || output.startedAt !== last.startedAt) {
        violations.push(`${id} recorded ${JSON.stringify(output)}, not its latest execution ${last ? describeAll([last]) : '(none)'}`)
      } else if (backend.exactTimes && (row.created_at_ms > last.startedAt || last.startedAt > row.updated_at_ms)) {
        // The row's times bracket the execution it records: nothing older overwrote it.
        violations.push(`${id} recorded at ${row.created_at_ms}..${row.updated_at_ms}, outside its execution ${describeAll([last])}`)
      }
      if (!previous) continue
      // A step starts only once the step before it is recorded.
      const early = runsOfStep.filter((e) => e.startedAt < previous.updated_at_ms - ROUNDING_MS)
      if (early.length > 0) violations.push(`${id} started before ${previous.name} was recorded at ${previous.updated_at_ms}: ${describeAll(early)}`)
      // A step after a sleep starts no earlier than the sleep's length after the step before the sleep started.
      const beforeSleep = rows[index - 2]
      if (kindOf.get(previous.name) === 'sleep' && beforeSleep && backend.sleepMs !== undefined) {
        const slept = byStep.get(`${key} ${beforeSleep.name}`)?.at(-1)
        const woke = slept && runsOfStep.filter((e) => e.startedAt < slept.startedAt + backend.sleepMs! - ROUNDING_MS)
        if (woke && woke.length > 0) {
          violations.push(`${id} started within ${backend.sleepMs} ms of ${beforeSleep.name} (${describeAll([slept])}), before ${previous.name} ended: ${describeAll(woke)}`)
        }
      }
    }
  }
  for (const id of byStep.keys()) {
    const [key, step] = id.split(' ')
    if (!stepsByKey.get(key!)?.some((row) => row.name === step)) violations.push(`${id} was executed but never recorded`)
  }
  return violations
}

/** `until` for a condition that must query the database. */
async function untilAsync(condition: () => Promise<boolean>, what: string, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for: ${what}`)
    await Bun.sleep(5)
  }
}

function describeAll(executions: Execution[]): string {
  return executions.map((e) => `pid ${e.pid} at ${e.startedAt}${e.failing ? ' (failing)' : ''}`).join(', ')
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>()
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1)
  return counts
}
