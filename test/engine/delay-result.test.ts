/**
 * Delayed runs (enqueue's `delay` and `runAt`) and engine.result(): a delayed run holds nothing and
 * starts on time; result() resolves in any process on the storage once the run has finished.
 */

import { afterAll, describe, expect, test } from 'bun:test'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { parseDuration } from '../../src/core/duration.ts'
import { createEngine, createWorkflow, InvalidArgumentError, ResultTimeoutError, UnknownRunError } from '../../src/index.ts'
import { SQLiteStorage } from '../../src/sqlite-bun.ts'
import { deferred, manualEngine, until } from './helpers.ts'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflow-delay-'))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const report = createWorkflow({ name: 'report', input: z.object({ day: z.string() }) })
  .step('load', ({ input }) => ({ day: input.day, rows: [1, 2, 3] }))
  .step('render', ({ prev }) => ({ title: `Report ${prev.day}`, total: prev.rows.reduce((a, b) => a + b, 0), at: new Date(0) }))

describe('durations', () => {
  test('milliseconds or <n><unit>; anything else names the value', () => {
    expect([parseDuration(250, 'd'), parseDuration('500ms', 'd'), parseDuration('30s', 'd'), parseDuration('10m', 'd')]).toEqual([250, 500, 30_000, 600_000])
    expect([parseDuration('2h', 'd'), parseDuration('1.5d', 'd')]).toEqual([7_200_000, 129_600_000])
    for (const bad of ['10', '10 minutes', '-1s', 'm', '', -5, Number.NaN, Number.POSITIVE_INFINITY, null]) {
      expect(() => parseDuration(bad, 'delay')).toThrow(InvalidArgumentError)
    }
    expect(() => parseDuration('10x', 'enqueue("report") delay')).toThrow(
      'enqueue("report") delay must be a number of milliseconds or a duration such as "500ms", "30s", "10m", "2h" or "3d", got "10x"',
    )
  })
})

describe('delayed runs', () => {
  test('a delayed run holds no slot and starts when due; runAt in the past starts at once', async () => {
    const started: string[] = []
    const wf = createWorkflow({ name: 'job', input: z.object({ name: z.string() }) }).step('go', ({ input }) => void started.push(input.name))
    const { engine, clock } = manualEngine({ workflows: [wf] })
    await engine.start(3_600_000)
    const later = await engine.enqueue('job', { name: 'later' }, { delay: '10m' })
    await engine.enqueue('job', { name: 'now' })
    await engine.enqueue('job', { name: 'past' }, { runAt: new Date(clock.now() - 5_000) })
    await until(() => started.length === 2, 'the undelayed runs')
    expect(started).toEqual(['now', 'past'])
    expect((await engine.getRunStatus(later.id))?.run).toMatchObject({ status: 'pending', availableAt: clock.now() + 600_000 })
    await clock.advance(599_999)
    expect(started).toHaveLength(2)
    await clock.advance(1)
    await until(() => started.length === 3, 'the delayed run, on time')
    expect(started).toEqual(['now', 'past', 'later'])
    await engine.stop()
  })

  test('delay and runAt are checked before anything is written', async () => {
    const { engine, storage } = manualEngine({ workflows: [report] })
    await expect(engine.enqueue('report', { day: 'mon' }, { delay: '10 minutes' as never })).rejects.toThrow(/delay must be a number of milliseconds/)
    await expect(engine.enqueue('report', { day: 'mon' }, { delay: '1s', runAt: 0 })).rejects.toThrow('give delay or runAt, not both')
    await expect(engine.enqueue('report', { day: 'mon' }, { runAt: new Date('nope') })).rejects.toThrow(/runAt must be a Date or epoch milliseconds/)
    expect(await storage.claimNextRun(['report'])).toBeNull()
  })
})

describe('engine.result()', () => {
  test('completed, with the last step’s output typed; failed, with step and error; cancelled', async () => {
    const flaky = createWorkflow({ name: 'flaky', input: z.object({}) }).step('boom', () => {
      throw new TypeError('carrier down')
    })
    const gate = deferred()
    const slow = createWorkflow({ name: 'slow', input: z.object({}) }).step('wait', () => gate.promise)
    const engine = createEngine({ storage: new SQLiteStorage(path.join(dir, 'results.db')), workflows: [report, flaky, slow] })
    await engine.start(10)
    const run = await engine.enqueue('report', { day: 'thu' })
    const result = await engine.result(run, { timeout: '5s' })
    expect(result.status).toBe('completed')
    if (result.status === 'completed') {
      expect(result.output.title).toBe('Report thu')
      expect(result.output.total).toBe(6)
      expect(result.output.at).toEqual(new Date(0))
    }
    const failed = await engine.result((await engine.enqueue('flaky', {})).id)
    expect(failed).toMatchObject({ status: 'failed', stepName: 'boom' })
    if (failed.status === 'failed') expect([failed.error.name, failed.error.message]).toEqual(['TypeError', 'carrier down'])
    const held = await engine.enqueue('slow', {})
    const waiting = engine.result(held)
    await until(async () => (await engine.getRunStatus(held.id))?.run.status === 'running', 'running')
    await engine.cancel(held.id)
    expect(await waiting).toEqual({ status: 'cancelled' })
    gate.resolve()
    await engine.stop()
  })

  test('unknown ids and timeouts reject with clear errors', async () => {
    const { engine } = manualEngine({ workflows: [report] })
    await expect(engine.result('no-such-run')).rejects.toBeInstanceOf(UnknownRunError)
    const run = await engine.enqueue('report', { day: 'fri' })
    const error = await engine.result(run, { timeout: 20 }).catch((e) => e)
    expect(error).toBeInstanceOf(ResultTimeoutError)
    expect(error.message).toBe(`Run ${run.id} had not finished within 20 ms (it is pending); it goes on, ask again later`)
    expect(() => engine.result(run, { timeout: 'soon' as never })).toThrow(/result\(\) timeout must be/)
  })

  test('a process that never started an engine learns of a completion made through another connection', async () => {
    const file = path.join(dir, 'shared.db')
    const api = createEngine({ storage: new SQLiteStorage(file), workflows: [report] }) // never started
    const run = await api.enqueue('report', { day: 'sat' })
    const waiting = api.result(run, { timeout: '10s' })
    const worker = createEngine({ storage: new SQLiteStorage(file), workflows: [report] })
    await worker.start(60_000)
    const result = await waiting
    expect(result.status).toBe('completed')
    await worker.stop()
  })
})
