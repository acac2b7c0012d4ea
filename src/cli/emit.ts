/**
 * `reflow emit EVENT KEY JSON`: stores an event and, in the same transaction, makes every run waiting
 * for EVENT with KEY due at once (a running worker resumes them; a run that reaches its wait later
 * receives the event too). With --workflows FILE.ts the event's definition is found in that module
 * (a wait step of an exported workflow, or an exported defineEvent value) and the payload is
 * validated with its schema first: nothing is written when it fails. Without it, the JSON is stored
 * as it is, and stderr says it was not validated. With --idempotency-key, emitting the same key and
 * payload again stores nothing and reports the first event; another payload fails (exit 1).
 *
 * Human output: one line on stdout naming the event id. --json prints:
 *   { eventId: number, event: string, key: string, created: boolean, validated: boolean }
 * `created` is false when the idempotency key had already been used (the first event's id then);
 * `validated` says whether the payload went through the event's schema (--workflows).
 */

import { createEngine } from '../engine/engine.ts'
import { assertWellFormed } from '../core/identifiers.ts'
import { deserialize, serialize, storedEqual } from '../core/json.ts'
import { STORE } from '../storage/store.ts'
import type { EventDefinition } from '../workflow/event.ts'
import { CliError, type ParsedArgs } from './args.ts'
import type { Command } from './command.ts'
import { DB_FLAG, JSON_FLAG, databasePath, openWritable, refuseNonRegularFile } from './database.ts'
import { printable } from './output.ts'
import { IMPORT_TIMEOUT_FLAG, loadModule, workflowsOf } from './workflow-module.ts'

export const emitCommand: Command = {
  name: 'emit',
  summary: 'Store an event and wake the runs waiting for it.',
  usage: 'reflow emit EVENT KEY JSON [--workflows FILE.ts] [--idempotency-key K] [--import-timeout MS] [--db PATH] [--json]',
  details: `EVENT is the event's name (defineEvent), KEY the key the waiting runs computed, JSON the payload
(quote it for your shell: '{"by":"ada"}'). Every run waiting for EVENT with KEY is woken at once,
and a run that reaches such a wait later receives the event too. With --workflows, the payload is
validated with the event's schema, found in FILE.ts (a waitForEvent step of an exported workflow,
or an exported defineEvent value); without it the payload is stored unvalidated. Creates the
database if it does not exist.`,
  flags: {
    workflows: { type: 'string', value: 'FILE.ts', description: 'validate the payload with the event schema found in this module' },
    'idempotency-key': { type: 'string', value: 'K', description: 'at most one event per key and name: repeating stores nothing' },
    ...IMPORT_TIMEOUT_FLAG,
    ...DB_FLAG,
    ...JSON_FLAG,
  },
  positionals: { min: 3, max: 3, names: 'EVENT KEY JSON' },

  async run(args, out) {
    const [name, key, json] = args.positionals as [string, string, string]
    if (name === '') throw args.usageError('EVENT must not be empty')
    if (key === '') throw args.usageError('KEY must not be empty')
    assertWellFormed('Event name', name)
    assertWellFormed('Event key', key)
    let payload: unknown
    try {
      payload = JSON.parse(json)
    } catch (error) {
      throw args.usageError(`JSON is not valid JSON: ${(error as Error).message}`)
    }
    const idempotencyKey = args.string('idempotency-key')
    if (idempotencyKey === '') throw args.usageError('--idempotency-key must not be empty')
    if (idempotencyKey !== undefined) assertWellFormed('--idempotency-key', idempotencyKey)
    const dbPath = databasePath(args)
    refuseNonRegularFile(dbPath)
    const file = args.string('workflows')
    const definition = file === undefined ? undefined : await findEvent(file, name, args)

    const storage = await openWritable(dbPath, { create: true })
    try {
      let emitted: { eventId: number; created: boolean }
      if (definition) {
        const engine = createEngine({ storage, workflows: [] })
        emitted = await engine.emit(definition, { key, payload, ...(idempotencyKey !== undefined && { idempotencyKey }) })
      } else {
        out.note(`reflow: the payload of "${printable(name)}" was not validated (pass --workflows FILE.ts to check it with the event's schema)`)
        const payloadJson = serialize(payload, `Payload of event "${name}"`)
        const stored = await storage[STORE]().emit({ name, key, payloadJson, idempotencyKey: idempotencyKey ?? null, now: Date.now() })
        if (!stored.created && !storedEqual(deserialize(stored.payloadJson), payload)) {
          throw new CliError(`idempotency key "${idempotencyKey}" of event "${name}" was already used by event ${stored.id} with a different payload`)
        }
        emitted = { eventId: stored.id, created: stored.created }
      }
      if (args.boolean('json')) {
        out.json({ eventId: emitted.eventId, event: name, key, created: emitted.created, validated: definition !== undefined })
      } else if (emitted.created) {
        out.line(`event ${emitted.eventId} emitted: ${printable(name)} key ${printable(key)}`)
      } else {
        out.line(`event ${emitted.eventId} already emitted with idempotency key ${printable(idempotencyKey!)}: nothing stored`)
      }
      return 0
    } finally {
      await storage.close()
    }
  },
}

/** A value made by defineEvent(). */
function isEvent(value: unknown): value is EventDefinition {
  const candidate = value as Partial<EventDefinition> | null
  return typeof candidate === 'object' && candidate !== null && typeof candidate.name === 'string' &&
    typeof candidate.parsePayload === 'function' && candidate.schema?.['~standard'] !== undefined
}

/** The definition of event `name` in the module: from its workflows' wait steps or its own exports. */
async function findEvent(file: string, name: string, args: ParsedArgs): Promise<EventDefinition> {
  const module = await loadModule(file, args)
  const events = new Set<EventDefinition>()
  for (const workflow of workflowsOf(module)) for (const step of workflow.steps) if (step.kind === 'event') events.add(step.event)
  for (const value of Object.values(module)) if (isEvent(value)) events.add(value)
  const named = [...events].filter((e) => e.name === name)
  if (named.length === 0) {
    const known = [...new Set([...events].map((e) => `"${printable(e.name)}"`))].sort()
    const list = known.length === 0 ? 'it defines no events' : `its events: ${known.join(', ')}`
    throw new CliError(`${file} has no event "${printable(name)}" (${list})`)
  }
  if (new Set(named.map((e) => e.schema)).size > 1) {
    throw new CliError(`${file} defines event "${printable(name)}" more than once with different schemas: which one validates is ambiguous`)
  }
  return named[0]!
}
