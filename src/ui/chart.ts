/**
 * The overview's throughput charts: completed and failed runs per bucket (a minute over the last
 * hour, an hour over the last day), per workflow, drawn as inline SVG.
 *
 * The counts compose an existing read instead of adding one to every store: `inspector.stats`
 * counts the runs that finished within each of several windows ending now, so windows of 1, 2, …, n
 * buckets give cumulative counts, and bucket k (the k-th back from now) is window k minus window
 * k − 1. Stats judge "finished within" by the run's finish time, which is exactly what a throughput
 * chart needs (a run created an hour before it failed counts when it failed).
 */

import type { RunStats } from '../storage/store.ts'
import { escapeHtml, trusted, type Html } from './html.ts'
import { utc } from './format.ts'

export interface Series {
  /** Oldest bucket first; the last one ends now. */
  completed: number[]
  failed: number[]
}

/** The windows to ask stats for: 1, 2, …, `count` buckets of `bucketMs`. */
export function bucketWindows(bucketMs: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => (i + 1) * bucketMs)
}

/**
 * Per-bucket counts by workflow (sorted by name), from stats over (at least) `bucketWindows(bucketMs, count)`.
 * A window missing from `stats` is an error: silently charting zeros would lie.
 */
export function bucketCounts(stats: RunStats, bucketMs: number, count: number): Map<string, Series> {
  const byWindow = new Map(stats.windows.map((w) => [w.windowMs, w.byWorkflow] as const))
  const series = new Map<string, Series>()
  const workflows = new Set(stats.windows.flatMap((w) => w.byWorkflow.map((g) => g.workflow)))
  for (const workflow of [...workflows].sort()) {
    series.set(workflow, { completed: new Array<number>(count).fill(0), failed: new Array<number>(count).fill(0) })
  }
  let previous = new Map<string, { completed: number; failed: number }>()
  for (let k = 1; k <= count; k++) {
    const groups = byWindow.get(k * bucketMs)
    if (!groups) throw new Error(`stats has no window of ${k * bucketMs} ms`)
    const current = new Map(groups.map((g) => [g.workflow, g] as const))
    for (const [workflow, s] of series) {
      const now = current.get(workflow) ?? { completed: 0, failed: 0 }
      const before = previous.get(workflow) ?? { completed: 0, failed: 0 }
      // Runs finishing between the windows' reads can make a later window too small: never chart below zero.
      s.completed[count - k] = Math.max(0, now.completed - before.completed)
      s.failed[count - k] = Math.max(0, now.failed - before.failed)
    }
    previous = current
  }
  return series
}

/** Sums several workflows' series bucket by bucket. */
export function totalSeries(all: Iterable<Series>, count: number): Series {
  const total: Series = { completed: new Array<number>(count).fill(0), failed: new Array<number>(count).fill(0) }
  for (const s of all) {
    for (let i = 0; i < count; i++) {
      total.completed[i]! += s.completed[i]!
      total.failed[i]! += s.failed[i]!
    }
  }
  return total
}

/** One bar segment; nothing for an empty one. */
function rect(kind: string, x: string, y: number, width: number, height: number): string {
  if (height <= 0) return ''
  return `<rect class="${kind}" x="${x}" y="${y.toFixed(1)}" width="${width.toFixed(1)}" height="${height.toFixed(1)}"/>`
}

const WIDTH = 600
const HEIGHT = 120
const AXIS = 18
const TOP = 14

/**
 * Stacked bars (completed below, failed on top), one per bucket, oldest at the left, with the
 * bucket's time and counts as a hover title. `now` is the end of the last bucket.
 */
export function barChart(series: Series, bucketMs: number, now: number, label: string): Html {
  const count = series.completed.length
  const max = Math.max(1, ...series.completed.map((c, i) => c + series.failed[i]!))
  const slot = WIDTH / count
  const bar = Math.max(1, slot - (slot > 4 ? 1.5 : 0.5))
  const plot = HEIGHT - AXIS - TOP
  const scale = (n: number) => (n / max) * plot
  const bars: string[] = []
  for (let i = 0; i < count; i++) {
    const completed = series.completed[i]!
    const failed = series.failed[i]!
    const start = now - (count - i) * bucketMs
    const x = (i * slot).toFixed(1)
    const hc = scale(completed)
    const hf = scale(failed)
    const title = `${utc(start)} – ${utc(start + bucketMs)}: ${completed} completed, ${failed} failed`
    bars.push(
      `<g><title>${escapeHtml(title)}</title>` +
        `<rect class="hit" x="${x}" y="${TOP}" width="${bar.toFixed(1)}" height="${plot}"/>` +
        rect('ok', x, TOP + plot - hc, bar, hc) +
        rect('bad', x, TOP + plot - hc - hf, bar, hf) +
        '</g>',
    )
  }
  const span = count * bucketMs
  const left = span >= 86_400_000 ? `-${span / 3_600_000}h` : `-${span / 60_000}m`
  return trusted(
    `<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeHtml(label)}">` +
      `<line class="axis" x1="0" y1="${TOP + plot + 0.5}" x2="${WIDTH}" y2="${TOP + plot + 0.5}"/>` +
      `<line class="grid" x1="0" y1="${TOP - 0.5}" x2="${WIDTH}" y2="${TOP - 0.5}"/>` +
      `<text class="tick" x="0" y="${TOP - 4}">${max}</text>` +
      bars.join('') +
      `<text class="tick" x="0" y="${HEIGHT - 4}">${left}</text>` +
      `<text class="tick" x="${WIDTH}" y="${HEIGHT - 4}" text-anchor="end">now</text>` +
      '</svg>',
  )
}
