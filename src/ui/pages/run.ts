/**
 * The run page: what the run is doing (status, what it waits for and until when, its lease, who
 * holds it and its last heartbeat), where it came from (a schedule slot, or an enqueue), its steps
 * on a timeline drawn to scale, every failed or interrupted attempt with its error and stack
 * (attempts from before a retry included: a retried run keeps its id), and its input and outputs
 * as readable values. The actions it allows link to their confirmation pages (pages/actions.ts).
 */

import { renderValue } from '../../core/render-value.ts'
import type { AttemptRecord } from '../../core/types.ts'
import type { RunDetailView, RunView, StepView } from '../../inspect/inspector.ts'
import { ago, duration, prettyValue, utc } from '../format.ts'
import { escapeHtml, html, trusted, type Html } from '../html.ts'
import { statusBadge, type PageContext, type PageParts } from './layout.ts'

/** A heartbeat older than this (or than two leases, when the lease is longer) makes a running run look stuck. */
export const STUCK_AFTER_MS = 60_000

export async function runPage(ctx: PageContext, runId: string): Promise<PageParts | null> {
  const view = await ctx.inspector.getRun(runId)
  if (!view) return null
  return {
    title: `Run ${runId}`,
    nav: null,
    head: html`<h1>Run <span class="id">${runId}</span></h1>`,
    live: runBody(view, ctx),
  }
}

function runBody({ run, steps, attempts }: RunDetailView, ctx: PageContext): Html {
  const id = encodeURIComponent(run.id)
  const actions: Html[] = []
  if (!ctx.readOnly) {
    if (run.status === 'pending' || run.status === 'running' || run.status === 'waiting') {
      actions.push(html`<a class="button danger" href="/runs/${id}/cancel">Cancel run…</a>`)
    }
    if (run.status === 'failed' || run.status === 'cancelled') {
      actions.push(html`<a class="button" href="/runs/${id}/retry">Retry…</a>`)
      if (steps.length > 0) actions.push(html`<a class="button" href="/runs/${id}/retry#from">Retry from a step…</a>`)
    }
    if (run.status === 'waiting' && run.wait?.kind === 'event') {
      const q = new URLSearchParams({ name: run.wait.event, key: run.wait.key, run: run.id })
      actions.push(html`<a class="button" href="/emit?${q.toString()}">Emit ${run.wait.event}…</a>`)
    }
  }
  return html`<dl class="fields">${fields(run, ctx.now)}</dl>
${actions.length > 0 ? html`<div class="actions">${actions}</div>` : ''}
<h2>Steps</h2>
${stepsTable(run, steps, ctx.now)}
<h2>Failed and interrupted attempts</h2>
${attempts.length === 0 ? html`<p class="muted">None.</p>` : attemptsTable(attempts)}
<h2>Input</h2>
${valueBlock('input', run.input, true)}`
}

function fields(run: RunView, now: number): Html[] {
  const rows: [string, Html | string][] = [
    ['Status', html`${statusBadge(run.status)}${run.currentStep !== null && run.status !== 'completed'
      ? html` <span class="muted">at step</span> <code>${run.currentStep}</code>` : ''}`],
    ['Workflow', html`<a href="/?workflow=${encodeURIComponent(run.workflow)}">${run.workflow}</a>`],
    ['Origin', run.schedule
      ? html`schedule <code>${run.schedule.id}</code>, slot ${utc(run.schedule.slotMs)}`
      : 'enqueued'],
  ]
  if (run.idempotencyKey !== null) rows.push(['Idempotency key', html`<code>${run.idempotencyKey}</code>`])
  rows.push(['Created', timeWithAgo(run.createdAt, now)], ['Started', run.startedAt === null ? '-' : timeWithAgo(run.startedAt, now)])
  if (run.finishedAt !== null) {
    rows.push(['Finished', html`${timeWithAgo(run.finishedAt, now)}${run.durationMs === null ? '' : `, took ${duration(run.durationMs)}`}`])
  }
  const unfinished = run.status === 'pending' || run.status === 'running' || run.status === 'waiting'
  if (unfinished && (run.attempt > 0 || run.interruptions > 0)) {
    rows.push(['Current step', `${run.attempt} failed attempt${run.attempt === 1 ? '' : 's'}, ${run.interruptions} interrupted`])
  }
  if (run.status === 'pending' && run.availableAt !== null) {
    rows.push(['Due', run.availableAt > now ? html`${timeWithAgo(run.availableAt, now)} (backoff or delayed start)` : 'now'])
  }
  if (run.status === 'waiting' && run.wait) {
    const wait = run.wait
    const what = wait.kind === 'sleep'
      ? html`sleeping until ${timeWithAgo(wait.until, now)}`
      : html`event <code>${wait.event}</code> with key <code>${wait.key}</code>, ${wait.timeoutAt === null
        ? 'no timeout' : html`until ${timeWithAgo(wait.timeoutAt, now)}`}`
    const due = run.availableAt !== null && run.availableAt <= now ? ' (due now: a worker resumes it at its next claim)' : ''
    rows.push(['Waits for', html`${what} <span class="muted">at step</span> <code>${wait.step}</code>${due}`])
  }
  if (run.status === 'running') {
    rows.push(['Lease', html`<code>${run.leaseId ?? '-'}</code>${run.availableAt === null ? '' : html`, expires ${timeWithAgo(run.availableAt, now)}`}`])
    rows.push(['Held by', run.leaseOwner ?? '-'])
    const beat = run.heartbeatAt
    const stuck = beat !== null && now - beat > stuckThreshold(run)
    rows.push(['Last heartbeat', beat === null ? '-' : html`${timeWithAgo(beat, now)}${stuck
      ? html` <span class="error">— looks stuck (no heartbeat for ${duration(now - beat)})</span>` : ''}`])
  }
  return rows.map(([label, value]) => html`<dt>${label}</dt><dd>${value}</dd>`)
}

/** How long without a heartbeat makes a running run look stuck: two leases, at least a minute. */
export function stuckThreshold(run: Pick<RunView, 'availableAt' | 'heartbeatAt'>): number {
  const lease = run.availableAt !== null && run.heartbeatAt !== null ? run.availableAt - run.heartbeatAt : 0
  return Math.max(STUCK_AFTER_MS, 2 * lease)
}

function timeWithAgo(time: number, now: number): Html {
  return html`${utc(time)} <span class="muted">(${ago(time, now)})</span>`
}

const TIMELINE_WIDTH = 1000

function stepsTable(run: RunView, steps: StepView[], now: number): Html {
  const unfinished = run.status === 'running' || run.status === 'waiting' || run.status === 'pending'
  if (steps.length === 0 && !unfinished) return html`<p class="muted">No steps recorded.</p>`
  const start = Math.min(run.startedAt ?? Number.POSITIVE_INFINITY, ...steps.map((s) => s.createdAt))
  const end = Math.max(run.finishedAt ?? 0, run.status === 'running' ? now : 0, ...steps.map((s) => s.updatedAt))
  const span = Math.max(1, end - start)
  const bar = (from: number, to: number, kind: string, title: string) => {
    const x = ((from - start) / span) * TIMELINE_WIDTH
    const width = Math.max(2, ((to - from) / span) * TIMELINE_WIDTH)
    return trusted(`<svg class="timeline" viewBox="0 0 ${TIMELINE_WIDTH} 14" preserveAspectRatio="none" aria-hidden="true">` +
      `<rect class="track" x="0" y="2" width="${TIMELINE_WIDTH}" height="10"/>` +
      `<rect class="${kind}" x="${x.toFixed(1)}" y="2" width="${width.toFixed(1)}" height="10">` +
      `<title>${escapeHtml(title)}</title></rect></svg>`)
  }
  const rows = steps.map((step) => html`<tr data-step="${step.name}">
  <td class="num muted">${step.seq}</td>
  <td><code>${step.name}</code></td>
  <td>${statusBadge(step.status)}</td>
  <td class="num">${step.attempts}</td>
  <td class="num">${duration(step.durationMs)}</td>
  <td class="bar">${bar(step.createdAt, step.updatedAt, step.status, `${step.name}: ${utc(step.createdAt)} → ${utc(step.updatedAt)}`)}</td>
  <td>${step.error !== null
    ? html`<span class="error">${step.error}</span>`
    : valueBlock(`output-${step.seq}`, step.output, false)}</td>
</tr>`)
  if (unfinished && run.currentStep !== null && !steps.some((s) => s.name === run.currentStep)) {
    const state = run.status === 'pending' ? html`<span class="muted">next</span>` : statusBadge(run.status)
    rows.push(html`<tr data-step="${run.currentStep}" class="current">
  <td class="num muted">${steps.length + 1}</td><td><code>${run.currentStep}</code></td><td>${state}</td>
  <td class="num">${run.status === 'running' ? run.attempt + 1 : ''}</td><td></td><td class="bar"></td><td class="muted">not recorded yet</td>
</tr>`)
  }
  return html`<table class="steps">
<thead><tr><th class="num">#</th><th>Step</th><th>Status</th><th class="num">Attempts</th><th class="num">Duration</th>
<th>Timeline <span class="muted">(${utc(start === Number.POSITIVE_INFINITY ? null : start)} → ${duration(span)})</span></th>
<th>Output / error</th></tr></thead>
<tbody>${rows}</tbody>
</table>`
}

function attemptsTable(attempts: AttemptRecord[]): Html {
  const rows = attempts.map((a, i) => html`<tr>
  <td><code>${a.stepName}</code> #${a.attempt}</td>
  <td>${statusBadge(a.status)}</td>
  <td>${a.startedAt === null ? '-' : utc(a.startedAt)}</td>
  <td>${utc(a.endedAt)}</td>
  <td><span class="error">${a.errorName}: ${a.errorMessage}</span>
    ${a.errorStack ? html`<details id="stack-${i}"><summary>stack</summary><pre class="stack">${a.errorStack}</pre></details>` : ''}</td>
</tr>`)
  return html`<table class="attempts">
<thead><tr><th>Attempt</th><th>Status</th><th>Started</th><th>Ended</th><th>Error</th></tr></thead>
<tbody>${rows}</tbody>
</table>`
}

const INLINE_CHARS = 80

/** A stored value: inline when it fits one short line, else collapsible (one line as the summary, indented inside). */
function valueBlock(id: string, value: unknown, open: boolean): Html {
  const line = renderValue(value, { maxLength: INLINE_CHARS })
  if (line.length < INLINE_CHARS) return html`<code class="value">${line}</code>`
  return html`<details id="${id}" ${open ? 'open' : ''}><summary class="mono">${line}</summary><pre class="value">${prettyValue(value)}</pre></details>`
}
