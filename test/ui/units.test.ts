/** The dashboard's pure parts: HTML escaping, the auth and cross-site checks, the chart's buckets. */

import { describe, expect, test } from 'bun:test'
import type { IncomingMessage } from 'node:http'
import { bucketCounts, bucketWindows, totalSeries } from '../../src/ui/chart.ts'
import { escapeHtml, html, trusted } from '../../src/ui/html.ts'
import { createGuard, isLoopback, parseAuth, readCookie } from '../../src/ui/auth.ts'
import { prettyValue } from '../../src/ui/format.ts'
import { parseUtc, runsQuery } from '../../src/ui/pages/runs.ts'
import type { RunStats } from '../../src/storage/store.ts'

describe('html', () => {
  test('escapes every interpolated value, in text and in attributes', () => {
    const id = `<script>alert("x")</script>&'`
    expect(html`<td title="${id}">${id}</td>`.text).toBe(
      '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</td>',
    )
    expect(escapeHtml('a&b')).toBe('a&amp;b')
  })

  test('nests markup without escaping it twice, joins arrays, drops null, undefined and false', () => {
    const rows = ['<a>', 'b'].map((t) => html`<li>${t}</li>`)
    expect(html`<ul>${rows}${null}${undefined}${false}</ul>`.text).toBe('<ul><li>&lt;a&gt;</li><li>b</li></ul>')
    expect(html`${0} ${trusted('<b>ok</b>')}`.text).toBe('0 <b>ok</b>')
  })

  test('stored values render readably over several lines', () => {
    const text = prettyValue({ at: new Date(0), tags: new Set(['a']), n: 10n, m: new Map([['k', 1]]), '<x>': [] })
    expect(text).toBe(
      '{\n  at: Date(1970-01-01T00:00:00.000Z),\n  tags: Set(1) {\n    "a",\n  },\n  n: 10n,\n' +
        '  m: Map(1) {\n    "k" => 1,\n  },\n  "<x>": [],\n}',
    )
    expect(prettyValue(undefined)).toBe('undefined')
  })
})

describe('auth', () => {
  const request = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage
  const url = (path: string) => new URL(path, 'http://127.0.0.1:4321')

  test('--auth: user:password is Basic, anything else a token; loopback hosts', () => {
    expect(parseAuth('ada:s3:cret')).toEqual({ kind: 'basic', user: 'ada', password: 's3:cret' })
    expect(parseAuth('tok')).toEqual({ kind: 'token', token: 'tok' })
    expect(() => parseAuth(':x')).toThrow()
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost'].every(isLoopback)).toBe(true)
    expect(['0.0.0.0', '192.168.1.2', '::', 'example.com'].some(isLoopback)).toBe(false)
  })

  test('no auth lets every request in', () => {
    expect(createGuard(null).authenticate(request({}), url('/'))).toEqual({ ok: true })
  })

  test('Basic: the right credentials only, with a challenge otherwise', () => {
    const guard = createGuard(parseAuth('ada:pw'))
    const basic = (text: string) => request({ authorization: `Basic ${Buffer.from(text).toString('base64')}` })
    expect(guard.authenticate(basic('ada:pw'), url('/'))).toEqual({ ok: true })
    const refused = guard.authenticate(basic('ada:nope'), url('/'))
    expect(refused.ok).toBe(false)
    expect(refused.ok === false && refused.challenge).toContain('Basic')
    expect(guard.authenticate(request({}), url('/')).ok).toBe(false)
  })

  test('token: Bearer, or ?token= once, which sets a session cookie that then suffices', () => {
    const guard = createGuard(parseAuth('t0ken'))
    expect(guard.authenticate(request({ authorization: 'Bearer t0ken' }), url('/'))).toEqual({ ok: true })
    expect(guard.authenticate(request({ authorization: 'Bearer other' }), url('/')).ok).toBe(false)
    expect(guard.authenticate(request({}), url('/?token=wrong')).ok).toBe(false)
    const login = guard.authenticate(request({}), url('/overview?token=t0ken&x=1'))
    if (login.ok !== 'login') throw new Error('expected a login')
    expect(login.location).toBe('/overview?x=1')
    expect(login.cookie).toContain('HttpOnly')
    expect(login.cookie).toContain('SameSite=Strict')
    expect(login.cookie).not.toContain('t0ken')
    const session = readCookie(login.cookie.split(';')[0], 'reflow_ui_session')!
    expect(guard.authenticate(request({ cookie: `a=b; reflow_ui_session=${session}` }), url('/'))).toEqual({ ok: true })
    expect(createGuard(parseAuth('t0ken')).authenticate(request({ cookie: `reflow_ui_session=${session}` }), url('/')).ok).toBe(false)
  })

  test('POSTs need a same-origin browser header AND the CSRF token', () => {
    const guard = createGuard(null)
    const form = (csrf: string | null) => new URLSearchParams(csrf === null ? {} : { csrf })
    const host = { host: '127.0.0.1:4321' }
    const ok = guard.checkPost(request({ ...host, origin: 'http://127.0.0.1:4321', 'sec-fetch-site': 'same-origin' }), form(guard.csrfToken))
    expect(ok).toBeNull()
    expect(guard.checkPost(request({ ...host, origin: 'http://127.0.0.1:4321' }), form(guard.csrfToken))).toBeNull()
    expect(guard.checkPost(request({ ...host, origin: 'http://127.0.0.1:4321' }), form(null))).toContain('CSRF')
    expect(guard.checkPost(request({ ...host, origin: 'http://127.0.0.1:4321' }), form('stale'))).toContain('CSRF')
    expect(guard.checkPost(request({ ...host, origin: 'http://evil.example' }), form(guard.csrfToken))).toContain('cross-site')
    expect(guard.checkPost(request({ ...host, 'sec-fetch-site': 'cross-site' }), form(guard.csrfToken))).toContain('cross-site')
    expect(guard.checkPost(request({ ...host, origin: 'null' }), form(guard.csrfToken))).toContain('cross-site')
    expect(guard.checkPost(request(host), form(guard.csrfToken))).toContain('no Origin')
    expect(createGuard(null).csrfToken).not.toBe(guard.csrfToken)
  })
})

describe('chart buckets', () => {
  const MINUTE = 60_000
  const stats = (windows: [number, { workflow: string; completed: number; failed: number }[]][]): RunStats => ({
    counts: [],
    oldestPending: null,
    windows: windows.map(([windowMs, byWorkflow]) => ({ windowMs, byWorkflow })),
  })

  test('bucket k is window k minus window k-1, oldest bucket first, per workflow', () => {
    expect(bucketWindows(MINUTE, 3)).toEqual([MINUTE, 2 * MINUTE, 3 * MINUTE])
    const series = bucketCounts(
      stats([
        [MINUTE, [{ workflow: 'a', completed: 2, failed: 0 }]],
        [2 * MINUTE, [{ workflow: 'a', completed: 2, failed: 1 }, { workflow: 'b', completed: 4, failed: 0 }]],
        [3 * MINUTE, [{ workflow: 'a', completed: 7, failed: 1 }, { workflow: 'b', completed: 4, failed: 0 }]],
      ]),
      MINUTE,
      3,
    )
    expect([...series.keys()]).toEqual(['a', 'b'])
    expect(series.get('a')).toEqual({ completed: [5, 0, 2], failed: [0, 1, 0] })
    expect(series.get('b')).toEqual({ completed: [0, 4, 0], failed: [0, 0, 0] })
    expect(totalSeries(series.values(), 3)).toEqual({ completed: [5, 4, 2], failed: [0, 1, 0] })
  })

  test('never below zero, and a missing window is an error, not a zero', () => {
    const series = bucketCounts(stats([[MINUTE, [{ workflow: 'a', completed: 3, failed: 0 }]], [2 * MINUTE, [{ workflow: 'a', completed: 2, failed: 0 }]]]), MINUTE, 2)
    expect(series.get('a')!.completed).toEqual([0, 3])
    expect(() => bucketCounts(stats([[MINUTE, []]]), MINUTE, 2)).toThrow('no window')
  })
})

describe('runs filters', () => {
  test('the URL gives the list query; bad values are reported, not ignored', () => {
    const { query, problems } = runsQuery(new URLSearchParams({ status: 'failed', workflow: 'w', id: '01a', key: 'k', after: '2026-01-02T03:04' }))
    expect(problems).toEqual([])
    expect(query).toEqual({ limit: 50, statuses: ['failed'], workflow: 'w', idPrefix: '01a', idempotencyKey: 'k', createdAfter: Date.UTC(2026, 0, 2, 3, 4) })
    expect(runsQuery(new URLSearchParams({ status: 'nope', before: 'yesterday' })).problems).toHaveLength(2)
    expect(parseUtc('2026-01-02T03:04:05+01:00')).toBe(Date.UTC(2026, 0, 2, 2, 4, 5))
  })
})
