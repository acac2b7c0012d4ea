/**
 * defineEvent: a named event with a payload schema. Workflows wait for it (`.waitForEvent`), and
 * `engine.emit` sends it, validated by the schema, to every run waiting on its name and key.
 */

import type { Stored } from '../core/codec.ts'
import { assertWellFormed } from '../core/identifiers.ts'
import { InvalidArgumentError } from '../core/errors.ts'
import { validateInput, type StandardSchemaV1 } from './schema.ts'

export interface EventDefinition<TName extends string = string, TSchema extends StandardSchemaV1 = StandardSchemaV1> {
  /** The event's name, shared by emitters and waiters. */
  readonly name: TName
  /** The payload schema (any Standard Schema). */
  readonly schema: TSchema
  /** Validates a payload; resolves to the parsed value or rejects with ValidationError. */
  parsePayload(payload: unknown): Promise<StandardSchemaV1.InferOutput<TSchema>>
}

/** What a waiting step receives: the payload as the schema parsed it, after a trip through storage. */
export type EventPayload<E> = E extends EventDefinition<string, infer S> ? Stored<StandardSchemaV1.InferOutput<S>> : never

/** What `emit` accepts as the payload: the schema's input type. */
export type EventPayloadInput<E> = E extends EventDefinition<string, infer S> ? StandardSchemaV1.InferInput<S> : never

/**
 * Defines an event.
 *
 * @example
 * const approved = defineEvent('expense.approved', z.object({ by: z.string() }))
 * await engine.emit(approved, { key: 'e-1', payload: { by: 'ada' } })
 */
export function defineEvent<const TName extends string, TSchema extends StandardSchemaV1>(name: TName, schema: TSchema): EventDefinition<TName, TSchema> {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new InvalidArgumentError(`defineEvent: name must be a non-empty string, got ${JSON.stringify(name)}`)
  }
  assertWellFormed('Event name', name)
  if (typeof schema?.['~standard']?.validate !== 'function') {
    throw new InvalidArgumentError(`defineEvent("${name}"): the payload schema must be a Standard Schema (zod, valibot, arktype, ...)`)
  }
  return Object.freeze({
    name,
    schema,
    parsePayload: (payload: unknown) => validateInput(name, schema, payload, `payload for event "${name}"`),
  })
}
