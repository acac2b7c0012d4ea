/**
 * `reflow version`: the reflow-ts version built into this binary.
 *
 * --json prints: { name: "reflow-ts", version: string, bun: string }
 */

import pkg from '../../package.json' with { type: 'json' }
import type { Command } from './command.ts'
import { JSON_FLAG } from './database.ts'

export const versionCommand: Command = {
  name: 'version',
  summary: 'Print the reflow-ts version.',
  usage: 'reflow version [--json]',
  details: 'Also available as `reflow --version`. Prints the library version and the Bun runtime version.',
  flags: { ...JSON_FLAG },
  positionals: { min: 0, max: 0, names: '' },

  async run(args, out) {
    if (args.boolean('json')) out.json({ name: pkg.name, version: pkg.version, bun: Bun.version })
    else out.line(`${pkg.name} ${pkg.version} (bun ${Bun.version})`)
    return 0
  },
}
