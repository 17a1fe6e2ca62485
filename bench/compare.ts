// Puts several result files side by side (e.g. two runs of the same grid) as one markdown table per kernel:
//   npx tsx bench/compare.ts bench/results/A.json bench/results/B.json [...]
// Each row: the median of every run (ms) with its others' load, and the GFLOP/s of the median of the run medians.
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { fmtMs, type BenchRecord } from './context.js';
import { median } from './harness.js';
import { GRID } from './shapes.js';

const files = process.argv.slice(2);
if (!files.length) {
  process.stderr.write('usage: tsx bench/compare.ts RESULT.json RESULT.json ...\n');
  process.exit(2);
}
const runs = files.map((f) => ({ name: f.replace(/^.*\//, '').replace(/\.json$/, ''), records: (JSON.parse(readFileSync(f, 'utf8')) as { records: BenchRecord[] }).records }));
const key = (r: BenchRecord) => `${r.kernel}|${r.shape_id ?? r.shape}|${r.impl}|${r.threads}`;
const keys: string[] = [];
for (const run of runs) for (const r of run.records) if (!r.skipped && r.median_ms != null && !keys.includes(key(r))) keys.push(key(r));
const order = (k: string) => {
  const [kernel, shape] = k.split('|');
  const g = GRID.findIndex((s) => s.id === shape);
  return (kernel === 'relevance' ? 0 : 1) * 1e6 + (g < 0 ? 999 : g) * 1e3;
};
keys.sort((a, b) => order(a) - order(b));
const head = ['kernel', 'shape', 'impl', 'threads', ...runs.map((r) => `${r.name} ms (others' load)`), 'median ms', 'GFLOP/s at median'];
const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
for (const k of keys) {
  const [kernel, shape, impl, threads] = k.split('|');
  const cells: string[] = [];
  const ms: number[] = [];
  let flops: number | null = null;
  for (const run of runs) {
    const r = run.records.find((x) => key(x) === k && !x.skipped);
    if (!r?.median_ms) {
      cells.push('');
      continue;
    }
    ms.push(r.median_ms);
    if (r.gflops != null) flops = r.gflops * r.median_ms * 1e6;
    cells.push(`${fmtMs(r.median_ms)}${r.others_load != null ? ` (${(100 * r.others_load).toFixed(0)}%)` : ''}`);
  }
  const m = median(ms);
  lines.push(`| ${[kernel, shape, impl, threads, ...cells, fmtMs(m), flops ? (flops / (m * 1e6)).toFixed(2) : ''].join(' | ')} |`);
}
process.stdout.write(`${lines.join('\n')}\n`);
