/**
 * Who may use the dashboard, and which POSTs count as the user's own.
 *
 * Authentication (only with `--auth`): `user:password` is HTTP Basic; any other value is a token,
 * accepted as `Authorization: Bearer TOKEN`, or once as `?token=TOKEN`, which sets an HttpOnly
 * SameSite=Strict cookie holding a per-server session value (not the token) and redirects to the
 * same URL without it, so the token does not stay in the address bar or the history.
 *
 * Cross-site requests: every POST must carry the per-server CSRF token in a hidden form field AND
 * come from this origin by the browser's own account: `Sec-Fetch-Site: same-origin`, or an `Origin`
 * naming the host the request was sent to. A POST with neither header is refused: every browser
 * that can render the dashboard sends at least one of them on a form POST.
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

export type Auth = { kind: 'basic'; user: string; password: string } | { kind: 'token'; token: string }

/** `--auth` as given: `user:password` (Basic) or a token. Throws on an empty value. */
export function parseAuth(value: string): Auth {
  if (value === '') throw new Error('--auth must not be empty')
  const colon = value.indexOf(':')
  if (colon === -1) return { kind: 'token', token: value }
  const user = value.slice(0, colon)
  const password = value.slice(colon + 1)
  if (user === '' || password === '') throw new Error('--auth user:password needs both a user and a password')
  return { kind: 'basic', user, password }
}

/** Whether a host name only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host)
}

/** Compares secrets in time independent of where they differ (hashing first makes the lengths equal). */
export function sameSecret(a: string, b: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest()
  return timingSafeEqual(digest(a), digest(b))
}

export const SESSION_COOKIE = 'reflow_ui_session'

/** What the server decides about a request's credentials. */
export type AuthOutcome =
  | { ok: true }
  /** A valid `?token=` login: set this cookie and redirect to `location`. */
  | { ok: 'login'; cookie: string; location: string }
  | { ok: false; challenge: string | null }

export interface Guard {
  /** A random value, new for each server: the CSRF token forms carry. */
  readonly csrfToken: string
  authenticate(request: IncomingMessage, url: URL): AuthOutcome
  /** Null when the POST may proceed, else why it is refused. */
  checkPost(request: IncomingMessage, form: URLSearchParams): string | null
}

/** The checks for one server; `auth` null means no authentication (loopback only, enforced by the caller). */
export function createGuard(auth: Auth | null): Guard {
  const csrfToken = randomBytes(24).toString('base64url')
  const session = randomBytes(24).toString('base64url')
  return {
    csrfToken,
    authenticate(request, url) {
      if (auth === null) return { ok: true }
      const header = request.headers.authorization ?? ''
      if (auth.kind === 'basic') {
        const match = /^Basic\s+(\S+)$/i.exec(header)
        const given = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : null
        if (given !== null && sameSecret(given, `${auth.user}:${auth.password}`)) return { ok: true }
        return { ok: false, challenge: 'Basic realm="reflow", charset="UTF-8"' }
      }
      const bearer = /^Bearer\s+(\S+)$/i.exec(header)
      if (bearer && sameSecret(bearer[1]!, auth.token)) return { ok: true }
      const cookie = readCookie(request.headers.cookie, SESSION_COOKIE)
      if (cookie !== null && sameSecret(cookie, session)) return { ok: true }
      const token = url.searchParams.get('token')
      if (token !== null && sameSecret(token, auth.token)) {
        const clean = new URL(url)
        clean.searchParams.delete('token')
        return {
          ok: 'login',
          cookie: `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/`,
          location: clean.pathname + clean.search,
        }
      }
      return { ok: false, challenge: 'Bearer realm="reflow"' }
    },
    checkPost(request, form) {
      const site = request.headers['sec-fetch-site']
      const origin = request.headers.origin
      if (site === undefined && origin === undefined) {
        return 'the request names no origin (no Origin or Sec-Fetch-Site header)'
      }
      if (site !== undefined && site !== 'same-origin') return `cross-site request refused (Sec-Fetch-Site: ${site})`
      if (origin !== undefined && originHost(origin) !== request.headers.host) {
        return `cross-site request refused (Origin: ${origin})`
      }
      const given = form.get('csrf')
      if (given === null || !sameSecret(given, csrfToken)) {
        return 'the form is missing or has a stale CSRF token (reload the page)'
      }
      return null
    },
  }
}

/** The host (with port) an Origin header names; behind a TLS proxy the scheme differs, the host does not. */
function originHost(origin: string): string | null {
  try {
    return new URL(origin).host
  } catch {
    return null // "null" (an opaque origin: a sandboxed frame, a file) is never ours
  }
}

/** One cookie's value from a Cookie header, or null. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return null
}
