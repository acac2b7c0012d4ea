/** Child processes for the Node suites: scripts under `node` or `bun`, their marker lines and exits. */

import { spawn } from 'node:child_process'

/** The command that runs a script under each runtime: this Node, and Bun from PATH. */
export const RUNTIMES = { node: process.execPath, bun: 'bun' }

/**
 * Starts `args` under `runtime`. `exited` resolves when it has exited and its output is complete,
 * whatever the outcome (the caller asserts on it); `line(text)` resolves when it prints that line
 * (or, failing, when it exits without printing it); `kill(signal)` signals it.
 */
export function start(runtime, args, { cwd, env } = {}) {
  const child = spawn(RUNTIMES[runtime] ?? runtime, args, { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  const waiters = []
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    stdout += chunk
    const lines = stdout.split('\n')
    for (const waiter of waiters.filter((w) => lines.some(w.match))) {
      waiters.splice(waiters.indexOf(waiter), 1)
      waiter.resolve(true)
    }
  })
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk))
  const exited = new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      for (const waiter of waiters.splice(0)) waiter.resolve(false)
      resolve({ code, signal, stdout, stderr, lines: stdout.split('\n').filter(Boolean) })
    })
  })
  const waitFor = (match) =>
    stdout.split('\n').some(match) ? Promise.resolve(true) : new Promise((resolve) => waiters.push({ match, resolve }))
  return {
    stdin: child.stdin,
    exited,
    kill: (signal) => child.kill(signal),
    line: (text) => waitFor((line) => line === text),
    /** Resolves true when a line containing `text` is printed (false if the child exits first). */
    lineContaining: (text) => waitFor((line) => line.includes(text)),
  }
}

/** Runs `args` under `runtime` with no input until it exits. */
export function run(runtime, args, options) {
  const child = start(runtime, args, options)
  child.stdin.end()
  return child.exited
}

/** Describes a finished child for assertion messages. */
export function describeExit(result) {
  return `exit ${result.code ?? result.signal}\n--- stdout\n${result.stdout}--- stderr\n${result.stderr}`
}
