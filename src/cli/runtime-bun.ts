/**
 * `#cli-runtime` under Bun (the compiled binary, and `bunx --bun reflow`): bun:sqlite, and the user's
 * TypeScript module imported by Bun itself.
 *
 * The module's `import … from 'reflow-ts'` (and its subpaths) must resolve to the library inside
 * this binary, even where no reflow-ts package is installed, and must yield the very objects the
 * CLI's engine uses. A Bun runtime plugin registers each entry as a virtual module whose exports are
 * the embedded module's own. (Virtual modules, not onResolve: Bun's runtime onResolve does not fire
 * for bare specifiers.) Every other import of the module resolves as usual from its own directory.
 */

import pkg from '../../package.json' with { type: 'json' }
import * as reflow from '../index.ts'
import * as sqliteBun from '../sqlite-bun.ts'
import * as testing from '../test.ts'
import { StorageError } from '../core/errors.ts'
import type { PgModule } from '../storage/postgres/connection.ts'
import { PostgresStorageCore } from '../storage/postgres/storage.ts'
import type { CliRuntime } from './runtime.ts'

/**
 * The package entries a workflow module may import. Under Bun every SQLite entry is the bun:sqlite
 * one (same class, same file format; no native module needed).
 */
const EMBEDDED: Record<string, object> = {
  'reflow-ts': reflow,
  'reflow-ts/sqlite': sqliteBun,
  'reflow-ts/sqlite-bun': sqliteBun,
  'reflow-ts/sqlite-node': sqliteBun,
  'reflow-ts/test': testing,
}

/** Makes `import 'reflow-ts'` (and its subpaths) resolve to this binary's library, from any module. */
function provideEmbeddedLibrary(): void {
  Bun.plugin({
    name: 'reflow-ts (embedded)',
    setup(build) {
      for (const [specifier, module] of Object.entries(EMBEDDED)) {
        build.module(specifier, () => ({ exports: { ...module }, loader: 'object' }))
      }
    },
  })
}

export const runtime: CliRuntime = {
  name: 'bun',
  version: Bun.version,
  packageName: pkg.name,
  packageVersion: pkg.version,
  SQLiteStorage: sqliteBun.SQLiteStorage,
  async openPostgres(url, options) {
    // A literal specifier: the compiled binary bundles pg, so it needs no install.
    const pg = await import('pg').catch((error: unknown) => {
      throw new StorageError('reflow needs the pg package for postgres:// databases, which is not installed. Run: bun add pg', { cause: error })
    })
    return new PostgresStorageCore(url, options, ((pg as { default?: unknown }).default ?? pg) as PgModule)
  },
  importModule(url) {
    provideEmbeddedLibrary()
    return import(url)
  },
}
