/**
 * Loading the user's workflow module (`reflow worker FILE.ts`, `reflow enqueue FILE.ts …`). The
 * runtime imports it (#cli-runtime): under Bun its `import 'reflow-ts'` resolves to the library inside
 * reflow itself; under Node it resolves from the user's project, and TypeScript needs Bun.
 *
 * Importing runs the module's top-level code, which reflow does not control: a top-level await that
 * never settles fails the import after a timeout (--import-timeout) instead of hanging, and a
 * process.exit during the import is reported on stderr with a non-zero exit code instead of
 * passing for success.
 */

import { existsSync, writeSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { runtime } from '#cli-runtime'
import type { AnyWorkflow } from '../workflow/workflow.ts'
import { CliError, type FlagSpec, type ParsedArgs } from './args.ts'
import { oneLine, printable } from './output.ts'

/** A value made by createWorkflow(): what the engine needs to run it. */
export function isWorkflow(value: unknown): value is AnyWorkflow {
  const candidate = value as Partial<AnyWorkflow> | null
  return (
    typeof candidate === 'object' && candidate !== null &&
    typeof candidate.name === 'string' && Array.isArray(candidate.steps) && typeof candidate.parseInput === 'function'
  )
}

export const DEFAULT_IMPORT_TIMEOUT_MS = 30_000

export const IMPORT_TIMEOUT_FLAG: Record<string, FlagSpec> = {
  'import-timeout': {
    type: 'string',
    value: 'MS',
    description: `how long FILE.ts may take to load (default ${DEFAULT_IMPORT_TIMEOUT_MS})`,
  },
}

/**
 * Imports the workflows file a command names (`file`, relative to the working directory; the
 * --import-timeout flag in `args`) and returns every workflow it exports, directly or in an exported
 * array, each once.
 */
export async function loadWorkflows(file: string, args: ParsedArgs): Promise<AnyWorkflow[]> {
  const found = workflowsOf(await loadModule(file, args))
  if (found.length === 0) {
    throw new CliError(`${file} exports no workflows (export the values createWorkflow() returns)`)
  }
  return found
}

/** Every workflow a module exports, directly or in an exported array, each once. */
export function workflowsOf(module: Record<string, unknown>): AnyWorkflow[] {
  const found = new Set<AnyWorkflow>()
  for (const value of Object.values(module)) {
    if (isWorkflow(value)) found.add(value)
    else if (Array.isArray(value)) for (const item of value) if (isWorkflow(item)) found.add(item)
  }
  return [...found]
}

/** Imports the module a command names, guarded as described at the top of this file. */
export async function loadModule(file: string, args: ParsedArgs): Promise<Record<string, unknown>> {
  const timeoutMs = args.integer('import-timeout', DEFAULT_IMPORT_TIMEOUT_MS)
  const path = resolve(file)
  if (!existsSync(path)) throw new CliError(`no such file: ${file}`)
  return importGuarded(file, pathToFileURL(path).href, timeoutMs)
}

/**
 * import(url), guarded against what the module's top-level code may do: never finish (rejects after
 * `timeoutMs`), or end the process (the 'exit' listener says so on stderr, synchronously as exit
 * listeners must, and turns an exit code of 0 into 1).
 */
async function importGuarded(file: string, url: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const name = printable(file)
  const realExit = process.exit
  let exitCalled = false
  process.exit = ((code?: number | string | null) => {
    exitCalled = true
    return realExit.call(process, code)
  }) as typeof process.exit
  const onExit = (code: number) => {
    const how = exitCalled ? `called process.exit(${code})` : `ended the process (exit code ${code})`
    writeSync(2, `reflow: ${name} ${how} while being imported; reflow did nothing\n`)
    if (!code) process.exitCode = 1
  }
  process.on('exit', onExit)
  let timer: ReturnType<typeof setTimeout> | undefined
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const message = `${name} did not finish loading within ${timeoutMs}ms: its top-level code is still waiting ` +
        '(an await that never settles?). Use --import-timeout MS if it is only slow.'
      reject(new CliError(message))
    }, timeoutMs)
  })
  try {
    return await Promise.race([runtime.importModule(url, file), timedOut])
  } catch (error) {
    if (error instanceof CliError) throw error
    throw new CliError(`cannot load ${file}: ${oneLine(error instanceof Error ? error.message : String(error))}`)
  } finally {
    clearTimeout(timer)
    process.off('exit', onExit)
    process.exit = realExit
  }
}
