/**
 * `reflow enqueue FILE.ts WORKFLOW JSON`: validates JSON with the workflow's own schema (loaded from
 * FILE.ts, as the worker loads it) and records a pending run. With --idempotency-key, enqueueing the
 * same key and input again returns the existing run; the same key with other input fails (exit 1).
 *
 * Human output: the run id on stdout. --json prints:
 *   { id: string, workflow: string, status: string, input: <stored value>, idempotencyKey: string|null,
 *     createdAt: number }   (the existing run's fields when the idempotency key was already used)
 * `input` is what the schema produced, as stored, in the tagged JSON form documented at the top of
 * output.ts: a schema that turns a string into a Date gives `{"~reflow:Date":"2026-11-30T10:00:00.000Z"}`.
 * With --wait, --json prints how the run ended instead:
 *   { id, status: "completed", output: <stored value> } | { id, status: "failed", stepName,
 *     error: { name, message } } | { id, status: "cancelled" }
 */

import { createEngine } from '../engine/engine.ts'
import { UnknownWorkflowError } from '../core/errors.ts'
import { assertWellFormed } from '../core/identifiers.ts'
import type { ParsedArgs } from './args.ts'
import type { Command } from './command.ts'
import { DB_FLAG, JSON_FLAG, databasePath, openWritable, refuseNonRegularFile } from './database.ts'
import { preview, printable, storedJson } from './output.ts'
import { parseDuration } from '../core/duration.ts'
import type { EnqueueOptions } from '../engine/engine.ts'
import { IMPORT_TIMEOUT_FLAG, loadWorkflows } from './workflow-module.ts'

export const enqueueCommand: Command = {
  name: 'enqueue',
  summary: 'Validate input with a workflow\'s schema and record a pending run.',
  usage:
    'reflow enqueue FILE.ts WORKFLOW JSON [--idempotency-key K] [--delay D] [--wait [--timeout D]] [--import-timeout MS] [--db PATH] [--json]',
  details: `FILE.ts is loaded as by \`reflow worker\`; WORKFLOW is one of the workflow names it exports; JSON is
the input (quote it for your shell: '{"email":"ada@example.com"}'). Prints the new run's id; a
running worker picks the run up (with --delay, not before that long: 500ms, 30s, 10m, 2h, 3d).
With --wait, waits until a worker has finished the run and prints how it ended (exit 1 unless it
completed). Creates the database if it does not exist.`,
  flags: {
    'idempotency-key': { type: 'string', value: 'K', description: 'at most one run per key: repeating returns the same run' },
    delay: { type: 'string', value: 'D', description: 'start the run this long from now (e.g. 10m)' },
    wait: { type: 'boolean', description: 'wait for the run to finish and print its result' },
    timeout: { type: 'string', value: 'D', description: 'with --wait: give up after this long (exit 1)' },
    ...IMPORT_TIMEOUT_FLAG,
    ...DB_FLAG,
    ...JSON_FLAG,
  },
  positionals: { min: 3, max: 3, names: 'FILE.ts WORKFLOW JSON' },

  async run(args, out) {
    const [file, name, json] = args.positionals as [string, string, string]
    let input: unknown
    try {
      input = JSON.parse(json)
    } catch (error) {
      throw args.usageError(`JSON is not valid JSON: ${(error as Error).message}`)
    }
    const delay = durationFlag(args, 'delay')
    const timeout = durationFlag(args, 'timeout')
    if (timeout !== undefined && !args.boolean('wait')) throw args.usageError('--timeout needs --wait')
    const key = args.string('idempotency-key')
    if (key === '') throw args.usageError('--idempotency-key must not be empty')
    if (key !== undefined) assertWellFormed('--idempotency-key', key)
    const dbPath = databasePath(args)
    refuseNonRegularFile(dbPath)
    const workflows = await loadWorkflows(file, args)
    if (!workflows.some((w) => w.name === name)) throw new UnknownWorkflowError(name, workflows.map((w) => w.name))
    const storage = await openWritable(dbPath, { create: true })
    try {
      const engine = createEngine({ storage, workflows })
      const enqueue = engine.enqueue as (name: string, input: unknown, options?: EnqueueOptions) => ReturnType<typeof engine.enqueue>
      const run = await enqueue(name, input, {
        ...(key !== undefined && { idempotencyKey: key }),
        ...(delay !== undefined && { delay }),
      })
      if (!args.boolean('wait')) {
        if (args.boolean('json')) {
          const { id, workflow, status, idempotencyKey, createdAt } = run
          out.json({ id, workflow, status, input: storedJson(run.input) ?? null, idempotencyKey, createdAt })
        } else {
          out.line(printable(run.id))
        }
        return 0
      }
      const result = await engine.result(run.id, timeout === undefined ? {} : { timeout })
      if (args.boolean('json')) {
        out.json(
          result.status === 'completed'
            ? { id: run.id, status: result.status, output: storedJson(result.output) ?? null }
            : result.status === 'failed'
              ? { id: run.id, status: result.status, stepName: result.stepName, error: { name: result.error.name, message: result.error.message } }
              : { id: run.id, status: result.status },
        )
      } else if (result.status === 'completed') {
        out.line(`${printable(run.id)} completed: ${preview(result.output, 200)}`)
      } else if (result.status === 'failed') {
        out.line(`${printable(run.id)} failed at step "${printable(result.stepName)}": ${printable(result.error.message)}`)
      } else {
        out.line(`${printable(run.id)} cancelled`)
      }
      return result.status === 'completed' ? 0 : 1
    } finally {
      await storage.close()
    }
  },
}

/** A duration flag (`--delay 10m`), checked as a usage error. */
function durationFlag(args: ParsedArgs, name: string): number | undefined {
  const value = args.string(name)
  if (value === undefined) return undefined
  try {
    return parseDuration(/^\d+(\.\d+)?$/.test(value) ? Number(value) : value, `--${name}`)
  } catch (error) {
    throw args.usageError((error as Error).message)
  }
}
