/**
 * What every bench section shares: fresh temp databases, a pass-through input schema, timing and
 * percentiles, and the row type the table and bench-results.json are made of.
 */

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { StandardSchemaV1 } from '../../src/workflow/schema.ts'

export type Synchronous = 'normal' | 'full'

/** One line of the table: a figure, its unit, and optionally its reference and the target it is held to. */
export interface Row {
  section: string
  name: string
  value: number
  unit: string
  /** value / the reference figure measured in this run (e.g. the raw SQLite floor). */
  ratio?: number
  ratioTo?: string
  target?: string
  met?: boolean
  note?: string
}

const dirs: string[] = []

/** A path for a new database file in its own temp directory, removed by `cleanup()`. */
export function freshDb(name = 'bench.db'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflow-bench-'))
  dirs.push(dir)
  return path.join(dir, name)
}

export function cleanup(): void {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
}

/** A Standard Schema that accepts anything, so validation cost stays out of the engine's figures. */
export const anyInput: StandardSchemaV1<unknown, { i: number; t?: number }> = {
  '~standard': { version: 1, vendor: 'bench', validate: (value) => ({ value: value as { i: number; t?: number } }) },
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index]!
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50)
}

/** Epoch milliseconds with sub-millisecond resolution, comparable across processes on one machine. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now()
}

export function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Lets the garbage collector and the OS settle between measurements. */
export async function settle(): Promise<void> {
  Bun.gc(true)
  await sleepMs(50)
}

export function log(quiet: boolean, message: string): void {
  if (!quiet) process.stderr.write(`${message}\n`)
}

export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return String(value)
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2
  const text = value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 })
  return unit ? `${text} ${unit}` : text
}

export function formatTable(rows: readonly Row[]): string {
  const cells = rows.map((r) => [
    r.section,
    r.name,
    formatValue(r.value, r.unit),
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}× ${r.ratioTo ?? ''}`.trim(),
    r.target === undefined ? '' : `${r.target}${r.met === undefined ? '' : r.met ? ' ✓' : ' ✗'}`,
    r.note ?? '',
  ])
  const header = ['section', 'measure', 'value', 'ratio', 'target', 'note']
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
  const line = (c: string[]) => c.map((cell, i) => (i === 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n')
}

/** This process's CPU use over the next `seconds`, as a percentage of one core. */
export async function cpuPercentOver(seconds: number): Promise<number> {
  const cpu0 = process.cpuUsage()
  const wall0 = performance.now()
  await sleepMs(seconds * 1000)
  const cpu = process.cpuUsage(cpu0)
  return ((cpu.user + cpu.system) / 1000 / (performance.now() - wall0)) * 100
}
