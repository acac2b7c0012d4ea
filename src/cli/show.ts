/**
 * `reflow show RUN_ID`: a run and its step timeline.
 *
 * --json prints:
 *   { run: { id, workflow, status, input, idempotencyKey: string|null, leaseId: string|null,
 *            leaseOwner: string|null, heartbeatAt: number|null, availableAt: number|null,
 *            currentStep: string|null, attempt: number, interruptions: number,
 *            wait: { kind: "sleep", step: string, until: number }
 *                | { kind: "event", step: string, event: string, key: string, timeoutAt: number|null } | null,
 *            schedule: { id: string, slotMs: number } | null,
 *            createdAt: number, updatedAt: number,
 *            startedAt: number|null, finishedAt: number|null, durationMs: number|null },
 *     steps: [{ seq: number, name, status: "completed"|"failed", attempts: number,
 *               output: <stored value, absent when undefined>, error: string|null,
 *               createdAt: number, updatedAt: number, durationMs: number }],
 *     attempts: [{ stepName, attempt: number, status: "failed"|"interrupted", startedAt: number|null,
 *                  endedAt: number, errorName, errorMessage, errorStack: string|null }] }
 * `availableAt` is when a pending run is due (after a retry backoff) or when a running run's
 * lease expires; `status` is one of pending, running, waiting, completed, failed, cancelled. `wait` is
what a waiting run waits for (a sleep until `until`; an event of that name and key, given up at
`timeoutAt` unless null); it stays set while the resumed run records that step. `attempt` counts failed attempts of `currentStep` so far. `attempts` lists every
 * failed and interrupted attempt, oldest first, including those before a retry. `schedule` names the
 * schedule that made the run and its slot (for `reflow schedules trigger`, the time of the trigger);
 * null for other runs and in databases older than schedules.
 * `input` and `output` are stored values in their tagged JSON form (documented at the top of
 * output.ts): plain JSON as it is, and a Date, Map, Set, BigInt... as an object with one key
 * `"~reflow:<Type>"`, e.g. `{"~reflow:Date":"2026-11-30T10:00:00.000Z"}`, `{"~reflow:Map":[["a",1]]}`;
 * `decode` in src/core/codec.ts reads it back into values. `input` is absent when the run has none.
 * Human output renders them readably instead: `Date(2026-11-30T10:00:00.000Z)`, `Map(1) {"a" => 1}`.
 * Outputs are never truncated in JSON. Times are epoch milliseconds. A step's createdAt is when its
 * first attempt started and updatedAt when its result was recorded; durationMs is the difference
 * (attempts and backoff included).
 */

import type { AttemptRecord, RunWait } from '../core/types.ts'
import type { RunView, StepView } from '../inspect/inspector.ts'
import { CliError, runIdArgument } from './args.ts'
import type { Command } from './command.ts'
import { DB_FLAG, JSON_FLAG, databasePath, openReadonly, databaseName } from './database.ts'
import { duration, preview, printable, storedJson, when, type Output } from './output.ts'

const PREVIEW_CHARS = 72

export const showCommand: Command = {
  name: 'show',
  summary: 'Show a run and its step timeline.',
  usage: 'reflow show RUN_ID [--full] [--db PATH] [--json]',
  details: `For each recorded step: its status, attempts, duration, and its output (cut to ${PREVIEW_CHARS}
characters unless --full) or error; then every failed or interrupted attempt with its error (and stack
with --full). Steps not yet reached are not listed. Opens the database read-only.`,
  flags: {
    full: { type: 'boolean', description: 'print input and outputs in full' },
    ...DB_FLAG,
    ...JSON_FLAG,
  },
  positionals: { min: 1, max: 1, names: 'RUN_ID' },

  async run(args, out) {
    const runId = runIdArgument(args)
    const { storage, inspector } = await openReadonly(databasePath(args))
    try {
      const found = await inspector.getRun(runId)
      if (!found) throw new CliError(`no run ${runId} in ${databaseName(storage)}`)
      const { run, steps } = found
      if (args.boolean('json')) {
        const stored = { ...run, input: storedJson(run.input) }
        out.json({ run: stored, steps: steps.map((step) => ({ ...step, output: storedJson(step.output) })), attempts: found.attempts })
      } else {
        print(run, steps, found.attempts, args.boolean('full'), Date.now(), out)
      }
      return 0
    } finally {
      await storage.close()
    }
  },
}

function print(
  run: RunView,
  steps: StepView[],
  attempts: AttemptRecord[],
  full: boolean,
  now: number,
  out: Output,
): void {
  const value = (v: unknown) => preview(v, full ? undefined : PREVIEW_CHARS)
  const fields: [string, string][] = [
    ['Workflow', printable(run.workflow)],
    ['Status', out.status(run.status)],
    ['Input', value(run.input)],
  ]
  if (run.idempotencyKey !== null) fields.push(['Key', printable(run.idempotencyKey)])
  if (run.schedule !== null) fields.push(['From', `schedule ${printable(run.schedule.id)}, slot ${new Date(run.schedule.slotMs).toISOString()}`])
  fields.push(['Created', when(run.createdAt, now)], ['Started', when(run.startedAt, now)])
  if (run.finishedAt !== null) {
    const took = run.durationMs === null ? '' : `, took ${duration(run.durationMs)}`
    fields.push(['Finished', `${when(run.finishedAt, now)}${took}`])
  }
  if (run.status === 'running') {
    const owner = run.leaseOwner === null ? '' : `, held by ${printable(run.leaseOwner)}`
    fields.push(['Lease', `${printable(run.leaseId ?? '-')}${owner}, last heartbeat ${run.heartbeatAt === null ? '-' : when(run.heartbeatAt, now)}`])
  }
  if (run.status === 'pending' && run.availableAt !== null && run.availableAt > now) {
    const step = printable(run.currentStep ?? '?')
    const failures = run.attempt === 0 ? '' : ` (step "${step}" after ${run.attempt} failed attempt${run.attempt === 1 ? '' : 's'})`
    fields.push(['Due', `${when(run.availableAt, now)}${failures}`])
  }
  if (run.status === 'waiting' && run.wait) fields.push(['Waits', describeWait(run.wait, run.availableAt, now)])
  out.line(`${out.bold('Run')} ${printable(run.id)}`)
  for (const [label, text] of fields) out.line(`  ${label.padEnd(9)}${indent(text, 11)}`)
  out.line()
  if (steps.length === 0) {
    out.line(out.dim('No steps recorded yet.'))
    return
  }
  out.line(out.bold('Steps'))
  const names = steps.map((s) => printable(s.name))
  const nameWidth = Math.max(...names.map((name) => name.length))
  for (const [i, step] of steps.entries()) {
    const attempts = `${step.attempts} attempt${step.attempts === 1 ? '' : 's'}`
    const took = duration(step.durationMs)
    const status = out.status(step.status) + ' '.repeat(Math.max(0, 9 - step.status.length))
    out.line(`  ${String(step.seq).padStart(2)}. ${names[i]!.padEnd(nameWidth)}  ${status}  ${attempts.padEnd(10)}  ${took}`)
    if (step.error !== null) out.line(`      error:  ${printable(step.error)}`)
    if (step.output !== undefined || step.status === 'completed') out.line(`      output: ${value(step.output)}`)
  }
  if (attempts.length === 0) return
  out.line()
  out.line(out.bold('Failed attempts'))
  for (const a of attempts) {
    out.line(`  ${printable(a.stepName)} #${a.attempt}  ${out.status(a.status)}  ${when(a.endedAt, now)}`)
    out.line(`      ${printable(a.errorName)}: ${printable(a.errorMessage)}`)
    if (full && a.errorStack) for (const line of a.errorStack.split('\n')) out.line(`      ${printable(line)}`)
  }
}

/** "for event expense.approved key e-1 until <time> (in 3d)", "sleeps until <time> (in 2h)", and the step. */
function describeWait(wait: RunWait, availableAt: number | null, now: number): string {
  const what = wait.kind === 'sleep'
    ? `sleeps until ${when(wait.until, now)}`
    : `for event ${printable(wait.event)} key ${printable(wait.key)} ${wait.timeoutAt === null ? '(no timeout)' : `until ${when(wait.timeoutAt, now)}`}`
  // An emit (or the time) made it due: a worker resumes it at its next claim.
  const due = availableAt !== null && availableAt <= now ? ', due now' : ''
  return `${what}, step "${printable(wait.step)}"${due}`
}

function indent(text: string, width: number): string {
  return text.replaceAll('\n', `\n${' '.repeat(width)}`)
}
