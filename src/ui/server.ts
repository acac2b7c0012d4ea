/**
 * `reflow ui`'s HTTP server, on node:http so the same code serves under Bun (the compiled binary)
 * and Node, with no framework. Every request is authenticated first (auth.ts; nothing without
 * `--auth`, which only loopback hosts may omit), then:
 *
 *   GET  /events            server-sent events: one `data: change` message after store changes (live.ts)
 *   GET  (any page)         the page, or its live region alone with `X-Reflow-Fragment: 1` (routes.ts)
 *   POST (actions)          403 when read-only or when the origin or CSRF check fails, else the action
 *
 * The pages read and act through the inspector only (and the public storage object, to enqueue
 * through an engine), so any built-in storage works, SQLite or another.
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createInspector } from '../inspect/inspector.ts'
import { STORE } from '../storage/store.ts'
import type { AnyWorkflow } from '../workflow/workflow.ts'
import type { ActionContext, UiStorage } from './actions.ts'
import { createGuard, isLoopback, parseAuth, type Auth } from './auth.ts'
import { createChangeFeed } from './live.ts'
import { textReply, type Reply } from './reply.ts'
import { routeGet, routePost } from './routes.ts'

export interface UiOptions {
  storage: UiStorage
  /** Default 127.0.0.1. Any other than a loopback address needs `auth`. */
  host?: string
  /** Default 4321; 0 picks a free port (the returned url has the real one). */
  port?: number
  /** `user:password` (HTTP Basic) or a token, as given to `--auth`; or parsed. */
  auth?: string | Auth | null
  /** Hide every action and refuse POSTs with 403. */
  readOnly?: boolean
  /** The workflows of `--workflows FILE`: starting runs (validated by their schemas) is offered only with them. */
  workflows?: readonly AnyWorkflow[] | null
}

export interface RunningUi {
  url: string
  close(): Promise<void>
}

const MAX_BODY_BYTES = 1_000_000
const KEEPALIVE_MS = 20_000

/** Thrown when the options would expose the dashboard without authentication. */
export class UnsafeBindError extends Error {
  constructor(host: string) {
    super(`refusing to listen on ${host} without --auth: only 127.0.0.1, ::1 and localhost may go without ` +
      'authentication (pass --auth TOKEN or --auth user:password)')
    this.name = 'UnsafeBindError'
  }
}

/**
 * Starts the dashboard and resolves once it listens.
 *
 * @example
 * const ui = await startUi({ storage: new SQLiteStorage('./reflow.db'), port: 0 })
 * console.log(ui.url) // http://127.0.0.1:53211
 * await ui.close()
 */
export async function startUi(options: UiOptions): Promise<RunningUi> {
  const host = options.host ?? '127.0.0.1'
  const auth = typeof options.auth === 'string' ? parseAuth(options.auth) : (options.auth ?? null)
  if (auth === null && !isLoopback(host)) throw new UnsafeBindError(host)
  const store = options.storage[STORE]()
  const inspector = createInspector(store)
  const guard = createGuard(auth)
  const feed = createChangeFeed(store.changes)
  const readOnly = options.readOnly ?? false
  const workflows = options.workflows ?? null
  const streams = new Set<ServerResponse>()

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid')
    const verdict = guard.authenticate(req, url)
    if (verdict.ok === false) {
      const reply = textReply(401, 'reflow ui: authentication required (open the URL with ?token=TOKEN, or send credentials)')
      const challenge: Record<string, string> = verdict.challenge === null ? {} : { 'www-authenticate': verdict.challenge }
      return send(res, { ...reply, headers: { ...reply.headers, ...challenge } })
    }
    if (verdict.ok === 'login') {
      return send(res, { status: 303, headers: { location: verdict.location, 'set-cookie': verdict.cookie }, body: '' })
    }
    const { csrfToken } = guard
    const ctx: ActionContext = { inspector, url, now: Date.now(), csrfToken, readOnly, workflows, storage: options.storage }
    if (req.method === 'GET' && url.pathname === '/events') return openStream(req, res)
    if (req.method === 'GET' || req.method === 'HEAD') {
      return send(res, await routeGet(ctx, req.headers['x-reflow-fragment'] === '1'))
    }
    if (req.method !== 'POST') {
      return send(res, { ...textReply(405, 'method not allowed'), headers: { allow: 'GET, HEAD, POST' } })
    }
    if (readOnly) return send(res, textReply(403, 'reflow ui is read-only: actions are disabled'))
    const form = await readForm(req)
    if (form === null) return send(res, textReply(413, 'the form is too large'))
    const refused = guard.checkPost(req, form)
    if (refused !== null) return send(res, textReply(403, refused))
    return send(res, await routePost(ctx, form))
  }

  const openStream = (req: IncomingMessage, res: ServerResponse) => {
    // Listening before the headers go out: the page's re-fetch on `open` then sees every change it is not told of.
    const unlisten = feed.listen(() => void res.write('data: change\n\n'))
    const headers = { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' }
    res.writeHead(200, { ...SECURITY_HEADERS, ...headers })
    res.write('retry: 2000\n\n')
    streams.add(res)
    // Proxies and some clients drop a connection that stays silent; a comment line keeps it open.
    const keepalive = setInterval(() => void res.write(': keepalive\n\n'), KEEPALIVE_MS)
    const end = () => {
      clearInterval(keepalive)
      unlisten()
      streams.delete(res)
    }
    req.on('close', end)
    res.on('close', end)
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) return void res.destroy()
      send(res, textReply(500, `reflow ui: ${error instanceof Error ? error.message : String(error)}`))
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 4321, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${host.includes(':') ? `[${host.replace(/^\[|\]$/g, '')}]` : host}:${port}`,
    async close() {
      feed.close()
      for (const res of streams) res.end()
      streams.clear()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections?.()
      })
    },
  }
}

/**
 * Pages load only their own CSS and script; nothing may frame them (clickjacking the action
 * buttons); the URL (a `?token=` one included) is never sent to another site
 * (same-origin, not no-referrer: under no-referrer browsers send `Origin: null` on form POSTs).
 */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; " +
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
}

function send(res: ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, { ...SECURITY_HEADERS, 'cache-control': 'no-store', ...reply.headers })
  res.end(res.req.method === 'HEAD' ? undefined : reply.body)
}

/** The urlencoded body of a POST, or null past MAX_BODY_BYTES. */
async function readForm(req: IncomingMessage): Promise<URLSearchParams | null> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) return null
    chunks.push(chunk)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}
