/**
 * `#cli-runtime` outside Bun (`npx reflow`, through the built dist/cli/): better-sqlite3, and the
 * user's workflows module imported by Node. Node imports JavaScript (.js, .mjs), which resolves
 * 'reflow-ts' from the user's project as usual; TypeScript only where Node itself can (type
 * stripping, Node 22.18 and later), else the error says to run reflow under Bun.
 */

import { readFileSync } from 'node:fs'
import { SQLiteStorage } from '../sqlite-node.ts'
import { CliError } from './args.ts'
import type { CliRuntime } from './runtime.ts'

// dist/cli/ and src/cli/ are both two levels below the package root.
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string }

export const runtime: CliRuntime = {
  name: 'node',
  version: process.versions.node,
  packageName: pkg.name,
  packageVersion: pkg.version,
  SQLiteStorage,
  async openPostgres(url, options) {
    // Loaded on demand: better-sqlite3 users need no pg, and pg users no better-sqlite3 build.
    const { PostgresStorage } = await import('../postgres.ts')
    return new PostgresStorage(url, options)
  },
  async importModule(url, file) {
    try {
      return await import(url)
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw error
      throw new CliError(
        `cannot load ${file}: Node ${process.version} does not import TypeScript. Run reflow under Bun for it ` +
          '(bunx --bun reflow ..., or the compiled reflow binary), or give it a .js or .mjs file.',
      )
    }
  },
}
