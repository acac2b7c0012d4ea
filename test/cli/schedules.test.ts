/**
 * `reflow schedules` from the compiled binary, over a file whose schedules a real engine process
 * declared (test/engine/fixtures/schedule-engine.ts: `nightly-report` at 03:00 Europe/Paris, `tick`
 * every 100ms). Paused, `tick` makes no run while an engine stays up for several of its slots;
 * resumed, the engine makes one.
 */

import { afterAll, describe, expect, test } from 'bun:test'
import path from 'node:path'
import { cli, cliJson, removeTempDirs, tempDir } from './helpers.ts'

const ENGINE = path.resolve(import.meta.dir, '../engine/fixtures/schedule-engine.ts')

afterAll(removeTempDirs)

async function engine(db: string, ...args: string[]): Promise<void> {
  const child = Bun.spawn([process.execPath, ENGINE, db, ...args], { stdout: 'pipe', stderr: 'pipe' })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  expect({ code, stderr, stdout }).toEqual({ code: 0, stderr: '', stdout: 'started\n' })
}

const runsOf = async (db: string, schedule: string) => {
  const runs = await cliJson<{ id: string }[]>(['runs', '--db', db, '--limit', '1000'])
  const shown = await Promise.all(runs.map((r) => cliJson<any>(['show', r.id, '--db', db])))
  return shown.map((s) => s.run).filter((run) => run.schedule?.id === schedule)
}

describe('schedules', () => {
  test('lists what an engine declared; pause, trigger, resume', async () => {
    const db = path.join(tempDir(), 'reflow.db')
    const before = Date.now()
    await engine(db, 'declare')
    // On a busy machine the declaring engine may live past tick's first slot and fire it: that run
    // is no subject of this test.
    const declaredTicks = (await runsOf(db, 'tick')).map((run) => run.id)
    const isNew = (run: { id: string }) => !declaredTicks.includes(run.id)

    const listed = await cliJson<any[]>(['schedules', '--db', db])
    expect(listed.map((s) => s.id)).toEqual(['nightly-report', 'tick'])
    expect(listed[0]).toEqual({
      id: 'nightly-report', workflow: 'report', spec: 'cron 0 3 * * * (Europe/Paris)', cron: '0 3 * * *', timezone: 'Europe/Paris',
      everyMs: null, catchup: 1, overlap: 'skip', declared: true, paused: false, nextSlotMs: expect.any(Number), lastSlotMs: null,
      lastRun: null, skippedCount: 0, lastSkippedSlotMs: null, updatedAt: expect.any(Number),
    })
    expect(listed[0].nextSlotMs).toBeGreaterThan(before)
    expect(new Date(listed[0].nextSlotMs).toLocaleTimeString('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit' })).toBe('03:00')
    expect(listed[1]).toMatchObject({ spec: 'every 100ms', everyMs: 100, timezone: null, catchup: 10, overlap: 'allow', paused: false })
    const human = await cli(['schedules', '--db', db])
    expect(human.stdout).toMatch(/^ID +WORKFLOW +SPEC +NEXT +LAST RUN +SKIPPED\nnightly-report +report +cron 0 3 \* \* \* \(Europe\/Paris\) +20\d\d-/)

    expect(await cliJson(['schedules', 'pause', 'tick', '--db', db])).toEqual({ id: 'tick', paused: true, nextSlotMs: listed[1].nextSlotMs })
    expect((await cliJson<any[]>(['schedules', '--db', db]))[1].paused).toBe(true)
    // An engine up for five of tick's slots fires none of them.
    await engine(db, 'run', '500')
    expect((await runsOf(db, 'tick')).filter(isNew)).toEqual([])

    const triggered = await cliJson<any>(['schedules', 'trigger', 'nightly-report', '--db', db])
    expect(triggered).toEqual({ id: 'nightly-report', runId: expect.any(String), idempotencyKey: expect.stringMatching(/^schedule:nightly-report:trigger:\d+$/) })
    const made = await runsOf(db, 'nightly-report')
    expect(made.map((r) => [r.id, r.workflow, r.input, r.idempotencyKey])).toEqual([[triggered.runId, 'report', { kind: 'nightly' }, triggered.idempotencyKey]])
    expect(made[0].schedule.slotMs).toBe(Number(triggered.idempotencyKey.split(':').at(-1)))
    const shown = await cli(['show', triggered.runId, '--db', db])
    expect(shown.stdout).toContain(`From     schedule nightly-report, slot ${new Date(made[0].schedule.slotMs).toISOString()}\n`)
    const afterTrigger = await cliJson<any[]>(['schedules', '--db', db])
    expect(afterTrigger[0]).toMatchObject({ lastRun: { id: triggered.runId, status: 'pending' }, lastSlotMs: null, nextSlotMs: listed[0].nextSlotMs })

    const resumed = await cliJson<any>(['schedules', 'resume', 'tick', '--db', db])
    expect(resumed).toEqual({ id: 'tick', paused: false, nextSlotMs: expect.any(Number) })
    expect(resumed.nextSlotMs).toBeGreaterThan(listed[1].nextSlotMs + 500)
    expect((await cliJson<any[]>(['schedules', '--db', db]))[1].paused).toBe(false)
    // Resumed, an engine makes tick's runs again (it stops after the first; exit 1 after 30 s without).
    await engine(db, 'until', String(declaredTicks.length + 1))
    const ticks = (await runsOf(db, 'tick')).filter(isNew)
    expect(ticks.length).toBeGreaterThanOrEqual(1)
    for (const run of ticks) expect(run.schedule.slotMs).toBeGreaterThanOrEqual(resumed.nextSlotMs)
  })

  test('unknown schedule or action', async () => {
    const db = path.join(tempDir(), 'reflow.db')
    await engine(db, 'declare')
    expect(await cli(['schedules', 'pause', 'nope', '--db', db])).toMatchObject({ code: 1, stderr: expect.stringContaining('no schedule "nope"') })
    expect(await cli(['schedules', 'stop', 'tick', '--db', db])).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown action "stop"') })
    expect(await cli(['schedules', 'trigger', '--db', db])).toMatchObject({ code: 2, stderr: expect.stringContaining('trigger needs a schedule ID') })
  })
})
