/**
 * The frame every page shares: the navigation, the result message of the last action, and the
 * `#live` region that the script in assets.ts swaps when the store changes. A page is rendered as
 * its parts, so the server can answer a live re-fetch with the live region alone.
 */

import type { RunStatus } from '../../core/types.ts'
import type { Inspector } from '../../inspect/inspector.ts'
import type { AnyWorkflow } from '../../workflow/workflow.ts'
import { html, type Html } from '../html.ts'

/** What every page may need to know about the server and the request. */
export interface PageContext {
  inspector: Inspector
  url: URL
  now: number
  csrfToken: string
  readOnly: boolean
  /** The workflows of `--workflows FILE`, or null: starting runs is offered only with them. */
  workflows: readonly AnyWorkflow[] | null
}

export type NavItem = 'runs' | 'overview' | 'emit' | 'start'

/** A rendered page: what stays put (title, forms) and what live updates replace. */
export interface PageParts {
  title: string
  nav: NavItem | null
  head: Html
  /** Null for pages with forms: a live swap would throw away what the reader typed. */
  live: Html | null
  /** HTTP status; 200 unless said. */
  status?: number
}

export function renderPage(parts: PageParts, ctx: PageContext): string {
  const link = (item: NavItem, href: string, label: string) =>
    html`<a href="${href}" class="${parts.nav === item ? 'here' : ''}">${label}</a>`
  const actions = !ctx.readOnly
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${parts.title} · reflow</title>
<link rel="stylesheet" href="/assets/app.css">
<script src="/assets/app.js" defer></script>
</head>
<body>
<header class="top">
  <a class="brand" href="/">reflow</a>
  <nav>
    ${link('runs', '/', 'Runs')}
    ${link('overview', '/overview', 'Overview')}
    ${actions && link('emit', '/emit', 'Emit event')}
    ${actions && ctx.workflows !== null && link('start', '/start', 'Start run')}
  </nav>
  <span id="live-state" class="live-state">${ctx.readOnly ? 'read-only' : ''}</span>
</header>
<main>
${notice(ctx.url)}
${parts.head}
${parts.live === null ? '' : html`<div id="live">${parts.live}</div>`}
</main>
</body>
</html>
`.text
}

/** The status badge. */
export function statusBadge(status: RunStatus | string): Html {
  return html`<span class="status s-${status}">${status}</span>`
}

/** The hidden field every action form carries (see auth.ts). */
export function csrfField(ctx: PageContext): Html {
  return html`<input type="hidden" name="csrf" value="${ctx.csrfToken}">`
}

/**
 * The message an action's redirect asks for: `?done=…` or `?failed=…`, with its details. Only known
 * codes show a message, so a crafted link cannot make the page say anything else.
 */
function notice(url: URL): Html | null {
  const p = url.searchParams
  const done = p.get('done')
  const step = p.get('step')
  switch (done) {
    case 'cancelled':
      return html`<p class="notice" role="status">Run cancelled.</p>`
    case 'retried':
      return html`<p class="notice" role="status">Run retried${step ? html` from step <code>${step}</code>` : ''}: it is
        pending again, and a worker will pick it up.</p>`
    case 'emitted':
      return html`<p class="notice" role="status">Event <code>${p.get('name')}</code> key <code>${p.get('key')}</code>
        ${p.get('created') === '0' ? 'was already stored under that idempotency key (nothing new stored)' : 'stored'}
        (id ${p.get('id')}); runs waiting for it are due now.</p>`
    case 'started':
      return html`<p class="notice" role="status">Run started${p.get('created') === '0' ? ' earlier with that idempotency key (no new run)' : ''}.</p>`
  }
  switch (p.get('failed')) {
    case 'refused':
      return html`<p class="notice bad" role="alert">Nothing done: the run is ${p.get('status')}.</p>`
    case 'not-found':
      return html`<p class="notice bad" role="alert">Nothing done: no such run.</p>`
  }
  return null
}
