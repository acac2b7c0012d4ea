/**
 * Shared by the CLI tests: the `reflow` executable (compiled once, reused while the sources are
 * unchanged), a way to run it, temp directories, and a line reader for long-running workers.
 */

import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { buildBinary } from '../../scripts/build-cli.ts'

const ROOT = path.resolve(import.meta.dir, '../..')
const SOURCES = ['src/**/*.{ts,js}', 'scripts/build-cli.ts', 'package.json']

let binary: Promise<string> | undefined

/**
 * The compiled executable, shared by every test file of the process and reused across runs while no
 * source file is newer: it lives in the system temp dir, one per checkout (two checkouts must never
 * test each other's build), and a rebuild replaces it atomically.
 */
export function reflowBinary(): Promise<string> {
  binary ??= (async () => {
    const checkout = new Bun.CryptoHasher('sha256').update(ROOT).digest('hex').slice(0, 12)
    const dir = path.join(os.tmpdir(), `reflow-cli-test-bin-${process.getuid?.() ?? 'user'}`, Bun.version, checkout)
    const file = path.join(dir, 'reflow')
    if (existsSync(file) && newestSource() < statSync(file).mtimeMs) return file
    mkdirSync(dir, { recursive: true })
    const fresh = await buildBinary(path.join(dir, `reflow-${process.pid}.tmp`))
    renameSync(fresh, file)
    return file
  })()
  return binary
}

function newestSource(): number {
  let newest = 0
  for (const pattern of SOURCES) {
    for (const file of new Bun.Glob(pattern).scanSync({ cwd: ROOT })) newest = Math.max(newest, statSync(path.join(ROOT, file)).mtimeMs)
  }
  return newest
}

const cases: string[] = []

/** A fresh directory in the system temp dir (outside the repository); see removeTempDirs. */
export function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'reflow-cli-test-'))
  cases.push(dir)
  return dir
}

/** Removes the directories tempDir() made; each test file calls it in afterAll. */
export function removeTempDirs(): void {
  for (const dir of cases.splice(0)) rmSync(dir, { recursive: true, force: true })
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** An environment without the caller's REFLOW_DB or NO_COLOR, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? os.tmpdir() }
  return { ...env, ...extra }
}

/** Runs `reflow ...args` to its end. */
export async function cli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const child = Bun.spawn([await reflowBinary(), ...args], {
    cwd: options.cwd ?? os.tmpdir(),
    env: options.env ?? cleanEnv(),
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { code, stdout, stderr }
}

/** Runs `reflow ...args --json` and parses stdout, failing loudly on a non-zero exit. */
export async function cliJson<T = any>(args: string[], options?: { cwd?: string; env?: Record<string, string> }): Promise<T> {
  const result = await cli([...args, '--json'], options)
  if (result.code !== 0) throw new Error(`reflow ${args.join(' ')} exited ${result.code}: ${result.stderr}`)
  return JSON.parse(result.stdout) as T
}

/** Collects a stream's lines as they arrive; `waitFor` resolves when a matching line has been seen. */
export function lineReader(stream: ReadableStream<Uint8Array>) {
  const lines: string[] = []
  const waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = []
  let partial = ''
  const done = (async () => {
    const decoder = new TextDecoder()
    for await (const chunk of stream) {
      partial += decoder.decode(chunk, { stream: true })
      const parts = partial.split('\n')
      partial = parts.pop()!
      for (const line of parts) {
        lines.push(line)
        for (const waiter of [...waiters]) {
          if (waiter.match(line)) {
            waiters.splice(waiters.indexOf(waiter), 1)
            waiter.resolve(line)
          }
        }
      }
    }
  })()
  return {
    lines,
    done,
    /** Resolves with the first line (already seen or still to come) containing `text`. */
    waitFor(text: string, timeoutMs = 20_000): Promise<string> {
      const seen = lines.find((line) => line.includes(text))
      if (seen !== undefined) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line containing ${JSON.stringify(text)}; saw:\n${lines.join('\n')}`)), timeoutMs)
        waiters.push({ match: (line) => line.includes(text), resolve: (line) => (clearTimeout(timer), resolve(line)) })
      })
    },
  }
}
