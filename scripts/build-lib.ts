/**
 * Builds dist/ for npm: per-file ESM JavaScript and .d.ts from one `tsc -p tsconfig.build.json`
 * (unbundled, so every entry shares one copy of each module and `instanceof` on errors holds across
 * entry points), then checks that every target of package.json's exports and imports maps exists.
 * dist/cli/ is the `reflow` CLI for Node (the npm bin runs it); it is no API, so it ships without
 * declarations.
 *
 * tsc rewrites relative `.ts` specifiers to `.js` in the JavaScript it emits but leaves them as `.ts`
 * in declarations. TypeScript 5 resolves those to the .d.ts beside them, earlier versions reject
 * them; they are rewritten here so the declarations name the files the package ships.
 */

import { existsSync } from 'node:fs'
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'

const root = path.resolve(import.meta.dir, '..')
const dist = path.join(root, 'dist')
const RELATIVE_TS_SPECIFIER = /(['"])(\.{1,2}\/[^'"]*)\.ts\1/g

export async function buildLibrary(): Promise<void> {
  await clean()
  const tsc = Bun.spawnSync([process.execPath, Bun.resolveSync('typescript/bin/tsc', root), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdout: 'inherit',
    stderr: 'inherit',
  })
  if (tsc.exitCode !== 0) throw new Error(`tsc -p tsconfig.build.json failed with exit code ${tsc.exitCode}`)
  let files = 0
  for await (const file of new Bun.Glob('**/*.{js,d.ts}').scan({ cwd: dist })) {
    const full = path.join(dist, file)
    const text = await readFile(full, 'utf8')
    const rewritten = text.replace(RELATIVE_TS_SPECIFIER, '$1$2.js$1')
    if (rewritten !== text) await writeFile(full, rewritten)
    files++
  }
  for await (const file of new Bun.Glob('cli/**/*.d.ts').scan({ cwd: dist })) {
    await rm(path.join(dist, file))
    files--
  }
  const { exports, imports } = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'))
  const missing = [...exportTargets(exports), ...exportTargets(imports)].filter((target) => !existsSync(path.join(root, target)))
  if (missing.length > 0) throw new Error(`package.json exports or imports targets missing after the build: ${missing.join(', ')}`)
  console.log(`dist/: ${files} files (.js and .d.ts); every exports and imports target exists`)
}

/** Removes what a previous library build left, keeping anything else in dist/ (the compiled CLI). */
async function clean(): Promise<void> {
  if (!existsSync(dist)) return
  for (const entry of await readdir(dist, { withFileTypes: true })) {
    if (entry.isDirectory() || entry.name.endsWith('.js') || entry.name.endsWith('.d.ts')) {
      await rm(path.join(dist, entry.name), { recursive: true, force: true })
    }
  }
}

/** Every file path in an exports map, whatever the nesting of subpaths and conditions. */
function exportTargets(exports: unknown): string[] {
  if (typeof exports === 'string') return [exports]
  if (exports === null || typeof exports !== 'object') return []
  return Object.values(exports).flatMap(exportTargets)
}
