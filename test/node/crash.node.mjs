/**
 * Crash recovery with Node in the loop, against the built package: worker 1 SIGKILLs itself at a fault
 * point, worker 2 (a fresh process on the same file) reclaims the run once worker 1's lease expires
 * and finishes it. Under node → node, and across runtimes: a run started under Bun resumes under
 * Node and the reverse, over one file that bun:sqlite and better-sqlite3 both read and write.
 *
 * The verdict comes from the append-only side-effect log and the finished run: a step recorded before
 * the crash never runs again, the interrupted step runs at most once more, the run completes, and
 * each step's output (which names the runtime that produced it) is what the next one received.
 * The test waits only on the workers' markers and exits, never on a sleep.
 */

import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { describeExit, run } from './child.mjs'

const worker = fileURLToPath(new URL('./fixtures/crash-worker.mjs', import.meta.url))
const dirs = []
after(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })))

const PAIRS = [
  ['node', 'node'],
  ['bun', 'node'],
  ['node', 'bun'],
]

/** What the side-effect log holds once worker 2 is done, and who produced step b's recorded output. */
const EXPECTED = {
  // b ran in worker 1 but was never recorded, so worker 2 runs it again.
  'in-step': { log: (one, two) => [`a ${one}`, `b ${one}`, `b ${two}`, `c ${two}`], b: (one, two) => two },
  // b was recorded before the kill: worker 2 goes straight to c.
  'after-record': { log: (one, two) => [`a ${one}`, `b ${one}`, `c ${two}`], b: (one) => one },
}

describe('crash and resume under Node', () => {
  for (const [one, two] of PAIRS) {
    for (const [fault, expected] of Object.entries(EXPECTED)) {
      test(`started under ${one}, killed ${fault}, resumed under ${two}`, async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflow-node-crash-'))
        dirs.push(dir)
        const db = path.join(dir, 'reflow.db')
        const log = path.join(dir, 'side-effects.log')

        const first = await run(one, [worker, db, log, fault])
        assert.equal(first.signal, 'SIGKILL', describeExit(first))
        assert.deepEqual(first.lines, [`fault ${fault}`], describeExit(first))

        const second = await run(two, [worker, db, log, 'none'])
        assert.equal(second.code, 0, describeExit(second))
        const completed = second.lines.filter((line) => line.startsWith('completed '))
        assert.equal(completed.length, 1, describeExit(second))
        assert.deepEqual(second.lines.filter((line) => !line.startsWith('completed ')), [], 'no errors reported')

        assert.deepEqual(fs.readFileSync(log, 'utf8').trim().split('\n'), expected.log(one, two))
        const info = JSON.parse(completed[0].slice('completed '.length))
        assert.equal(info.run.status, 'completed')
        assert.deepEqual(info.steps.map((s) => [s.name, s.status]), [['a', 'completed'], ['b', 'completed'], ['c', 'completed']])
        assert.deepEqual(info.steps[2].output, { a: one, b: expected.b(one, two), c: two })
      })
    }
  }
})
