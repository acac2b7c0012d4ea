/**
 * The compiled `reflow` binary's help, version, usage errors, colour handling, and the npm bin shim
 * run by Bun.
 */

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { populate, type Fixture } from './fixture.ts'
import { cleanEnv, cli, cliJson, reflowBinary, removeTempDirs, tempDir } from './helpers.ts'

let dir: string
let db: string
let ids: Fixture

beforeAll(async () => {
  dir = tempDir()
  db = path.join(dir, 'reflow.db')
  ids = await populate(db)
  await reflowBinary()
}, 60_000)
afterAll(removeTempDirs)

describe('help, version, usage', () => {
  test('--help works for the CLI and for every command, exit 0', async () => {
    const top = await cli(['--help'])
    expect(top.code).toBe(0)
    const commands = ['runs', 'show', 'cancel', 'retry', 'purge', 'vacuum', 'stats', 'worker', 'enqueue', 'version']
    for (const name of commands) expect(top.stdout).toMatch(new RegExp(`^  ${name}\\s+\\S`, 'm'))
    for (const name of commands) {
      for (const args of [[name, '--help'], [name, '-h'], ['help', name]]) {
        const { code, stdout, stderr } = await cli(args)
        expect(code).toBe(0)
        expect(stderr).toBe('')
        expect(stdout).toStartWith(`Usage: reflow ${name}`)
        expect(stdout).toContain('--help')
      }
    }
  })

  test('version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(path.join(import.meta.dir, '../../package.json'), 'utf8'))
    expect((await cli(['version'])).stdout).toBe(`reflow-ts ${version} (bun ${Bun.version})\n`)
    expect((await cli(['--version'])).stdout).toStartWith(`reflow-ts ${version}`)
    expect(await cliJson(['version'])).toEqual({ name: 'reflow-ts', version, bun: Bun.version })
  })

  test('the npm bin shim, run by Bun, runs the same CLI from the sources (test/node/cli.node.mjs runs it under Node)', async () => {
    const shim = path.join(import.meta.dir, '../../src/cli/bin.js')
    expect(readFileSync(shim, 'utf8')).toStartWith('#!/usr/bin/env node\n')
    const run = (args: string[]) => Bun.spawnSync([process.execPath, shim, ...args], { env: cleanEnv(), cwd: dir })
    const viaShim = run(['runs', '--db', db, '--json'])
    expect(viaShim.exitCode).toBe(0)
    expect(JSON.parse(viaShim.stdout.toString())).toEqual(await cliJson(['runs', '--db', db]))
    expect(run(['version']).stdout.toString()).toBe((await cli(['version'])).stdout)
    expect(run(['show', 'nope', '--db', db]).exitCode).toBe(1)
  })

  test('no command, an unknown command or a flag before the command: exit 2', async () => {
    const none = await cli([])
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('Usage: reflow <command>')
    const unknown = await cli(['frobnicate'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toBe('reflow: unknown command "frobnicate"\nusage: reflow <command> [options]   (reflow --help lists the commands)\n')
    expect((await cli(['--db', db, 'runs'])).code).toBe(2)
    expect((await cli(['help', 'frobnicate'])).code).toBe(2)
  })
})

describe('colour', () => {
  // util-linux `script` runs the binary on a pseudo-terminal, the one place colours belong.
  const hasScript = Bun.spawnSync(['script', '--version']).exitCode === 0

  test.skipIf(!hasScript)('colours on a terminal, none under NO_COLOR, none when piped', async () => {
    const binary = await reflowBinary()
    const onTty = (env: Record<string, string>) => {
      const command = `${binary} runs --db ${db}`
      const result = Bun.spawnSync(['script', '-qec', command, '/dev/null'], { env: cleanEnv(env), stdout: 'pipe', stderr: 'pipe' })
      return result.stdout.toString()
    }
    const coloured = onTty({})
    expect(coloured).toContain('\x1b[31mfailed\x1b[39m')
    expect(coloured).toContain(ids.oldFailed)
    const plain = onTty({ NO_COLOR: '1' })
    expect(plain).toContain(ids.oldFailed)
    expect(plain).not.toContain('\x1b[')
    for (const args of [['runs'], ['show', ids.oldFailed], ['stats']]) {
      expect((await cli([...args, '--db', db])).stdout).not.toContain('\x1b[')
    }
  })
})
