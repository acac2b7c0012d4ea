/**
 * Loading the user's workflow module (`reflow worker FILE.ts`, `reflow enqueue FILE.ts …`).
 *
 * The module's `import … from 'reflow-ts'` (and its subpaths) must resolve to the library inside
 * this binary, even where no reflow-ts package is installed, and must yield the very objects the
 * CLI's engine uses. A Bun runtime plugin registers each entry as a virtual module whose exports are
 * the embedded module's own. (Virtual modules, not onResolve: Bun's runtime onResolve does not fire
 * for bare specifiers.) Every other import of the module resolves as usual from its own directory.
 */

import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import * as reflow from '../index.ts'
import * as sqliteBun from '../sqlite-bun.ts'
import * as testing from '../test.ts'
import type { AnyWorkflow } from '../workflow/workflow.ts'
import { CliError } from './args.ts'
import { oneLine } from './output.ts'

/**
 * The package entries a workflow module may import. Inside the binary the runtime is always Bun, so
 * every SQLite entry is the bun:sqlite one (same class, same file format; no native module needed).
 */
const EMBEDDED: Record<string, object> = {
  'reflow-ts': reflow,
  'reflow-ts/sqlite': sqliteBun,
  'reflow-ts/sqlite-bun': sqliteBun,
  'reflow-ts/sqlite-node': sqliteBun,
  'reflow-ts/test': testing,
}

/** Makes `import 'reflow-ts'` (and its subpaths) resolve to this binary's library, from any module. */
export function provideEmbeddedLibrary(): void {
  Bun.plugin({
    name: 'reflow-ts (embedded)',
    setup(build) {
      for (const [specifier, module] of Object.entries(EMBEDDED)) {
        build.module(specifier, () => ({ exports: { ...module }, loader: 'object' }))
      }
    },
  })
}

/** A value made by createWorkflow(): what the engine needs to run it. */
export function isWorkflow(value: unknown): value is AnyWorkflow {
  const candidate = value as Partial<AnyWorkflow> | null
  return (
    typeof candidate === 'object' && candidate !== null &&
    typeof candidate.name === 'string' && Array.isArray(candidate.steps) && typeof candidate.parseInput === 'function'
  )
}

/**
 * Imports `file` (relative to the working directory) and returns every workflow it exports,
 * directly or in an exported array, each once.
 */
export async function loadWorkflows(file: string): Promise<AnyWorkflow[]> {
  const path = resolve(file)
  if (!existsSync(path)) throw new CliError(`no such file: ${file}`)
  provideEmbeddedLibrary()
  let module: Record<string, unknown>
  try {
    module = await import(pathToFileURL(path).href)
  } catch (error) {
    throw new CliError(`cannot load ${file}: ${oneLine(error instanceof Error ? error.message : String(error))}`)
  }
  const found = new Set<AnyWorkflow>()
  for (const value of Object.values(module)) {
    if (isWorkflow(value)) found.add(value)
    else if (Array.isArray(value)) for (const item of value) if (isWorkflow(item)) found.add(item)
  }
  if (found.size === 0) {
    throw new CliError(`${file} exports no workflows (export the values createWorkflow() returns)`)
  }
  return [...found]
}
