/**
 * A private Postgres server for tests that stop and start it: `initdb` into a temporary directory,
 * `pg_ctl` on a free port with its socket in that directory, trust auth. As root, every command
 * runs as the `postgres` OS user (the server refuses to run as root), which owns the directory.
 */

import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Where Debian's PostgreSQL binaries are, else the first `initdb` on PATH. */
function findBinDir(): string | null {
  for (const version of ['17', '16', '15', '14']) {
    const dir = `/usr/lib/postgresql/${version}/bin`
    if (existsSync(join(dir, 'initdb'))) return dir
  }
  const initdb = Bun.which('initdb')
  return initdb ? join(initdb, '..') : null
}

export const PG_BIN = process.env.REFLOW_TEST_PG_BIN || findBinDir()

/** Why a private instance cannot be made here, or null when it can. */
export function privateInstanceUnavailable(): string | null {
  if (!PG_BIN || !existsSync(join(PG_BIN, 'initdb')) || !existsSync(join(PG_BIN, 'pg_ctl'))) {
    return 'no initdb/pg_ctl (PostgreSQL server binaries) on this machine'
  }
  if (process.getuid?.() === 0 && !Bun.which('runuser')) return 'running as root without runuser to drop to the postgres user'
  return null
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export interface PostgresInstance {
  port: number
  dir: string
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string
  start(): void
  /** `pg_ctl stop -m immediate`: the server dies at once, as in a crash; uncommitted work is lost. */
  stopImmediately(): void
  /** Stops the server if it runs and removes its directory. */
  remove(): void
}

/** initdb into a fresh directory; the server is not started. */
export async function createInstance(): Promise<PostgresInstance> {
  const asRoot = process.getuid?.() === 0
  const dir = mkdtempSync(join(tmpdir(), 'reflow-pg-'))
  if (asRoot) {
    const postgres = Bun.spawnSync(['id', '-u', 'postgres'])
    const group = Bun.spawnSync(['id', '-g', 'postgres'])
    chownSync(dir, Number(postgres.stdout.toString()), Number(group.stdout.toString()))
  }
  const data = join(dir, 'data')
  const run = (argv: string[]) => {
    const command = asRoot ? ['runuser', '-u', 'postgres', '--', ...argv] : argv
    const result = Bun.spawnSync(command, { stdout: 'pipe', stderr: 'pipe' })
    if (result.exitCode !== 0) throw new Error(`${argv.join(' ')} failed (${result.exitCode}):\n${result.stdout}${result.stderr}`)
  }
  run([join(PG_BIN!, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'])
  const port = await freePort()
  const pgCtl = join(PG_BIN!, 'pg_ctl')
  let running = false
  return {
    port,
    dir,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start() {
      run([pgCtl, '-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '30', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'])
      running = true
    },
    stopImmediately() {
      run([pgCtl, '-D', data, '-m', 'immediate', '-w', 'stop'])
      running = false
    },
    remove() {
      if (running) {
        try {
          run([pgCtl, '-D', data, '-m', 'immediate', '-w', 'stop'])
        } catch {
          // Already gone: nothing to stop.
        }
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
