/**
 * `reflow vacuum`: rebuilds the database file without its free pages, so it shrinks after a large
 * purge. SQLite reuses the pages deleted rows free for later writes, so a file kept by retention
 * stops growing without this; vacuum only returns the space to the file system. It takes the write
 * lock for its whole duration (workers wait, up to their busy timeout) and needs free disk space
 * about the size of the file.
 *
 * --json prints: { before: { bytes: number, free: number }, after: { bytes: number, free: number } }
 */

import { vacuumFile } from '../storage/sqlite/vacuum.ts'
import { CliError } from './args.ts'
import type { Command } from './command.ts'
import { DB_FLAG, JSON_FLAG, databasePath, isPostgresUrl, openWritable } from './database.ts'

export const vacuumCommand: Command = {
  name: 'vacuum',
  summary: 'Shrink the database file by rewriting it without free pages.',
  usage: 'reflow vacuum [--db PATH] [--json]',
  details: `Space freed by purge and retention is reused by later writes, so the file stops growing, but it
does not shrink by itself. vacuum rewrites the file compactly. It holds the write lock while it runs
(workers on the file wait) and needs free disk space about the size of the file.`,
  flags: { ...DB_FLAG, ...JSON_FLAG },
  positionals: { min: 0, max: 0, names: '' },

  async run(args, out) {
    const db = databasePath(args)
    if (isPostgresUrl(db)) throw new CliError('vacuum compacts a SQLite file; on Postgres, autovacuum reclaims the space of purged runs')
    const storage = await openWritable(db, { create: false })
    if (!('path' in storage)) throw new CliError('vacuum compacts a SQLite file')
    try {
      const result = await vacuumFile(storage)
      if (args.boolean('json')) out.json(result)
      else out.line(`Vacuumed: ${mb(result.before.bytes)} → ${mb(result.after.bytes)} (${mb(result.before.free)} was free).`)
      return 0
    } finally {
      await storage.close()
    }
  },
}

function mb(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MB`
}
