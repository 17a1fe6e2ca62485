// The kernels' one-thread speed in real browsers beside Node's, in one run (bench/experiments/kernel-speed.ts):
// the in-L1 tile and the relevance forward at B = 1 and 8 (P = 49, d = 512, C = 16,384), per build, memory and tile
// broadcast (timed interleaved within each runtime), in Node, then in Chromium, Firefox ESR and WebKitGTK
// (bench/browsers.ts) on a cross-origin-isolated page served from 127.0.0.1; and the engine's scaling from one thread
// to two (bench/experiments/engine-threads.ts: the worker pool, Web Workers in the browsers). Checks that every
// runtime's SIMD rows compute the same bits, and each runtime's two-thread results one thread's.
//
//   npx tsx bench/experiments/browsers.ts [--browsers Chromium,Firefox,WebKit] [--repeat N] [--suites kernels,threads]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BROWSERS, bundleForBrowser, serveFiles } from '../browsers.js';
import { numberArg, stringArg } from './args.js';
import type { ThreadScaling } from './engine-threads.js';
import type { KernelSpeed, KernelSpeedRow } from './kernel-speed.js';
import { measureRuntime, SUITES, type RuntimeResult, type Suite } from './runtime-measure.js';

const only = stringArg('--browsers')?.split(',');
const unknown = only?.filter((n) => !BROWSERS.some((b) => b.name === n)) ?? [];
if (unknown.length) throw new Error(`--browsers: unknown ${unknown.join(', ')}; known: ${BROWSERS.map((b) => b.name).join(', ')}`);
const repeat = numberArg('--repeat', 1);
if (!(Number.isInteger(repeat) && repeat >= 1)) throw new Error(`--repeat: expected an integer >= 1, found ${stringArg('--repeat')}`);
const suites = (stringArg('--suites') ?? SUITES.join(',')).split(',') as Suite[];
const badSuite = suites.filter((x) => !SUITES.includes(x));
if (badSuite.length) throw new Error(`--suites: unknown ${badSuite.join(', ')}; known: ${SUITES.join(', ')}`);

const page = await bundleForBrowser({
  source: `import { measureRuntime } from './runtime-measure.ts';
    measureRuntime(${JSON.stringify(suites)}).then((r) => { window.__result = r; document.title = 'done'; })
      .catch((e) => { window.__result = { error: String(e && e.stack || e) }; document.title = 'error'; });`,
  resolveDir: path.dirname(fileURLToPath(import.meta.url)),
});
// Cross-origin isolated: SharedArrayBuffer (the shared-memory rows, the worker pool) and the browsers' finer timers.
const server = await serveFiles({
  '/': ['text/html', '<!doctype html><meta charset="utf-8"><title>running</title><script type="module" src="/page.js"></script>'],
  '/page.js': ['text/javascript', page],
}, () => true);

const line = (runtime: string, r: KernelSpeedRow) =>
  `${runtime.padEnd(9)} ${r.build.padEnd(8)} ${r.memory.padEnd(7)} ${r.broadcast.padEnd(9)} ${r.tile.medianGflops.toFixed(1).padStart(5)} ${r.tile.bestGflops.toFixed(1).padStart(5)}  ` +
  r.relevance.map((x) => `B=${x.B}: ${x.medianMs.toFixed(1).padStart(6)} ms ${x.gflops.toFixed(1).padStart(5)} (best ${x.bestGflops.toFixed(1).padStart(4)})`).join('   ') +
  `  ${r.checksum.toString(16).padStart(8, '0')}`;
const scalingLine = (runtime: string, t: ThreadScaling) =>
  `${runtime.padEnd(9)} encodeImage B=8, C=16384: 1 thread ${t.one.medianMs.toFixed(0)} ms (best ${t.one.minMs.toFixed(0)}), ` +
  `${t.threads} threads ${t.two.medianMs.toFixed(0)} ms (best ${t.two.minMs.toFixed(0)}): ${t.speedup.toFixed(2)}x (best ${t.bestSpeedup.toFixed(2)}x), ` +
  `${t.sameBits ? 'same bits' : 'DIFFERENT BITS'}`;
if (suites.includes('kernels')) console.log(`runtime   build    memory  broadcast  tile: median, best GFLOP/s   relevance forward: median ms, GFLOP/s (fastest call's)   checksum`);
const browsers = BROWSERS.filter((x) => !only || only.includes(x.name));
for (const b of browsers) if (b.skip) console.log(`${b.name}: skipped, ${b.skip}`);

/** Every runtime's kernel rows, cycle after cycle; its description (version, user agent), once. */
const kernels: { runtime: string; speed: KernelSpeed }[] = [];
const described = new Map<string, string>();
const scalings: ThreadScaling[] = [];
/** Prints and keeps one runtime's result. */
const report = (runtime: string, r: RuntimeResult) => {
  if (r.kernels) {
    for (const row of r.kernels.rows) console.log(line(runtime, row));
    kernels.push({ runtime, speed: r.kernels });
    const who = runtime === 'Node' ? `Node ${process.versions.node}` : `${runtime}: ${r.kernels.userAgent}${r.kernels.crossOriginIsolated ? '' : ' (not cross-origin isolated)'}`;
    described.set(runtime, `${who}; relaxed SIMD ${r.kernels.relaxed ? 'validates' : 'does not validate'}`);
  }
  if (r.scaling) {
    console.log(scalingLine(runtime, r.scaling));
    scalings.push(r.scaling);
  }
};
/** One cycle: Node, then each browser; with --repeat N the cycles alternate the runtimes over N windows of the host. */
for (let cycle = 0; cycle < repeat; cycle++) {
  if (repeat > 1) console.log(`cycle ${cycle + 1} of ${repeat}`);
  report('Node', await measureRuntime(suites));
  for (const b of browsers.filter((x) => !x.skip)) {
    const tab = await b.open();
    try {
      await tab.goto(server.url);
      await tab.waitForTitle(300_000);
      const r = await tab.evaluate<RuntimeResult | { error: string } | null>('window.__result ?? null');
      if (!r || 'error' in r) throw new Error(`${b.name}: ${r ? r.error : 'the page left no result'}`);
      report(b.name, r);
    } finally {
      await tab.close();
    }
  }
}
if (repeat > 1 && kernels.length) {
  // Per runtime and variant, over the cycles: the best tile sample and the fastest relevance call of each shape.
  console.log('best over the cycles: tile GFLOP/s, relevance forward GFLOP/s of the fastest call');
  const best = new Map<string, { tile: number; relevance: Map<number, number> }>();
  for (const { runtime, speed } of kernels) {
    for (const row of speed.rows) {
      const key = `${runtime.padEnd(9)} ${row.build.padEnd(8)} ${row.memory.padEnd(7)} ${row.broadcast.padEnd(9)}`;
      const b = best.get(key) ?? { tile: 0, relevance: new Map<number, number>() };
      b.tile = Math.max(b.tile, row.tile.bestGflops);
      for (const x of row.relevance) b.relevance.set(x.B, Math.max(b.relevance.get(x.B) ?? 0, x.bestGflops));
      best.set(key, b);
    }
  }
  for (const [key, b] of best) console.log(`${key} tile ${b.tile.toFixed(1).padStart(5)}   ${[...b.relevance].map(([B, g]) => `B=${B}: ${g.toFixed(1).padStart(5)}`).join('   ')}`);
}
await server.close();
for (const d of described.values()) console.log(d);
const simd = new Set(kernels.flatMap(({ speed }) => speed.rows.filter((x) => x.build === 'simd').map((x) => x.checksum)));
if (kernels.length) console.log(simd.size === 1 ? 'every runtime\'s SIMD rows: the same bits' : `SIMD rows DIFFER between runtimes or variants: ${[...simd].map((x) => x.toString(16)).join(', ')}`);
process.exit(simd.size <= 1 && scalings.every((t) => t.sameBits) ? 0 : 1);
