// Re-renders the markdown table and the SVG chart of a result file without re-running anything:
//   npx tsx bench/render.ts bench/results/2026-11-26-node.json [--print]
// (--print also prints the console report). Useful after a change to report.ts, or to view a colleague's run.
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { Ctx, type BenchRecord, type Mode, type TargetResult } from './context.js';
import { printReport, writeResults, type RunMeta } from './report.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: tsx bench/render.ts RESULT.json [--print]\n');
  process.exit(2);
}
const json = JSON.parse(readFileSync(file, 'utf8')) as RunMeta & {
  mode: Mode; records: BenchRecord[]; targets: TargetResult[]; notes: string[];
};
const base = file.replace(/^.*\//, '').replace(/\.json$/, '');
const ctx = new Ctx({ mode: json.mode, suites: new Set(), threads: [], tag: '', write: true, python: 'python3', shapes: null });
ctx.records.push(...json.records);
ctx.targets.push(...json.targets);
ctx.notes.push(...json.notes);
if (process.argv.includes('--print')) printReport(ctx, json);
for (const f of writeResults(ctx, json, base)) process.stderr.write(`wrote ${f}\n`);
