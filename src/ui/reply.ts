/** What a route answers, before the server writes it: a page, a redirect, or plain text. */

import { renderPage, type PageContext, type PageParts } from './pages/layout.ts'

export interface Reply {
  status: number
  headers?: Record<string, string>
  body: string
}

/** A whole page, or only its live region when the script re-fetches it. */
export function pageReply(parts: PageParts, ctx: PageContext, fragment: boolean): Reply {
  return {
    status: parts.status ?? 200,
    headers: { 'content-type': 'text/html; charset=utf-8' },
    body: fragment && parts.live !== null ? parts.live.text : renderPage(parts, ctx),
  }
}

/** 303: after a POST, the browser GETs the result page (reloading it repeats nothing). */
export function redirect(location: string): Reply {
  return { status: 303, headers: { location }, body: '' }
}

export function textReply(status: number, text: string): Reply {
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `${text}\n` }
}
