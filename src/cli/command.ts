/** The shape of one CLI command (one file per command) and its `--help` text. */

import { describeFlags, type CommandSpec, type ParsedArgs } from './args.ts'
import type { Output } from './output.ts'

export interface Command extends CommandSpec {
  name: string
  /** One line for `reflow --help`. */
  summary: string
  /** Paragraphs for `reflow NAME --help`, after the usage line. */
  details: string
  /** Does the work; returns the exit code. Throws UsageError (2) or any other error (1). */
  run(args: ParsedArgs, out: Output): Promise<number>
}

export function commandHelp(command: Command): string {
  return [`Usage: ${command.usage}`, '', command.summary, '', command.details.trim(), '', 'Options:', describeFlags(command.flags)]
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
}
