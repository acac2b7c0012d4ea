/**
 * The overview: throughput (completed and failed runs per minute over the last hour and per hour
 * over the last day, per workflow; see chart.ts), the queue (runs by workflow and status, the
 * oldest pending run), running runs that look stuck (no heartbeat for two leases, at least a
 * minute), and the schedules with their next slot. Every read is bounded: one stats call with all
 * the windows, one page of running runs, the schedules.
 */

import type { RunDetails, RunStatus } from '../../core/types.ts'
import { RunStatuses } from '../../core/types.ts'
import { barChart, bucketCounts, bucketWindows, totalSeries, type Series } from '../chart.ts'
import { ago, duration, utc } from '../format.ts'
import { html, type Html } from '../html.ts'
import { statusBadge, type PageContext, type PageParts } from './layout.ts'
import { stuckThreshold } from './run.ts'

const MINUTE = 60_000
const HOUR = 3_600_000
/** Running runs examined for the stuck list; a store with more running runs than this shows a note. */
export const STUCK_SCAN = 200

export async function overviewPage(ctx: PageContext): Promise<PageParts> {
  const { inspector, now } = ctx
  const windows = [...new Set([...bucketWindows(MINUTE, 60), ...bucketWindows(HOUR, 24)])]
  const [stats, schedules, running] = await Promise.all([
    inspector.stats({ now, windowsMs: windows }),
    inspector.schedules(),
    inspector.listRuns({ statuses: ['running'], limit: STUCK_SCAN }),
  ])
  const stuck: RunDetails[] = []
  for (const summary of running.runs) {
    const view = await inspector.getRun(summary.id)
    const run = view?.run
    if (run && run.status === 'running' && now - (run.heartbeatAt ?? run.startedAt ?? run.createdAt) > stuckThreshold(run)) stuck.push(run)
  }
  const perMinute = bucketCounts(stats, MINUTE, 60)
  const perHour = bucketCounts(stats, HOUR, 24)
  const live = html`<h2>Throughput <span class="legend muted"><span class="ok"></span>completed<span class="bad"></span>failed</span></h2>
${perHour.size === 0 ? html`<p class="muted">No run finished in the last day.</p>` : charts(perMinute, perHour, now)}
<h2>Queue</h2>
${queue(stats.counts, stats.oldestPending, now)}
<h2>Stuck-looking runs</h2>
${stuck.length === 0
    ? html`<p class="muted">None: every running run has a recent heartbeat.</p>`
    : stuckTable(stuck, now)}
${running.nextCursor !== null ? html`<p class="muted">Only the newest ${STUCK_SCAN} running runs were checked.</p>` : ''}
<h2>Schedules</h2>
${schedules.length === 0 ? html`<p class="muted">No schedules.</p>` : html`<table class="schedules">
<thead><tr><th>Schedule</th><th>Workflow</th><th>Spec</th><th>Next slot</th><th>Last run</th><th class="num">Skipped</th></tr></thead>
<tbody>${schedules.map((s) => html`<tr>
  <td><code>${s.id}</code>${s.paused ? html` <span class="status s-cancelled">paused</span>` : ''}</td>
  <td>${s.workflow}</td>
  <td class="mono">${describeSpec(s.specJson)}</td>
  <td>${s.paused ? html`<span class="muted">paused</span>` : html`${utc(s.nextSlotMs)} <span class="muted">(${ago(s.nextSlotMs, now)})</span>`}</td>
  <td>${s.lastRunId === null ? '-' : html`<a class="id" href="/runs/${encodeURIComponent(s.lastRunId)}">${s.lastRunId}</a>`}</td>
  <td class="num">${s.skippedCount}</td>
</tr>`)}</tbody></table>`}`
  return { title: 'Overview', nav: 'overview', head: html`<h1>Overview</h1>`, live }
}

function charts(perMinute: Map<string, Series>, perHour: Map<string, Series>, now: number): Html {
  const block = (name: string, minute: Series, hour: Series) => html`<section class="workflow-chart">
  <h3>${name} <span class="muted">${sum(hour.completed)} completed, ${sum(hour.failed)} failed in 24h</span></h3>
  <div class="muted">per minute, last hour</div>
  ${barChart(minute, MINUTE, now, `${name}: runs per minute over the last hour`)}
  <div class="muted">per hour, last day</div>
  ${barChart(hour, HOUR, now, `${name}: runs per hour over the last day`)}
</section>`
  const blocks = [...perHour.keys()].map((name) => {
    const empty: Series = { completed: new Array<number>(60).fill(0), failed: new Array<number>(60).fill(0) }
    return block(name, perMinute.get(name) ?? empty, perHour.get(name)!)
  })
  if (perHour.size > 1) blocks.unshift(block('All workflows', totalSeries(perMinute.values(), 60), totalSeries(perHour.values(), 24)))
  return html`<div class="charts">${blocks}</div>`
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0)

function queue(
  counts: { workflow: string; status: RunStatus; runs: number }[],
  oldest: { id: string; workflow: string; createdAt: number } | null,
  now: number,
): Html {
  const statuses = Object.values(RunStatuses)
  const byWorkflow = new Map<string, Map<RunStatus, number>>()
  for (const c of counts) {
    const row = byWorkflow.get(c.workflow) ?? new Map<RunStatus, number>()
    row.set(c.status, c.runs)
    byWorkflow.set(c.workflow, row)
  }
  const pending = counts.filter((c) => c.status === 'pending').reduce((n, c) => n + c.runs, 0)
  const cell = (workflow: string, status: RunStatus, n: number) => n === 0
    ? html`<td class="num muted">0</td>`
    : html`<td class="num"><a href="/?workflow=${encodeURIComponent(workflow)}&amp;status=${status}">${n}</a></td>`
  return html`<div class="cards">
  <div class="card"><div class="muted">Queue depth (pending)</div><div class="big">${pending}</div></div>
  <div class="card"><div class="muted">Oldest pending run</div>${oldest === null
    ? html`<div class="big muted">none</div>`
    : html`<div><a class="id" href="/runs/${encodeURIComponent(oldest.id)}">${oldest.id}</a></div>
      <div>${oldest.workflow}, created ${utc(oldest.createdAt)} <span class="muted">(${ago(oldest.createdAt, now)})</span></div>`}</div>
</div>
${byWorkflow.size === 0 ? html`<p class="muted">No runs.</p>` : html`<table class="counts">
<thead><tr><th>Workflow</th>${statuses.map((s) => html`<th class="num">${statusBadge(s)}</th>`)}</tr></thead>
<tbody>${[...byWorkflow].map(([workflow, row]) => html`<tr><td>${workflow}</td>${
    statuses.map((s) => cell(workflow, s, row.get(s) ?? 0))}</tr>`)}</tbody>
</table>`}`
}

function stuckTable(runs: RunDetails[], now: number): Html {
  return html`<table class="stuck">
<thead><tr><th>Run</th><th>Workflow</th><th>Step</th><th>Held by</th><th>Last heartbeat</th><th>Lease expires</th></tr></thead>
<tbody>${runs.map((run) => {
    const beat = run.heartbeatAt ?? run.startedAt ?? run.createdAt
    return html`<tr>
  <td><a class="id" href="/runs/${encodeURIComponent(run.id)}">${run.id}</a></td>
  <td>${run.workflow}</td>
  <td><code>${run.currentStep ?? '-'}</code></td>
  <td>${run.leaseOwner ?? '-'}</td>
  <td class="error">${utc(beat)} (${duration(now - beat)} ago)</td>
  <td>${run.availableAt === null ? '-' : html`${utc(run.availableAt)} <span class="muted">(${ago(run.availableAt, now)})</span>`}</td>
</tr>`
  })}</tbody></table>`
}

/** "cron 0 3 * * * (Europe/Paris)", "every 15m", or the stored spec as it is. */
function describeSpec(specJson: string): string {
  try {
    const spec = JSON.parse(specJson) as { cron?: string; timezone?: string; everyMs?: number }
    if (typeof spec.cron === 'string') return `cron ${spec.cron}${spec.timezone ? ` (${spec.timezone})` : ''}`
    if (typeof spec.everyMs === 'number') return `every ${duration(spec.everyMs)}`
  } catch {
    // falls through: show what is stored
  }
  return specJson
}
