/**
 * The parent side of the crash tests: real worker processes (`bun <fixture>.ts`), their stdout
 * markers, and direct reads of the SQLite file and the side-effect log for the verdicts.
 *
 * Nothing here waits by sleeping: a test waits for a marker line, for a process to exit, or for a
 * condition on the database file to hold (checked repeatedly until a deadline that only turns a
 * hang into a failure).
 */

import { Database } from 'bun:sqlite'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { createEngine, type AnyWorkflow } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'

export const FIXTURES = join(import.meta.dir, 'fixtures')

/** A temporary directory holding one test's database and side-effect log. */
export function scratch(prefix: string): { dir: string; dbPath: string; logPath: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `reflow-${prefix}-`))
  return {
    dir,
    dbPath: join(dir, 'reflow.db'),
    logPath: join(dir, 'side-effects.log'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}

export interface Exit {
  code: number | null
  signal: string | null
}

type Waiter = { match: (line: string) => boolean; resolve: (line: string) => void }

/** One worker process: its markers as they arrive, a way to wait for one, and its stdin. */
export class Worker {
  readonly lines: string[] = []
  readonly exited: Promise<Exit>
  private stderrText = ''
  private waiters: Waiter[] = []
  private ended = false

  private constructor(readonly name: string, private readonly proc: Subprocess<'pipe', 'pipe', 'pipe'>) {
    const stdout = this.read(proc.stdout, (line) => this.receive(line))
    const stderr = this.read(proc.stderr, (line) => (this.stderrText += `${line}\n`))
    this.exited = Promise.all([proc.exited, stdout, stderr]).then(() => {
      this.ended = true
      for (const waiter of this.waiters.splice(0)) waiter.resolve('')
      return { code: proc.exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode) }
    })
  }

  static spawn(name: string, script: string, args: readonly string[], env: Record<string, string> = {}): Worker {
    return Worker.command(name, [process.execPath, join(FIXTURES, script), ...args], env)
  }

  /** Any command line as a worker (a fixture under `node`, say). */
  static command(name: string, argv: readonly string[], env: Record<string, string> = {}): Worker {
    const proc = Bun.spawn([...argv], {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      env: { ...process.env, ...env },
    })
    const worker = new Worker(name, proc)
    live.add(worker)
    void worker.exited.then(() => live.delete(worker))
    return worker
  }

  get pid(): number {
    return this.proc.pid
  }

  get stderr(): string {
    return this.stderrText
  }

  /** Markers whose line starts with `prefix`. */
  marked(prefix: string): string[] {
    return this.lines.filter((line) => line.startsWith(prefix))
  }

  /**
   * Resolves with the first marker (already printed or still to come) starting with `prefix`;
   * fails if the process ends without printing it.
   */
  async waitFor(prefix: string, deadlineMs = 15_000): Promise<string> {
    const match = (line: string) => line.startsWith(prefix)
    const seen = this.lines.find(match)
    if (seen !== undefined) return seen
    let timer: ReturnType<typeof setTimeout> | undefined
    const line = await Promise.race([
      this.ended ? Promise.resolve('') : new Promise<string>((resolve) => this.waiters.push({ match, resolve })),
      new Promise<string>((resolve) => (timer = setTimeout(() => resolve(''), deadlineMs))),
    ])
    clearTimeout(timer)
    if (line === '') throw new Error(`${this.name} (pid ${this.pid}) never printed "${prefix}"\n${this.describe()}`)
    return line
  }

  send(command: string): void {
    this.proc.stdin.write(`${command}\n`)
    this.proc.stdin.flush()
  }

  signal(signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): void {
    this.proc.kill(signal)
  }

  /** What the process printed, for failure messages. */
  describe(): string {
    return `--- ${this.name} stdout:\n${this.lines.join('\n')}\n--- ${this.name} stderr:\n${this.stderrText}`
  }

  private receive(line: string): void {
    this.lines.push(line)
    for (const waiter of this.waiters.filter((w) => w.match(line))) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1)
      waiter.resolve(line)
    }
  }

  private async read(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
    const decoder = new TextDecoder()
    let buffered = ''
    for await (const chunk of stream) {
      buffered += decoder.decode(chunk, { stream: true })
      let newline: number
      while ((newline = buffered.indexOf('\n')) >= 0) {
        onLine(buffered.slice(0, newline))
        buffered = buffered.slice(newline + 1)
      }
    }
    if (buffered) onLine(buffered)
  }
}

const live = new Set<Worker>()

/** SIGKILLs every worker this process started that is still alive (test cleanup). */
export async function killLiveWorkers(): Promise<void> {
  const workers = [...live]
  for (const worker of workers) worker.signal('SIGKILL')
  await Promise.all(workers.map((worker) => worker.exited))
}

/**
 * The scheduler state of a process from /proc (`R`, `S`, `T` for stopped, ...), or null where
 * there is no /proc (not Linux) or the process is gone.
 */
export function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null
  } catch {
    return null
  }
}

/** Resolves once `condition` holds, checking every few milliseconds; fails after `deadlineMs`. */
export async function until(condition: () => boolean, what: string, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for: ${what}`)
    await Bun.sleep(5)
  }
}

/**
 * Enqueues one run per key, through a real engine on its own connection (never started: this
 * process executes nothing), with the key as input and idempotency key. Returns the run ids.
 */
export async function enqueue(dbPath: string, workflow: AnyWorkflow, keys: readonly string[]): Promise<string[]> {
  const storage = new SQLiteStorage(dbPath)
  try {
    const engine = createEngine({ storage, workflows: [workflow] })
    const runs = await Promise.all(keys.map((key) => engine.enqueue(workflow.name, { key }, { idempotencyKey: key })))
    return runs.map((run) => run.id)
  } finally {
    storage.close()
  }
}

// The side-effect log.

export interface Execution {
  key: string
  step: string
  pid: number
  startedAt: number
  /** The execution was going to throw (a deliberate failure the step's retry policy retries). */
  failing: boolean
}

/** Every step execution recorded in the side-effect log, in the order they started. */
export function readExecutions(logPath: string): Execution[] {
  if (!existsSync(logPath)) return []
  return readFileSync(logPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [key, step, pid, startedAt, note] = line.split(' ')
      return { key: key!, step: step!, pid: Number(pid), startedAt: Number(startedAt), failing: note === 'fail' }
    })
}

// The database, read with bun:sqlite directly (never through the code under test).

export interface RunRow {
  id: string
  key: string
  status: string
  lease_id: string | null
  heartbeat_at_ms: number | null
  /** Pending: when due; running: when its lease expires. */
  available_at_ms: number | null
  updated_at_ms: number
  finished_at_ms: number | null
}

export interface StepRow {
  run_id: string
  key: string
  name: string
  status: string
  output_json: string | null
  attempts: number
  seq: number
  created_at_ms: number
  updated_at_ms: number
}

export interface AttemptRow {
  run_id: string
  key: string
  step_name: string
  attempt: number
  status: string
}

/**
 * A read-only view of the database file. Read-only, so that inspecting a crashed worker's file
 * neither checkpoints nor otherwise changes what the next worker recovers from.
 */
export class DbView {
  private readonly db: Database

  constructor(dbPath: string) {
    this.db = new Database(dbPath, { readonly: true })
  }

  runs(): RunRow[] {
    return this.db
      .query<RunRow, []>(
        'select id, idempotency_key as key, status, lease_id, heartbeat_at_ms, available_at_ms, updated_at_ms, finished_at_ms from reflow_runs order by created_at_ms, rowid',
      )
      .all()
  }

  run(runId: string): RunRow | null {
    return this.runs().find((run) => run.id === runId) ?? null
  }

  steps(runId?: string): StepRow[] {
    const rows = this.db
      .query<StepRow, []>(
        `select s.run_id, r.idempotency_key as key, s.name, s.status, s.output_json, s.attempts, s.seq, s.created_at_ms, s.updated_at_ms
         from reflow_steps s join reflow_runs r on r.id = s.run_id order by s.run_id, s.seq`,
      )
      .all()
    return runId === undefined ? rows : rows.filter((row) => row.run_id === runId)
  }

  /** Failed and interrupted attempts, oldest first. */
  attempts(runId?: string): AttemptRow[] {
    const rows = this.db
      .query<AttemptRow, []>(
        `select a.run_id, r.idempotency_key as key, a.step_name, a.attempt, a.status
         from reflow_attempts a join reflow_runs r on r.id = a.run_id order by a.id`,
      )
      .all()
    return runId === undefined ? rows : rows.filter((row) => row.run_id === runId)
  }

  count(sql: string): number {
    return Number(this.db.query<{ n: number }, []>(sql).get()?.n ?? 0)
  }

  close(): void {
    this.db.close()
  }
}

/** Reads the file once and closes it again. */
export function inspect<T>(dbPath: string, read: (view: DbView) => T): T {
  const view = new DbView(dbPath)
  try {
    return read(view)
  } finally {
    view.close()
  }
}
