/**
 * The runs page: filters (status, workflow, creation time range, id prefix, idempotency key) over
 * `inspector.listRuns`, one keyset page at a time, newest first. The filters live in the URL, so a
 * filtered page can be bookmarked and its live re-fetch asks for the same page.
 */

import { RunStatuses, type RunStatus } from '../../core/types.ts'
import type { RunListQuery, RunSummary } from '../../inspect/inspector.ts'
import { ago, duration, utc } from '../format.ts'
import { html, type Html } from '../html.ts'
import { statusBadge, type PageContext, type PageParts } from './layout.ts'

export const PAGE_SIZE = 50
const STATUSES = Object.values(RunStatuses)

/** The list query a URL asks for, or the problems with its filters. */
export function runsQuery(params: URLSearchParams): { query: RunListQuery; problems: string[] } {
  const query: RunListQuery = { limit: PAGE_SIZE }
  const problems: string[] = []
  const text = (name: string) => {
    const value = params.get(name)?.trim()
    return value ? value : undefined
  }
  const status = text('status')
  if (status !== undefined) {
    if (STATUSES.includes(status as RunStatus)) query.statuses = [status as RunStatus]
    else problems.push(`unknown status "${status}"`)
  }
  const workflow = text('workflow')
  if (workflow !== undefined) query.workflow = workflow
  const idPrefix = text('id')
  if (idPrefix !== undefined) query.idPrefix = idPrefix
  const key = text('key')
  if (key !== undefined) query.idempotencyKey = key
  for (const [name, field] of [['after', 'createdAfter'], ['before', 'createdBefore']] as const) {
    const value = text(name)
    if (value === undefined) continue
    const time = parseUtc(value)
    if (time === null) problems.push(`"${value}" is not a date and time (YYYY-MM-DDTHH:MM, UTC)`)
    else query[field] = time
  }
  const cursor = text('cursor')
  if (cursor !== undefined) query.cursor = cursor
  return { query, problems }
}

/** A datetime-local value (no zone: read as UTC) or an ISO time with a zone; null if neither. */
export function parseUtc(value: string): number | null {
  const zoned = /(Z|[+-]\d\d:?\d\d)$/i.test(value)
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?/.test(value)) return null
  const time = Date.parse(zoned ? value : `${value.replace(' ', 'T')}${value.length === 10 ? 'T00:00' : ''}Z`)
  return Number.isNaN(time) ? null : time
}

export async function runsPage(ctx: PageContext): Promise<PageParts> {
  const params = ctx.url.searchParams
  const { query, problems } = runsQuery(params)
  let live: Html
  if (problems.length > 0) {
    live = html`<p class="notice bad" role="alert">${problems.join('; ')}</p>`
  } else {
    try {
      const page = await ctx.inspector.listRuns(query)
      live = runsTable(page.runs, page.nextCursor, ctx)
    } catch (error) {
      // A malformed cursor (an edited URL) is the reader's mistake, not the server's.
      live = html`<p class="notice bad" role="alert">${error instanceof Error ? error.message : String(error)}</p>`
    }
  }
  return { title: 'Runs', nav: 'runs', head: html`<h1>Runs</h1>${filters(params)}`, live }
}

function filters(params: URLSearchParams): Html {
  const value = (name: string) => params.get(name) ?? ''
  const status = value('status')
  return html`<form class="filters" method="get" action="/">
  <label>Status
    <select name="status">
      <option value="">any</option>
      ${STATUSES.map((s) => html`<option value="${s}" ${s === status ? 'selected' : ''}>${s}</option>`)}
    </select>
  </label>
  <label>Workflow <input name="workflow" value="${value('workflow')}" size="14"></label>
  <label>Created after (UTC) <input type="datetime-local" name="after" value="${value('after')}"></label>
  <label>Created before (UTC) <input type="datetime-local" name="before" value="${value('before')}"></label>
  <label>Run id starts with <input name="id" value="${value('id')}" size="12" class="mono"></label>
  <label>Idempotency key <input name="key" value="${value('key')}" size="14"></label>
  <button type="submit" class="primary">Filter</button>
  <a class="button" href="/">Clear</a>
</form>`
}

function runsTable(runs: RunSummary[], nextCursor: string | null, ctx: PageContext): Html {
  const params = ctx.url.searchParams
  const first = params.has('cursor')
  const pageLink = (cursor: string | null) => {
    const next = new URLSearchParams(params)
    next.delete('cursor')
    if (cursor !== null) next.set('cursor', cursor)
    const search = next.toString()
    return `/${search ? `?${search}` : ''}`
  }
  const rows = runs.map((run) => {
    const took = run.finishedAt !== null && run.startedAt !== null
      ? duration(run.finishedAt - run.startedAt)
      : run.startedAt !== null ? html`<span class="muted">${duration(ctx.now - run.startedAt)} so far</span>` : ''
    return html`<tr data-run="${run.id}">
  <td><a class="id" href="/runs/${encodeURIComponent(run.id)}">${run.id}</a></td>
  <td>${run.workflow}</td>
  <td>${statusBadge(run.status)}</td>
  <td>${run.step ? html`${run.step.name} <span class="muted">×${run.step.attempts}</span>` : html`<span class="muted">-</span>`}</td>
  <td class="when">${utc(run.createdAt)} <span class="muted">${ago(run.createdAt, ctx.now)}</span></td>
  <td class="num">${took}</td>
  <td class="error">${run.error === null ? '' : shorten(run.error, 120)}</td>
</tr>`
  })
  return html`<table class="runs">
<thead><tr><th>Run</th><th>Workflow</th><th>Status</th><th>Step</th><th>Created</th><th class="num">Duration</th><th>Error</th></tr></thead>
<tbody>${rows}</tbody>
</table>
${runs.length === 0 ? html`<p class="muted">No runs match.</p>` : ''}
<div class="pager">
  ${first ? html`<a href="${pageLink(null)}">« Newest</a>` : ''}
  ${nextCursor !== null ? html`<a href="${pageLink(nextCursor)}" rel="next">Older »</a>` : ''}
  <span class="muted">${runs.length} run${runs.length === 1 ? '' : 's'} on this page · times in UTC</span>
</div>`
}

function shorten(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ')
  return line.length > max ? `${line.slice(0, max - 1)}…` : line
}
