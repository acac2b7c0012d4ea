/**
 * The CLI's argument parser: `--flag value`, `--flag=value`, boolean `--flag`, `-h`, and `--` to end
 * flags. Anything a command did not declare is a usage error (exit 2), never silently ignored.
 */

import { assertWellFormed } from '../core/identifiers.ts'
import type { RunStatus } from '../core/types.ts'

/** Wrong invocation: the message plus the command's usage line go to stderr, exit code 2. */
export class UsageError extends Error {
  constructor(message: string, readonly usage: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** A failure that is not the caller's syntax (missing database, unknown run): one line on stderr, exit 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'CliError'
  }
}

export interface FlagSpec {
  type: 'string' | 'boolean'
  /** Placeholder shown in usage, e.g. PATH. */
  value?: string
  description: string
}

export interface CommandSpec {
  usage: string
  flags: Record<string, FlagSpec>
  /** Accepted positional arguments: at least `min`, at most `max`. */
  positionals: { min: number; max: number; names: string }
}

export interface ParsedArgs {
  readonly positionals: readonly string[]
  readonly help: boolean
  string(name: string): string | undefined
  boolean(name: string): boolean
  /** A positive integer flag, or `fallback` when absent. */
  integer(name: string, fallback: number, min?: number): number
  /** A usage error carrying this command's usage line. */
  usageError(message: string): UsageError
}

/** Flags every command accepts. */
export const HELP_FLAG: Record<string, FlagSpec> = {
  help: { type: 'boolean', description: 'show this help' },
}

export function parseArgs(argv: readonly string[], spec: CommandSpec): ParsedArgs {
  const flags = { ...HELP_FLAG, ...spec.flags }
  const values = new Map<string, string | true>()
  const positionals: string[] = []
  const fail = (message: string) => new UsageError(message, spec.usage)

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1))
      break
    }
    if (arg === '-h') {
      values.set('help', true)
      continue
    }
    if (!arg.startsWith('--')) {
      if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) throw fail(`unknown flag ${arg}`)
      positionals.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq === -1 ? undefined : eq)
    const flag = Object.hasOwn(flags, name) ? flags[name] : undefined
    if (!flag) throw fail(`unknown flag --${name}`)
    if (flag.type === 'boolean') {
      if (eq !== -1) throw fail(`--${name} takes no value`)
      values.set(name, true)
      continue
    }
    let value: string | undefined
    if (eq !== -1) value = arg.slice(eq + 1)
    else {
      value = argv[i + 1]
      if (value === undefined || (value.startsWith('--') && value.length > 2)) throw fail(`--${name} needs a value`)
      i++
    }
    if (values.has(name)) throw fail(`--${name} given twice`)
    values.set(name, value)
  }

  const help = values.has('help')
  if (!help) {
    const { min, max } = spec.positionals
    if (positionals.length < min) throw fail(`missing ${spec.positionals.names.split(' ').slice(positionals.length, min).join(' ')}`)
    if (positionals.length > max) throw fail(`unexpected argument ${JSON.stringify(positionals[max])}`)
  }

  return {
    positionals,
    help,
    string: (name) => {
      const value = values.get(name)
      return typeof value === 'string' ? value : undefined
    },
    boolean: (name) => values.get(name) === true,
    integer(name, fallback, min = 1) {
      const value = values.get(name)
      if (typeof value !== 'string') return fallback
      const n = Number(value)
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
        throw fail(`--${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`)
      }
      return n
    },
    usageError: fail,
  }
}

/** A comma-separated status flag, each one checked against `allowed`; undefined when absent. */
export function parseStatusList(args: ParsedArgs, flag: string, allowed: readonly RunStatus[]): RunStatus[] | undefined {
  const list = args.string(flag)
  if (list === undefined) return undefined
  const statuses = list.split(',').map((s) => s.trim()).filter(Boolean)
  if (statuses.length === 0) throw args.usageError(`--${flag} needs at least one status`)
  for (const status of statuses) {
    if (!allowed.includes(status as RunStatus)) {
      throw args.usageError(`--${flag}: "${status}" is not one of ${allowed.join(', ')}`)
    }
  }
  return statuses as RunStatus[]
}

/** The RUN_ID positional (the first), refused unless it is well-formed Unicode as every stored id is. */
export function runIdArgument(args: ParsedArgs): string {
  const runId = args.positionals[0]!
  assertWellFormed('Run id', runId)
  return runId
}

/** The flag table of a command's help text. */
export function describeFlags(flags: Record<string, FlagSpec>): string {
  const all = { ...flags, ...HELP_FLAG }
  const labels = Object.entries(all).map(([name, f]) => [`--${name}${f.value ? ` ${f.value}` : ''}`, f.description] as const)
  const width = Math.max(...labels.map(([label]) => label.length))
  return labels.map(([label, text]) => `  ${label.padEnd(width)}  ${text}`).join('\n')
}
