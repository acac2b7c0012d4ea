/**
 * Which page or action a request gets. GETs render pages (or, with `X-Reflow-Fragment: 1`, only
 * their live region); POSTs run actions and are only reached after server.ts has checked the
 * origin, the CSRF token and read-only mode. Unknown paths are 404s, never a fallback page.
 */

import { cancelAction, emitAction, retryAction, startAction, type ActionContext } from './actions.ts'
import { APP_CSS, APP_JS } from './assets.ts'
import { cancelConfirmPage, emitFormPage, retryConfirmPage, startFormPage } from './pages/actions.ts'
import { html } from './html.ts'
import { overviewPage } from './pages/overview.ts'
import { runPage } from './pages/run.ts'
import { runsPage } from './pages/runs.ts'
import type { PageParts } from './pages/layout.ts'
import { pageReply, textReply, type Reply } from './reply.ts'

const RUN_PATH = /^\/runs\/([^/]+)(?:\/(cancel|retry))?$/

const asset = (type: string, body: string): Reply => ({
  status: 200,
  headers: { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-cache' },
  body,
})

function notFound(what: string): PageParts {
  return { title: 'Not found', nav: null, status: 404, head: html`<h1>Not found</h1>`, live: html`<p>${what}</p>` }
}

export async function routeGet(ctx: ActionContext, fragment: boolean): Promise<Reply> {
  const path = ctx.url.pathname
  const page = (parts: PageParts) => pageReply(parts, ctx, fragment)
  if (path === '/assets/app.css') return asset('text/css', APP_CSS)
  if (path === '/assets/app.js') return asset('text/javascript', APP_JS)
  if (path === '/' || path === '/runs') return page(await runsPage(ctx))
  if (path === '/overview') return page(await overviewPage(ctx))
  if (path === '/emit' && !ctx.readOnly) {
    const p = ctx.url.searchParams
    const fields = { name: p.get('name') ?? '', key: p.get('key') ?? '', payload: '', idempotencyKey: '', run: p.get('run') ?? '' }
    return page(emitFormPage(fields, ctx))
  }
  if (path === '/start' && !ctx.readOnly && ctx.workflows !== null) {
    const first = ctx.workflows[0]?.name ?? ''
    const workflow = ctx.url.searchParams.get('workflow') ?? first
    return page(startFormPage({ workflow, input: '{}', idempotencyKey: '' }, ctx))
  }
  const match = RUN_PATH.exec(path)
  if (match) {
    const runId = decodeURIComponent(match[1]!)
    const action = match[2]
    if (action === undefined) return page((await runPage(ctx, runId)) ?? notFound(`No run ${runId}.`))
    if (ctx.readOnly) return page(notFound('The dashboard is read-only.'))
    const view = await ctx.inspector.getRun(runId)
    if (!view) return page(notFound(`No run ${runId}.`))
    return page(action === 'cancel' ? cancelConfirmPage(view, ctx) : retryConfirmPage(view, ctx))
  }
  if (path === '/favicon.ico') return { status: 204, body: '' }
  return page(notFound(`Nothing at ${path}.`))
}

export async function routePost(ctx: ActionContext, form: URLSearchParams): Promise<Reply> {
  const path = ctx.url.pathname
  if (path === '/emit') return emitAction(ctx, form)
  if (path === '/start' && ctx.workflows !== null) return startAction(ctx, form)
  const match = RUN_PATH.exec(path)
  if (match && match[2] === 'cancel') return cancelAction(ctx, decodeURIComponent(match[1]!))
  if (match && match[2] === 'retry') return retryAction(ctx, decodeURIComponent(match[1]!), form)
  return textReply(404, `nothing to POST at ${path}`)
}
