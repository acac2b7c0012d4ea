/**
 * `reflow version`: the reflow-ts version and the runtime running it.
 *
 * --json prints: { name: "reflow-ts", version: string, bun: string } under Bun (the compiled binary),
 * { name: "reflow-ts", version: string, node: string } under Node.
 */

import { runtime } from '#cli-runtime'
import type { Command } from './command.ts'
import { JSON_FLAG } from './database.ts'

export const versionCommand: Command = {
  name: 'version',
  summary: 'Print the reflow-ts version.',
  usage: 'reflow version [--json]',
  details: 'Also available as `reflow --version`. Prints the library version and the runtime (Bun or Node) version.',
  flags: { ...JSON_FLAG },
  positionals: { min: 0, max: 0, names: '' },

  async run(args, out) {
    const { name, version, packageName, packageVersion } = runtime
    if (args.boolean('json')) out.json({ name: packageName, version: packageVersion, [name]: version })
    else out.line(`${packageName} ${packageVersion} (${name} ${version})`)
    return 0
  },
}
