/**
 * The POSTs: cancel, retry (optionally from a step), emit, start. The server has already checked
 * the request's origin and CSRF token (auth.ts) and that the dashboard is not read-only. Each
 * answers with a redirect to the page that shows the result, or re-renders its form with the
 * problems. Starting a run goes through `createEngine({ storage, workflows }).enqueue` without
 * starting the engine, as `reflow enqueue` does, so the input passes the workflow's own schema.
 */

import { deserialize, serialize, storedEqual } from '../core/json.ts'
import { ValidationError } from '../core/errors.ts'
import { createEngine, type EnqueueOptions } from '../engine/engine.ts'
import type { StorageAdapter } from '../storage/adapter.ts'
import type { HasStore } from '../storage/store.ts'
import type { EventDefinition } from '../workflow/event.ts'
import type { ActionResult } from '../inspect/inspector.ts'
import {
  emitFormPage,
  emitReviewPage,
  startFormPage,
  startReviewPage,
  type EmitFields,
  type StartFields,
} from './pages/actions.ts'
import type { PageContext } from './pages/layout.ts'
import { pageReply, redirect, type Reply } from './reply.ts'

/** A built-in storage: the public adapter (for the engine) with its store (for the inspector). */
export type UiStorage = StorageAdapter & HasStore

export interface ActionContext extends PageContext {
  storage: UiStorage
}

const runUrl = (runId: string, params: Record<string, string>) =>
  `/runs/${encodeURIComponent(runId)}?${new URLSearchParams(params).toString()}`

function outcome(runId: string, result: ActionResult, done: Record<string, string>): Reply {
  if (result.ok) return redirect(runUrl(runId, done))
  if (result.reason === 'not-found') return redirect(runUrl(runId, { failed: 'not-found' }))
  return redirect(runUrl(runId, { failed: 'refused', status: result.status }))
}

export async function cancelAction(ctx: ActionContext, runId: string): Promise<Reply> {
  return outcome(runId, await ctx.inspector.cancel(runId), { done: 'cancelled' })
}

export async function retryAction(ctx: ActionContext, runId: string, form: URLSearchParams): Promise<Reply> {
  const fromStep = form.get('fromStep') || undefined
  const result = await ctx.inspector.retry(runId, fromStep === undefined ? {} : { fromStep })
  return outcome(runId, result, { done: 'retried', ...(fromStep !== undefined && { step: fromStep }) })
}

export async function emitAction(ctx: ActionContext, form: URLSearchParams): Promise<Reply> {
  const fields: EmitFields = {
    name: form.get('name')?.trim() ?? '',
    key: form.get('key') ?? '',
    payload: form.get('payload') ?? '',
    idempotencyKey: form.get('idempotencyKey')?.trim() ?? '',
    run: form.get('run') ?? '',
  }
  const problems: string[] = []
  if (fields.name === '') problems.push('the event name is required')
  if (fields.key === '') problems.push('the key is required')
  let payload: unknown
  if (fields.payload.trim() !== '') {
    try {
      payload = JSON.parse(fields.payload)
    } catch (error) {
      problems.push(`the payload is not valid JSON: ${(error as Error).message}`)
    }
  }
  const definition = eventDefinition(ctx, fields.name)
  if (problems.length === 0 && definition) {
    try {
      payload = await definition.parsePayload(payload)
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error))
    }
  }
  if (problems.length > 0) return pageReply(emitFormPage(fields, ctx, problems), ctx, false)
  if (form.get('confirmed') !== '1') {
    return pageReply(emitReviewPage(fields, payload, definition !== undefined, ctx), ctx, false)
  }

  const idempotencyKey = fields.idempotencyKey || null
  let id: number
  let created: boolean
  try {
    if (definition) {
      const engine = createEngine({ storage: ctx.storage, workflows: [] })
      const options = { key: fields.key, payload, ...(idempotencyKey !== null && { idempotencyKey }) }
      const emitted = await engine.emit(definition, options)
      id = emitted.eventId
      created = emitted.created
    } else {
      const payloadJson = serialize(payload, `Payload of event "${fields.name}"`)
      const stored = await ctx.inspector.emit(fields.name, fields.key, payloadJson, idempotencyKey ?? undefined)
      if (!stored.created && !storedEqual(deserialize(stored.payloadJson), payload)) {
        const used = `event ${stored.id} with a different payload`
        throw new Error(`idempotency key "${idempotencyKey}" was already used by ${used}`)
      }
      id = stored.id
      created = stored.created
    }
  } catch (error) {
    return pageReply(emitFormPage(fields, ctx, [error instanceof Error ? error.message : String(error)]), ctx, false)
  }
  const done = { done: 'emitted', name: fields.name, key: fields.key, id: String(id), created: created ? '1' : '0' }
  return redirect(fields.run ? runUrl(fields.run, done) : `/emit?${new URLSearchParams(done).toString()}`)
}

/** The event's definition from a wait step of the `--workflows` module, if any: its schema checks the payload. */
function eventDefinition(ctx: ActionContext, name: string): EventDefinition | undefined {
  for (const workflow of ctx.workflows ?? []) {
    for (const step of workflow.steps) if (step.kind === 'event' && step.event.name === name) return step.event
  }
  return undefined
}

export async function startAction(ctx: ActionContext, form: URLSearchParams): Promise<Reply> {
  const fields: StartFields = {
    workflow: form.get('workflow') ?? '',
    input: form.get('input') ?? '',
    idempotencyKey: form.get('idempotencyKey')?.trim() ?? '',
  }
  const workflow = ctx.workflows?.find((w) => w.name === fields.workflow)
  if (!workflow) return pageReply(startFormPage(fields, ctx, [`unknown workflow "${fields.workflow}"`]), ctx, false)
  let input: unknown
  try {
    input = fields.input.trim() === '' ? undefined : JSON.parse(fields.input)
  } catch (error) {
    const problem = `the input is not valid JSON: ${(error as Error).message}`
    return pageReply(startFormPage(fields, ctx, [problem]), ctx, false)
  }
  try {
    if (form.get('confirmed') !== '1') {
      return pageReply(startReviewPage(fields, await workflow.parseInput(input), ctx), ctx, false)
    }
    const engine = createEngine({ storage: ctx.storage, workflows: ctx.workflows ?? [] })
    type Enqueue = (name: string, input: unknown, options?: EnqueueOptions) => ReturnType<typeof engine.enqueue>
    const enqueue = engine.enqueue as Enqueue
    const before = Date.now()
    const options = fields.idempotencyKey ? { idempotencyKey: fields.idempotencyKey } : {}
    const run = await enqueue(fields.workflow, input, options)
    return redirect(runUrl(run.id, { done: 'started', created: run.createdAt >= before ? '1' : '0' }))
  } catch (error) {
    const problems = error instanceof ValidationError
      ? error.issues.map((issue) => {
          const path = (issue.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.')
          return path ? `${path}: ${issue.message}` : issue.message
        })
      : [error instanceof Error ? error.message : String(error)]
    return pageReply(startFormPage(fields, ctx, problems), ctx, false)
  }
}
