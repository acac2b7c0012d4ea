/**
 * The action pages. Every action takes two steps: a page that says exactly what will happen and
 * holds the POST form (the confirmation), then the POST, which answers with a redirect to a page
 * showing the result. Emit and start have a form first; submitting it shows the review page (the
 * payload or input as it will be stored, or the validation errors), whose button does the work.
 */

import type { RunDetailView } from '../../inspect/inspector.ts'
import { prettyValue } from '../format.ts'
import { html, type Html } from '../html.ts'
import { csrfField, statusBadge, type PageContext, type PageParts } from './layout.ts'

const back = (runId: string) => html`<a class="button" href="/runs/${encodeURIComponent(runId)}">Back to the run</a>`

export function cancelConfirmPage(view: RunDetailView, ctx: PageContext): PageParts {
  const { run } = view
  const what = run.status === 'running'
    ? 'Its worker loses the lease at once: the step in flight is aborted and nothing more is recorded.'
    : 'It will never start or resume.'
  return {
    title: 'Cancel run',
    nav: null,
    live: null,
    head: html`<h1>Cancel run <span class="id">${run.id}</span>?</h1>
<div class="confirm">
<p>${run.workflow}, currently ${statusBadge(run.status)}${run.currentStep === null ? '' : html` at step <code>${run.currentStep}</code>`}.
${what} A cancelled run can be retried later.</p>
<form method="post" action="/runs/${encodeURIComponent(run.id)}/cancel">
  ${csrfField(ctx)}
  <div class="actions"><button type="submit" class="danger primary">Cancel the run</button> ${back(run.id)}</div>
</form>
</div>`,
  }
}

export function retryConfirmPage(view: RunDetailView, ctx: PageContext): PageParts {
  const { run, steps } = view
  const failed = steps.find((s) => s.status === 'failed')
  const resumeAt = failed ? html`the failed step <code>${failed.name}</code>` : run.currentStep === null
    ? 'the start' : html`step <code>${run.currentStep}</code>`
  return {
    title: 'Retry run',
    nav: null,
    live: null,
    head: html`<h1>Retry run <span class="id">${run.id}</span>?</h1>
<div class="confirm">
<p>${run.workflow}, ${statusBadge(run.status)}. The run keeps its id and its attempt history, becomes pending, and a
worker resumes it at ${resumeAt}; completed steps before it are not run again.</p>
<form method="post" action="/runs/${encodeURIComponent(run.id)}/retry">
  ${csrfField(ctx)}
  <p><label for="from">Resume from</label>
  <select name="fromStep" id="from">
    <option value="">${failed ? `the failed step (${failed.name})` : 'where it stopped'}</option>
    ${steps.filter((s) => s.status === 'completed').map((s) =>
      html`<option value="${s.name}">step ${s.seq}: ${s.name} (it and every later step run again)</option>`)}
  </select></p>
  <div class="actions"><button type="submit" class="primary">Retry the run</button> ${back(run.id)}</div>
</form>
</div>`,
  }
}

export interface EmitFields {
  name: string
  key: string
  payload: string
  idempotencyKey: string
  /** The run the form was opened from: the result is shown there. */
  run: string
}

export function emitFormPage(fields: EmitFields, ctx: PageContext, problems: string[] = []): PageParts {
  return {
    title: 'Emit event',
    nav: 'emit',
    status: problems.length > 0 ? 422 : 200,
    live: null,
    head: html`<h1>Emit an event</h1>
<form method="post" action="/emit" class="stack confirm">
${problemList(problems)}
${csrfField(ctx)}
<input type="hidden" name="run" value="${fields.run}">
<p>Stores the event and wakes every run waiting for this name and key; a run that reaches such a wait later receives it too.
${ctx.workflows === null ? 'The payload is not validated (start the dashboard with --workflows FILE to check it with the event\'s schema).' : ''}</p>
<p><label>Event name <input name="name" value="${fields.name}" required size="30"></label></p>
<p><label>Key <input name="key" value="${fields.key}" required size="30"></label></p>
<p><label>Payload (JSON) <textarea name="payload" spellcheck="false">${fields.payload}</textarea></label></p>
<p><label>Idempotency key (optional) <input name="idempotencyKey" value="${fields.idempotencyKey}" size="30"></label></p>
<div class="actions"><button type="submit" class="primary">Review…</button></div>
</form>`,
  }
}

export function emitReviewPage(fields: EmitFields, payload: unknown, validated: boolean, ctx: PageContext): PageParts {
  return {
    title: 'Emit event',
    nav: 'emit',
    live: null,
    head: html`<h1>Emit <code>${fields.name}</code> with key <code>${fields.key}</code>?</h1>
<form method="post" action="/emit" class="confirm">
${csrfField(ctx)}
${hidden({ ...fields, confirmed: '1' })}
<p>Payload${validated ? ' (validated with the event\'s schema)' : ' (not validated)'}:</p>
<pre class="value">${prettyValue(payload)}</pre>
${fields.idempotencyKey ? html`<p>Idempotency key <code>${fields.idempotencyKey}</code>.</p>` : ''}
<div class="actions"><button type="submit" class="primary">Emit the event</button>
<a class="button" href="/emit?${new URLSearchParams({ name: fields.name, key: fields.key, run: fields.run }).toString()}">Back</a></div>
</form>`,
  }
}

export interface StartFields {
  workflow: string
  input: string
  idempotencyKey: string
}

export function startFormPage(fields: StartFields, ctx: PageContext, problems: string[] = []): PageParts {
  const names = (ctx.workflows ?? []).map((w) => w.name)
  return {
    title: 'Start run',
    nav: 'start',
    status: problems.length > 0 ? 422 : 200,
    live: null,
    head: html`<h1>Start a run</h1>
<form method="post" action="/start" class="stack confirm">
${problemList(problems)}
${csrfField(ctx)}
<p>The input is validated with the workflow's schema; a running worker picks the run up.</p>
<p><label>Workflow <select name="workflow">${names.map((n) =>
      html`<option value="${n}" ${n === fields.workflow ? 'selected' : ''}>${n}</option>`)}</select></label></p>
<p><label>Input (JSON) <textarea name="input" spellcheck="false">${fields.input}</textarea></label></p>
<p><label>Idempotency key (optional) <input name="idempotencyKey" value="${fields.idempotencyKey}" size="30"></label></p>
<div class="actions"><button type="submit" class="primary">Review…</button></div>
</form>`,
  }
}

export function startReviewPage(fields: StartFields, input: unknown, ctx: PageContext): PageParts {
  return {
    title: 'Start run',
    nav: 'start',
    live: null,
    head: html`<h1>Start a run of <code>${fields.workflow}</code>?</h1>
<form method="post" action="/start" class="confirm">
${csrfField(ctx)}
${hidden({ ...fields, confirmed: '1' })}
<p>Input, as the schema made it:</p>
<pre class="value">${prettyValue(input)}</pre>
${fields.idempotencyKey ? html`<p>Idempotency key <code>${fields.idempotencyKey}</code>.</p>` : ''}
<div class="actions"><button type="submit" class="primary">Start the run</button> <a class="button" href="/start">Back</a></div>
</form>`,
  }
}

function hidden(fields: Record<string, string>): Html[] {
  return Object.entries(fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)
}

function problemList(problems: string[]): Html | null {
  if (problems.length === 0) return null
  return html`<div class="notice bad validation" role="alert"><ul>${problems.map((p) => html`<li>${p}</li>`)}</ul></div>`
}
