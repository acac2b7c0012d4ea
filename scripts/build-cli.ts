/**
 * Compiles the `reflow` CLI (src/cli/main.ts) into one executable with `bun build --compile`. The
 * executable never autoloads a bunfig.toml or .env from the directory it runs in: those configure the
 * user's own Bun runs (preloads, plugins, environment), not reflow's. It does read tsconfig.json and
 * package.json, as Bun itself would, so the workflow module that `reflow worker FILE.ts` imports
 * resolves its `paths` aliases and `#imports` the way the user's project does.
 */

import { resolve } from 'node:path'

const ROOT = resolve(import.meta.dir, '..')

/** Builds dist/reflow (or `outfile`) and returns its path; throws with Bun's messages on failure. */
export async function buildBinary(outfile: string = resolve(ROOT, 'dist', 'reflow')): Promise<string> {
  const result = await Bun.build({
    entrypoints: [resolve(ROOT, 'src', 'cli', 'main.ts')],
    compile: { outfile, autoloadDotenv: false, autoloadBunfig: false, autoloadTsconfig: true, autoloadPackageJson: true },
  })
  if (!result.success) {
    throw new AggregateError(result.logs, `Compiling the reflow CLI failed:\n${result.logs.map(String).join('\n')}`)
  }
  return outfile
}
