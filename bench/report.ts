/**
 * Output of a run: the console tables, bench/results/<date>-<runtime>[-quick][-tag].{json,md,svg}. The SVG is a
 * grouped bar chart of the relevance kernel's GFLOP/s by shape and implementation (log scale), drawn here.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import os from 'node:os';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { measuredCeiling } from './suites/ceiling.js';
import { fastestProbe, MIN_QUIET_CALLS, QUIET_SHARE, quietTiming } from './host-speed.js';
import { GRID } from './shapes.js';
import { fmtMiB, fmtMs, runtimeInfo, type BenchRecord, type Ctx, type TargetResult } from './context.js';

// ---- machine ------------------------------------------------------------------------------------------------------

/** Busy share of all CPUs over `ms` milliseconds, from /proc/stat (Linux), or null. */
export async function cpuBusy(ms = 1000): Promise<number | null> {
  const read = (): [number, number] | null => {
    try {
      const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
      const v = line.trim().split(/\s+/).slice(1).map(Number);
      const idle = v[3]! + (v[4] ?? 0);
      return [v.reduce((a, b) => a + b, 0), idle];
    } catch {
      return null;
    }
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  if (!a || !b || b[0] === a[0]) return null;
  return 1 - (b[1] - a[1]) / (b[0] - a[0]);
}

function pkgVersion(name: string): string {
  try {
    const url = new URL(`../node_modules/${name}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(fileURLToPath(url), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  available_parallelism: number | null;
  memory_gib: number;
  os: string;
  runtime: { name: string; version: string; v8?: string };
  packages: Record<string, string>;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    available_parallelism: typeof os.availableParallelism === 'function' ? os.availableParallelism() : null,
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    runtime: runtimeInfo(),
    packages: Object.fromEntries(
      ['tinybench', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu', 'onnxruntime-web', 'assemblyscript'].map((p) => [p, pkgVersion(p)]),
    ),
  };
}

// ---- tables ---------------------------------------------------------------------------------------------------------

const IMPL_ORDER = ['fdtkit-simd', 'fdtkit-simd-engine', 'fdtkit-scalar', 'plain-js', 'tfjs-wasm', 'tfjs-cpu', 'ort-web', 'numpy'];

function implRank(r: BenchRecord): number {
  const i = IMPL_ORDER.indexOf(r.impl);
  return (i < 0 ? 99 : i) * 100 + r.threads;
}

/** Rows of the relevance table: [shape, impl, threads, ms, GFLOP/s, % ceiling, time / ours, others' load, quiet calls]. */
function relevanceRows(ctx: Ctx): string[][] {
  const ceiling = measuredCeiling(ctx);
  const fastest = fastestProbe(ctx.records);
  const rows: string[][] = [];
  for (const s of GRID) {
    const recs = ctx.records.filter((r) => r.kernel === 'relevance' && r.shape_id === s.id && !r.skipped).sort((a, b) => implRank(a) - implRank(b));
    const ours = recs.find((r) => r.impl === 'fdtkit-simd' && r.threads === 1);
    for (const r of recs) {
      rows.push([
        `${s.id} (${s.B}, ${s.P}, ${s.d}, ${s.C})`,
        r.impl,
        String(r.threads),
        fmtMs(r.median_ms!),
        r.gflops!.toFixed(2),
        r.impl.startsWith('fdtkit-simd') && ceiling ? `${((100 * r.gflops!) / (ceiling * r.threads)).toFixed(0)}%` : '',
        ours?.median_ms ? `${(r.median_ms! / ours.median_ms).toFixed(2)}x` : '',
        load(r),
        hostCell(r, fastest),
      ]);
    }
  }
  return rows;
}

function otherRows(ctx: Ctx): string[][] {
  const rows: string[][] = [];
  for (const r of ctx.records) {
    if (r.kernel === 'relevance' || r.skipped) continue;
    let value = '';
    if (r.kernel === 'tile_1x32' || r.kernel === 'tile_2x16') value = `best sample ${Number(r.extra?.['best_gflops']).toFixed(2)} GFLOP/s`;
    else if (r.kernel === 'sparsemax') value = `${Number(r.extra?.['us_per_row']).toFixed(1)} us/row`;
    else if (r.kernel === 'train_step') value = `non-relevance share ${(100 * Number(r.extra?.['non_relevance_share'])).toFixed(1)}%`;
    else if (r.kernel.startsWith('train_step.')) value = `${(100 * Number(r.extra?.['share_of_step'])).toFixed(1)}% of the step`;
    else if (r.kernel === 'memory.forward') value = `beyond in/params/out ${fmtMiB(Number(r.extra?.['beyond_inputs_params_outputs_bytes']))}, peak ${fmtMiB(Number(r.extra?.['peak_live_bytes']))}`;
    else if (r.kernel === 'memory.growth') value = `wasm +${String(r.extra?.['wasm_growth_bytes'])} B, arena +${String(r.extra?.['arena_live_growth_bytes'])} B`;
    rows.push([r.kernel, r.shape, r.impl, String(r.threads), r.median_ms != null ? fmtMs(r.median_ms) : '', r.gflops != null ? r.gflops.toFixed(2) : '', value, load(r)]);
  }
  return rows;
}

function skipRows(ctx: Ctx): string[][] {
  const seen = new Set<string>();
  const rows: string[][] = [];
  for (const r of ctx.records) {
    if (!r.skipped) continue;
    const key = `${r.kernel}|${r.impl}|${r.threads}|${r.skipped}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const where = ctx.records.filter((x) => `${x.kernel}|${x.impl}|${x.threads}|${x.skipped}` === key).map((x) => x.shape_id ?? x.shape);
    rows.push([r.kernel, r.impl, String(r.threads), where.join(', '), r.skipped]);
  }
  return rows;
}

/** A probed row's quiet calls and their median: '9/11: 45.2 ms' (see host-speed.ts), or ''. */
function hostCell(r: BenchRecord, fastest: number): string {
  const q = quietTiming(r, fastest);
  if (!q) return '';
  return `${q.quiet}/${q.calls}${q.medianMs !== null ? `: ${fmtMs(q.medianMs)} ms` : ''}`;
}

function load(r: BenchRecord): string {
  return r.others_load != null ? `${(100 * r.others_load).toFixed(0)}%` : '';
}

function textTable(head: string[], rows: string[][], right: Set<number> = new Set()): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (right.has(i) ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

function mdTable(head: string[], rows: string[][], right: Set<number> = new Set()): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (right.has(i) ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

const QUIET_TEXT = 'Quiet calls: rows timed call by call in rounds carry a reading of the host\'s speed (the in-L1 tile, '
  + `~5 ms) just before and just after every call; a call is quiet when both read >= ${100 * QUIET_SHARE}% of the fastest `
  + 'reading of its measurement. The last column gives the quiet calls and their median. The other columns are over all '
  + `calls; the targets' ratios are over the quiet calls when both rows have at least ${MIN_QUIET_CALLS} (bench/host-speed.ts).`;

const REL_HEAD = ['shape (B, P, d, C)', 'impl', 'threads', 'median ms', 'GFLOP/s', '% ceiling x threads', 'time / fdtkit-simd x1', "others' load", 'quiet calls: median'];
const REL_RIGHT = new Set([2, 3, 4, 5, 6, 7, 8]);
const OTHER_HEAD = ['kernel', 'shape', 'impl', 'threads', 'median ms', 'GFLOP/s', 'value', "others' load"];
const TARGET_HEAD = ['target', 'measured', 'threshold', 'result'];

function mark(t: TargetResult): string {
  return t.pass === null ? 'skip' : t.pass ? 'pass' : 'SHORT';
}

/** Prints the tables to stdout. */
export function printReport(ctx: Ctx, meta: RunMeta): void {
  const out: string[] = [];
  out.push('');
  out.push(`fdtkit bench (${ctx.opts.mode}) — ${meta.machine.cpu}, ${meta.machine.cores} cores, ${meta.machine.runtime.name} ${meta.machine.runtime.version}, ${meta.date}`);
  out.push(`load: CPU busy ${pct(meta.load.busy_before)} before the run, ${pct(meta.load.busy_after)} after; loadavg ${meta.load.loadavg_before.map((x) => x.toFixed(2)).join(' ')} -> ${meta.load.loadavg_after.map((x) => x.toFixed(2)).join(' ')}`);
  out.push('');
  out.push('relevance kernel (fused GEMM + max over tokens), FLOPs = 2 B P d C');
  out.push(textTable(REL_HEAD, relevanceRows(ctx), REL_RIGHT));
  out.push('');
  out.push(textTable(OTHER_HEAD, otherRows(ctx), new Set([3, 4, 5])));
  const skips = skipRows(ctx);
  if (skips.length) {
    out.push('');
    out.push('skipped rows');
    out.push(textTable(['kernel', 'impl', 'threads', 'shapes', 'reason'], skips));
  }
  out.push('');
  out.push('targets of the performance issue');
  for (const t of ctx.targets) {
    out.push(`  [${mark(t).padEnd(5)}] ${t.name}: ${t.measured} (target ${t.target})${t.note ? `\n          ${t.note}` : ''}`);
  }
  if (ctx.notes.length) {
    out.push('');
    out.push('notes');
    for (const n of ctx.notes) out.push(`  - ${n}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

function pct(x: number | null): string {
  return x === null ? 'n/a' : `${(100 * x).toFixed(0)}%`;
}

// ---- files ----------------------------------------------------------------------------------------------------------

export interface RunMeta {
  date: string;
  started: string;
  duration_s: number;
  command: string;
  machine: MachineInfo;
  load: { busy_before: number | null; busy_after: number | null; loadavg_before: number[]; loadavg_after: number[] };
  peers: Record<string, unknown>;
}

function markdown(ctx: Ctx, meta: RunMeta, svgName: string): string {
  const m = meta.machine;
  const lines = [
    `# fdtkit bench — ${meta.date} — ${m.runtime.name} ${m.runtime.version} (${ctx.opts.mode} grid)`,
    '',
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memory_gib} GiB, ${m.os}`,
    `- runtime: ${m.runtime.name} ${m.runtime.version}${m.runtime.v8 ? ` (V8 ${m.runtime.v8})` : ''}`,
    `- command: \`${meta.command}\``,
    `- started ${meta.started}, took ${meta.duration_s.toFixed(0)} s`,
    `- load: CPU busy ${pct(meta.load.busy_before)} before, ${pct(meta.load.busy_after)} after (all cores, sampled 1 s); loadavg ${meta.load.loadavg_before.map((x) => x.toFixed(2)).join(' ')} -> ${meta.load.loadavg_after.map((x) => x.toFixed(2)).join(' ')}`,
    `- packages: ${Object.entries(m.packages).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    '',
    '## Targets',
    '',
    mdTable(TARGET_HEAD, ctx.targets.map((t) => [t.name, t.measured + (t.note ? ` — ${t.note}` : ''), t.target, mark(t)])),
    '',
    '## Relevance kernel',
    '',
    `![GFLOP/s by shape and implementation](${svgName})`,
    '',
    mdTable(REL_HEAD, relevanceRows(ctx), REL_RIGHT),
    '',
    ...(fastestProbe(ctx.records) > 0 ? [QUIET_TEXT, ''] : []),
    '## Ceiling, sparsemax, training step, memory',
    '',
    mdTable(OTHER_HEAD, otherRows(ctx), new Set([3, 4, 5])),
    '',
  ];
  const skips = skipRows(ctx);
  if (skips.length) lines.push('## Skipped rows', '', mdTable(['kernel', 'impl', 'threads', 'shapes', 'reason'], skips), '');
  if (ctx.notes.length) lines.push('## Notes', '', ...ctx.notes.map((n) => `- ${n}`), '');
  lines.push('## Peers', '', '```json', JSON.stringify(meta.peers, null, 2), '```', '');
  return lines.join('\n');
}

const COLORS: Record<string, string> = {
  'fdtkit-simd': '#1f77b4', 'fdtkit-simd-engine': '#6baed6', 'fdtkit-scalar': '#9ecae1', 'plain-js': '#bcbd22', 'tfjs-wasm': '#ff7f0e',
  'tfjs-cpu': '#fdae6b', 'ort-web': '#2ca02c', numpy: '#d62728',
};

function xmlEsc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A grouped bar chart (log-scale GFLOP/s) of the relevance rows, with the measured ceiling as a dashed line. */
export function svgChart(ctx: Ctx, title: string): string {
  const recs = ctx.records.filter((r) => r.kernel === 'relevance' && !r.skipped && r.gflops);
  const shapes = GRID.filter((s) => recs.some((r) => r.shape_id === s.id));
  const series = [...new Set(recs.sort((a, b) => implRank(a) - implRank(b)).map((r) => `${r.impl}|${r.threads}`))];
  const W = 980;
  const H = 460;
  const left = 64;
  const right = 200;
  const top = 48;
  const bottom = 70;
  const pw = W - left - right;
  const ph = H - top - bottom;
  const all = recs.map((r) => r.gflops!);
  const ceiling = measuredCeiling(ctx);
  if (ceiling) all.push(ceiling);
  const lo = Math.floor(Math.log10(Math.max(1e-3, Math.min(...all, 1))));
  const hi = Math.ceil(Math.log10(Math.max(...all, 10)));
  const y = (v: number) => top + ph - ((Math.log10(v) - lo) / (hi - lo)) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${left}" y="24" font-size="15" font-weight="bold">${xmlEsc(title)}</text>`,
  ];
  for (let e = lo; e <= hi; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (Math.log10(v) > hi + 1e-9) continue;
      const yy = y(v).toFixed(1);
      out.push(`<line x1="${left}" x2="${left + pw}" y1="${yy}" y2="${yy}" stroke="${m === 1 ? '#bbb' : '#eee'}"/>`);
      if (m === 1 || hi - lo <= 3) out.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${v >= 1 ? v : v.toPrecision(1)}</text>`);
    }
  }
  out.push(`<text transform="translate(16 ${top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#444">GFLOP/s (log scale)</text>`);
  const gw = pw / Math.max(1, shapes.length);
  const perGroup = shapes.map((s) => series.filter((key) => recs.some((x) => x.shape_id === s.id && `${x.impl}|${x.threads}` === key)));
  const bw = Math.min(22, (gw - 16) / Math.max(1, ...perGroup.map((g) => g.length)));
  shapes.forEach((s, gi) => {
    const present = perGroup[gi]!;
    const x0 = left + gi * gw + (gw - bw * present.length) / 2;
    present.forEach((key, si) => {
      const [impl, threads] = key.split('|');
      const r = recs.find((x) => x.shape_id === s.id && x.impl === impl && String(x.threads) === threads)!;
      const yy = y(r.gflops!);
      const x = x0 + si * bw;
      out.push(`<rect x="${x.toFixed(1)}" y="${yy.toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(top + ph - yy).toFixed(1)}" fill="${COLORS[impl!] ?? '#777'}"${Number(threads) > 1 ? ' stroke="#000" stroke-dasharray="3 2"' : ''}><title>${xmlEsc(`${s.id} ${impl} x${threads}: ${r.gflops!.toFixed(2)} GFLOP/s, ${fmtMs(r.median_ms!)} ms`)}</title></rect>`);
      out.push(`<text x="${(x + (bw - 2) / 2).toFixed(1)}" y="${(yy - 3).toFixed(1)}" text-anchor="middle" font-size="9" fill="#333">${r.gflops! >= 10 ? r.gflops!.toFixed(0) : r.gflops!.toFixed(1)}</text>`);
    });
    out.push(`<text x="${(left + gi * gw + gw / 2).toFixed(1)}" y="${top + ph + 18}" text-anchor="middle">${xmlEsc(s.id)}</text>`);
    out.push(`<text x="${(left + gi * gw + gw / 2).toFixed(1)}" y="${top + ph + 33}" text-anchor="middle" font-size="10" fill="#666">(${s.B}, ${s.P}, ${s.d}, ${s.C})</text>`);
  });
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + ph}" stroke="#444"/>`);
  out.push(`<line x1="${left}" x2="${left + pw}" y1="${top + ph}" y2="${top + ph}" stroke="#444"/>`);
  if (ceiling) {
    const yy = y(ceiling).toFixed(1);
    out.push(`<line x1="${left}" x2="${left + pw}" y1="${yy}" y2="${yy}" stroke="#1f77b4" stroke-dasharray="6 4"/>`);
    const ly = top + 8 + series.length * 18 + 10;
    out.push(`<line x1="${left + pw + 16}" x2="${left + pw + 28}" y1="${ly - 3}" y2="${ly - 3}" stroke="#1f77b4" stroke-dasharray="4 2"/>`);
    out.push(`<text x="${left + pw + 34}" y="${ly + 1}" font-size="11" fill="#1f77b4">ceiling ${ceiling.toFixed(1)} GFLOP/s</text>`);
    out.push(`<text x="${left + pw + 34}" y="${ly + 15}" font-size="10" fill="#1f77b4">(the relevance tile in L1, 1 thread)</text>`);
  }
  series.forEach((key, i) => {
    const [impl, threads] = key.split('|');
    const yy = top + 8 + i * 18;
    out.push(`<rect x="${left + pw + 16}" y="${yy - 9}" width="12" height="12" fill="${COLORS[impl!] ?? '#777'}"${Number(threads) > 1 ? ' stroke="#000" stroke-dasharray="3 2"' : ''}/>`);
    out.push(`<text x="${left + pw + 34}" y="${yy + 1}">${xmlEsc(`${impl} x${threads}`)}</text>`);
  });
  out.push(`<text x="${left}" y="${H - 12}" font-size="10" fill="#666">${xmlEsc(`medians; ${ctx.opts.mode} grid; x1 = one thread; dashed outline = more threads`)}</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** The result document: the run's facts, its records, the targets and the notes. */
function resultJson(ctx: Ctx, meta: RunMeta): Record<string, unknown> {
  return { ...meta, mode: ctx.opts.mode, ceiling_gflops: measuredCeiling(ctx), records: ctx.records, targets: ctx.targets, notes: ctx.notes };
}

/** Writes the result JSON to `file` (through a temporary file and a rename); returns the path. */
export function writeJson(ctx: Ctx, meta: RunMeta, file: string): string {
  const path = resolve(file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, `${JSON.stringify(resultJson(ctx, meta), null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  return path;
}

/** Writes the JSON, markdown and SVG files; returns their paths. */
export function writeResults(ctx: Ctx, meta: RunMeta, name?: string): string[] {
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const base = name ?? `${meta.date}-${meta.machine.runtime.name}${ctx.opts.mode === 'quick' ? '-quick' : ''}${ctx.opts.tag ? `-${ctx.opts.tag}` : ''}`;
  const json = resultJson(ctx, meta);
  const svgName = `${base}.svg`;
  const files = [`${dir}${base}.json`, `${dir}${base}.md`, `${dir}${svgName}`];
  writeFileSync(files[0]!, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(files[1]!, markdown(ctx, meta, svgName));
  writeFileSync(files[2]!, svgChart(ctx, `Relevance kernel GFLOP/s — ${meta.machine.cpu}, ${meta.machine.runtime.name} ${meta.machine.runtime.version}, ${meta.date}`));
  return files;
}
