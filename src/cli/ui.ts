/**
 * `reflow ui`: serves the dashboard (src/ui) on the database until SIGINT or SIGTERM. It opens the
 * database as the other commands do (read-only with --read-only) and from then on uses only the
 * storage's store, the inspector and close(), so it works on any backend database.ts can open.
 *
 * Output: one line on stdout once it listens, `reflow ui: listening on http://127.0.0.1:4321`
 * (with --port 0, the port the system picked).
 */

import { startUi, UnsafeBindError } from '../ui/server.ts'
import { isLoopback, parseAuth, type Auth } from '../ui/auth.ts'
import type { Command } from './command.ts'
import { DB_FLAG, databasePath, openReadonly, openWritable } from './database.ts'
import { printable, type Output } from './output.ts'
import { IMPORT_TIMEOUT_FLAG, loadWorkflows } from './workflow-module.ts'

export const uiCommand: Command = {
  name: 'ui',
  summary: 'Serve the web dashboard: runs, run details, overview, actions.',
  usage: 'reflow ui [--port 4321] [--host 127.0.0.1] [--auth TOKEN|USER:PASSWORD] [--read-only] [--workflows FILE.ts] ' +
    '[--db PATH]',
  details: `Serves a dashboard (no network needed: its assets are inside reflow) until Ctrl-C / SIGTERM: runs with
filters and live updates, each run's steps, attempts, errors, input and outputs, an overview of throughput,
queue depth, stuck-looking runs and schedules; and the actions cancel, retry (from a step), emit an event,
and, with --workflows, start a run whose input the workflow's schema validates.
It listens on 127.0.0.1 only unless --host says otherwise, and any other host needs --auth: a TOKEN
(sent as "Authorization: Bearer TOKEN", or opened once as ?token=TOKEN, which sets a cookie) or
USER:PASSWORD (HTTP Basic). --read-only opens the database read-only and offers no actions.`,
  flags: {
    port: { type: 'string', value: 'N', description: 'port to listen on (default 4321; 0 picks a free one)' },
    host: { type: 'string', value: 'HOST', description: 'address to listen on (default 127.0.0.1)' },
    auth: { type: 'string', value: 'SECRET', description: 'require a token, or USER:PASSWORD for HTTP Basic' },
    'read-only': { type: 'boolean', description: 'no actions; the database is opened read-only' },
    workflows: { type: 'string', value: 'FILE.ts', description: 'offer "start a run", validated by these workflows' },
    ...IMPORT_TIMEOUT_FLAG,
    ...DB_FLAG,
  },
  positionals: { min: 0, max: 0, names: '' },

  async run(args, out) {
    const port = args.integer('port', 4321, 0)
    if (port > 65_535) throw args.usageError(`--port must be at most 65535, got ${port}`)
    const host = args.string('host') ?? '127.0.0.1'
    const authText = args.string('auth')
    let auth: Auth | null = null
    try {
      auth = authText === undefined ? null : parseAuth(authText)
    } catch (error) {
      throw args.usageError((error as Error).message)
    }
    if (auth === null && !isLoopback(host)) throw args.usageError(new UnsafeBindError(host).message)
    const readOnly = args.boolean('read-only')
    const file = args.string('workflows')
    const workflows = file === undefined ? null : await loadWorkflows(file, args)
    const path = databasePath(args)
    const storage = readOnly ? (await openReadonly(path)).storage : await openWritable(path, { create: false })
    try {
      const ui = await startUi({ storage, host, port, auth, readOnly, workflows })
      out.line(`reflow ui: listening on ${ui.url}${readOnly ? ' (read-only)' : ''}`)
      const signal = await signalled(out)
      out.note(`reflow ui: ${signal}, stopping`)
      await ui.close()
      return 0
    } finally {
      storage.close()
    }
  },
}

/** Resolves with the first SIGINT or SIGTERM; a second one exits at once. */
function signalled(out: Output): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) {
        out.note(`reflow ui: ${printable(signal)} again, exiting`)
        process.exit(130)
      }
      received = true
      resolve(signal)
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}
