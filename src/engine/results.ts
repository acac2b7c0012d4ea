/**
 * engine.result(): waiting for runs to finish, in any process on the storage, without a fast poll.
 *
 *   wait(runId) ──read──▶ finished? ──yes──▶ resolve
 *                   │ no
 *                   ▼
 *   waiting ◀──── look again on: an execution of this engine settling, a change notification from
 *                 the store (another process's commit), a cancel through this engine, and a poll
 *                 once a second (stores without notifications; notifications missed)
 *           ──timeout──▶ reject ResultTimeoutError
 *
 * The change watch and the poll run only while someone waits. Every look is a read of the run
 * (one per waiter, coalesced: a look asked for while one runs is done once after it).
 */

import { ResultTimeoutError, UnknownRunError } from '../core/errors.ts'
import { TERMINAL_STATUSES, type RunDetails } from '../core/types.ts'
import type { Store } from '../storage/store.ts'
import type { AnyWorkflow } from '../workflow/workflow.ts'
import type { RunResult } from './engine.ts'

const POLL_MS = 1_000
const RELOOK_MS = 2

export function createResultWaiter(options: { store: Store; registry: ReadonlyMap<string, AnyWorkflow>; onError(error: unknown): void }) {
  const { store, registry } = options
  const looks = new Set<() => void>()
  let unwatch: (() => void) | undefined
  let poll: ReturnType<typeof setInterval> | undefined
  let relook: ReturnType<typeof setTimeout> | undefined

  function changed(): void {
    // Called as every execution ends: nothing to do (and nothing to allocate) while no one waits.
    if (looks.size === 0) return
    for (const look of [...looks]) look()
  }

  /** A file notification can precede the commit it announces: look now, and once more shortly. */
  function notified(): void {
    changed()
    clearTimeout(relook)
    relook = setTimeout(changed, RELOOK_MS)
  }

  function listen(): void {
    if (looks.size === 0 || poll !== undefined) return
    poll = setInterval(changed, POLL_MS)
    try {
      unwatch = store.changes?.watch(notified)
    } catch (error) {
      options.onError(error)
    }
  }

  function quiet(): void {
    if (looks.size > 0) return
    clearInterval(poll)
    clearTimeout(relook)
    poll = undefined
    unwatch?.()
    unwatch = undefined
  }

  /** The result of a finished run, from its recorded steps and attempts. */
  async function resultOf(run: RunDetails): Promise<RunResult> {
    if (run.status === 'cancelled') return { status: 'cancelled' }
    const steps = await store.getSteps(run.id)
    if (run.status === 'completed') {
      const last = registry.get(run.workflow)?.steps.at(-1)?.name
      const step = (last === undefined ? undefined : steps.find((s) => s.name === last)) ?? steps.at(-1)
      return { status: 'completed', output: step?.output }
    }
    const failed = steps.find((s) => s.status === 'failed')
    const stepName = failed?.name ?? run.currentStep ?? '(unknown step)'
    const attempt = (await store.getAttempts(run.id)).filter((a) => a.stepName === stepName && a.status === 'failed').at(-1)
    const error = new Error(attempt?.errorMessage ?? failed?.error ?? 'the run failed')
    error.name = attempt?.errorName ?? 'Error'
    if (attempt?.errorStack) error.stack = attempt.errorStack
    return { status: 'failed', stepName, error }
  }

  async function wait(runId: string, timeoutMs: number | undefined): Promise<RunResult> {
    const first = await store.getRun(runId)
    if (!first) throw new UnknownRunError(runId)
    if (TERMINAL_STATUSES.includes(first.status)) return resultOf(first)
    return new Promise<RunResult>((resolve, reject) => {
      let status = first.status
      let looking = false
      let again = false
      let timer: ReturnType<typeof setTimeout> | undefined
      const done = () => {
        looks.delete(look)
        clearTimeout(timer)
        quiet()
      }
      const look = (): void => {
        if (looking) {
          again = true
          return
        }
        looking = true
        void (async () => {
          try {
            do {
              again = false
              const run = await store.getRun(runId)
              if (!run) throw new UnknownRunError(runId)
              status = run.status
              if (TERMINAL_STATUSES.includes(run.status)) {
                done()
                resolve(await resultOf(run))
                return
              }
            } while (again && looks.has(look))
          } catch (error) {
            done()
            reject(error)
          } finally {
            looking = false
          }
        })()
      }
      looks.add(look)
      listen()
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          done()
          reject(new ResultTimeoutError(runId, timeoutMs, status))
        }, timeoutMs)
      }
      // The run may have finished between the first read and the listening: look once more.
      look()
    })
  }

  return { wait, changed }
}
