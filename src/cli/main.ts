/**
 * The `reflow` command line: run, inspect and repair the workflows in one reflow SQLite file or
 * Postgres schema.
 * Compiled into a single executable by scripts/build-cli.ts. The npm `bin` entry, src/cli/bin.js, runs
 * it under Node from dist/cli/ (built with the library) or under Bun from src/; #cli-runtime
 * (runtime.ts) holds what differs between the two.
 *
 * Exit codes: 0 success, 1 failure (one line on stderr: missing database, unknown run, not a reflow
 * database, a run in the wrong state, invalid input), 2 usage error (the message and a usage line).
 *
 * @example
 * reflow worker workflows.ts --concurrency 4
 * reflow runs --status failed
 * reflow retry 0b9f2c1e-…
 * reflow emit expense.approved e-1 '{"by":"ada"}' --workflows workflows.ts
 * reflow ui --port 4321
 */

import { parseArgs, UsageError } from './args.ts'
import { cancelCommand } from './cancel.ts'
import { commandHelp, type Command } from './command.ts'
import { emitCommand } from './emit.ts'
import { enqueueCommand } from './enqueue.ts'
import { createOutput, flushOutput, oneLine, printable, type Output } from './output.ts'
import { purgeCommand } from './purge.ts'
import { retryCommand } from './retry.ts'
import { runsCommand } from './runs.ts'
import { schedulesCommand } from './schedules.ts'
import { showCommand } from './show.ts'
import { statsCommand } from './stats.ts'
import { uiCommand } from './ui.ts'
import { vacuumCommand } from './vacuum.ts'
import { versionCommand } from './version.ts'
import { workerCommand } from './worker.ts'

const COMMANDS: readonly Command[] = [
  runsCommand,
  showCommand,
  cancelCommand,
  retryCommand,
  purgeCommand,
  vacuumCommand,
  statsCommand,
  schedulesCommand,
  workerCommand,
  enqueueCommand,
  emitCommand,
  uiCommand,
  versionCommand,
]

const USAGE = 'reflow <command> [options]   (reflow --help lists the commands)'

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return `reflow: run, inspect and repair reflow-ts workflows in one SQLite file or a Postgres database.

Usage: reflow <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Every command takes --help. Commands that use a database take --db PATH or a postgres:// URL
(default: $REFLOW_DB, else ./reflow.db); most take --json for output with a stable shape. Colours only on a terminal,
never with NO_COLOR set.

Exit codes: 0 success, 1 failure, 2 usage error.`
}

export async function main(argv: readonly string[], out: Output): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined) {
    out.note(overview())
    return 2
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = rest[0] === undefined ? undefined : COMMANDS.find((c) => c.name === rest[0])
    if (rest[0] !== undefined && !topic) return usageError(out, `unknown command "${rest[0]}"`, USAGE)
    out.line(topic ? commandHelp(topic) : overview())
    return 0
  }
  const command = name === '--version' ? versionCommand : COMMANDS.find((c) => c.name === name)
  if (!command) {
    const what = name.startsWith('-') ? `unknown flag ${name} (flags go after the command)` : `unknown command "${name}"`
    return usageError(out, what, USAGE)
  }
  try {
    const args = parseArgs(rest, command)
    if (args.help) {
      out.line(commandHelp(command))
      return 0
    }
    return await command.run(args, out)
  } catch (error) {
    if (error instanceof UsageError) return usageError(out, `${command.name}: ${error.message}`, error.usage)
    out.note(`reflow: ${oneLine(error instanceof Error ? error.message : String(error))}`)
    if (process.env.REFLOW_DEBUG && error instanceof Error && error.stack) out.note(error.stack.split('\n').map(printable).join('\n'))
    return 1
  }
}

function usageError(out: Output, message: string, usage: string): number {
  out.note(`reflow: ${oneLine(message)}`)
  out.note(`usage: ${usage}`)
  return 2
}

const code = await main(process.argv.slice(2), createOutput())
await flushOutput()
process.exit(code)
