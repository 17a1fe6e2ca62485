// The kernels' one-thread speed in real browsers beside Node's, in one run (bench/experiments/kernel-speed.ts):
// the in-L1 tile and the relevance forward at B = 1 and 8 (P = 49, d = 512, C = 16,384), per build, memory and tile
// broadcast (timed interleaved within each runtime), in Node, then in Chromium, Firefox ESR and WebKitGTK
// (bench/browsers.ts) on a cross-origin-isolated page served from 127.0.0.1; and the engine's scaling from one thread
// to two (bench/experiments/engine-threads.ts: the worker pool, Web Workers in the browsers). Checks that every
// runtime's SIMD rows compute the same bits, and each runtime's two-thread results one thread's.
//
//   npx tsx bench/experiments/browsers.ts [--browsers Chromium,Firefox,WebKit] [--repeat N] [--suites kernels,threads]
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { BROWSERS } from '../browsers.js';
import { numberArg, stringArg } from './args.js';
import { measureThreadScaling, type ThreadScaling } from './engine-threads.js';
import { measureKernelSpeed, SHAPE_BATCHES, type KernelSpeed, type KernelSpeedRow } from './kernel-speed.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const only = stringArg('--browsers')?.split(',');
const unknown = only?.filter((n) => !BROWSERS.some((b) => b.name === n)) ?? [];
if (unknown.length) throw new Error(`--browsers: unknown ${unknown.join(', ')}; known: ${BROWSERS.map((b) => b.name).join(', ')}`);
const repeat = numberArg('--repeat', 1);
if (!(Number.isInteger(repeat) && repeat >= 1)) throw new Error(`--repeat: expected an integer >= 1, found ${stringArg('--repeat')}`);
const suites = (stringArg('--suites') ?? 'kernels,threads').split(',');
const badSuite = suites.filter((x) => x !== 'kernels' && x !== 'threads');
if (badSuite.length) throw new Error(`--suites: unknown ${badSuite.join(', ')}; known: kernels, threads`);
/** What one runtime measures: the kernels' rows and the engine's thread scaling, as --suites asks. */
interface RuntimeResult {
  kernels?: KernelSpeed;
  scaling?: ThreadScaling;
}
const page = (await build({
  stdin: {
    contents: `import { measureKernelSpeed } from './kernel-speed.ts';
      import { measureThreadScaling } from './engine-threads.ts';
      const suites = ${JSON.stringify(suites)};
      (async () => ({
        kernels: suites.includes('kernels') ? await measureKernelSpeed() : undefined,
        scaling: suites.includes('threads') ? await measureThreadScaling() : undefined,
      }))().then((r) => { window.__result = r; document.title = 'done'; })
        .catch((e) => { window.__result = { error: String(e && e.stack || e) }; document.title = 'error'; });`,
    resolveDir: here, loader: 'ts',
  },
  bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, external: ['node:*'],
})).outputFiles[0]!.text;
const files: Record<string, [string, string]> = {
  '/': ['text/html', '<!doctype html><meta charset="utf-8"><title>running</title><script type="module" src="/page.js"></script>'],
  '/page.js': ['text/javascript', page],
};
const server = createServer((req, res) => {
  const f = files[req.url ?? ''];
  if (!f) return void res.writeHead(404).end();
  // Cross-origin isolated: SharedArrayBuffer (the shared-memory rows) and the browsers' finer timers.
  res.writeHead(200, { 'content-type': f[0], 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }).end(f[1]);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

const line = (runtime: string, r: KernelSpeedRow) =>
  `${runtime.padEnd(9)} ${r.build.padEnd(8)} ${r.memory.padEnd(7)} ${r.broadcast.padEnd(9)} ${r.tile.medianGflops.toFixed(1).padStart(5)} ${r.tile.bestGflops.toFixed(1).padStart(5)}  ` +
  r.relevance.map((x) => `B=${x.B}: ${x.medianMs.toFixed(1).padStart(6)} ms ${x.gflops.toFixed(1).padStart(5)} (best ${x.bestGflops.toFixed(1).padStart(4)})`).join('   ') +
  `  ${r.checksum.toString(16).padStart(8, '0')}`;
if (suites.includes('kernels')) console.log(`runtime   build    memory  broadcast  tile: median, best GFLOP/s   relevance forward: median ms, GFLOP/s (fastest call's)   checksum`);
const results: [string, KernelSpeed][] = [];
const browsers = BROWSERS.filter((x) => !only || only.includes(x.name));
for (const b of browsers) if (b.skip) console.log(`${b.name}: skipped, ${b.skip}`);
const scalingLine = (runtime: string, t: ThreadScaling) =>
  `${runtime.padEnd(9)} encodeImage B=8, C=16384: 1 thread ${t.one.medianMs.toFixed(0)} ms (best ${t.one.minMs.toFixed(0)}), ` +
  `${t.threads} threads ${t.two.medianMs.toFixed(0)} ms (best ${t.two.minMs.toFixed(0)}): ${t.speedup.toFixed(2)}x (best ${t.bestSpeedup.toFixed(2)}x), ` +
  `${t.sameBits ? 'same bits' : 'DIFFERENT BITS'}`;
const scalings: ThreadScaling[] = [];
/** Prints and keeps one runtime's result. */
const report = (runtime: string, r: RuntimeResult) => {
  if (r.kernels) {
    for (const row of r.kernels.rows) console.log(line(runtime, row));
    results.push([runtime === 'Node' ? `Node ${process.versions.node}` : `${runtime}: ${r.kernels.userAgent}${r.kernels.crossOriginIsolated ? '' : ' (not cross-origin isolated)'}`, r.kernels]);
  }
  if (r.scaling) {
    console.log(scalingLine(runtime, r.scaling));
    scalings.push(r.scaling);
  }
};
/** One cycle: Node, then each browser; with --repeat N the cycles alternate the runtimes over N windows of the host. */
for (let cycle = 0; cycle < repeat; cycle++) {
  if (repeat > 1) console.log(`cycle ${cycle + 1} of ${repeat}`);
  report('Node', {
    kernels: suites.includes('kernels') ? await measureKernelSpeed() : undefined,
    scaling: suites.includes('threads') ? await measureThreadScaling() : undefined,
  });
  for (const b of browsers.filter((x) => !x.skip)) {
    const tab = await b.open();
    try {
      await tab.goto(url);
      await tab.waitForTitle(300_000);
      const r = await tab.evaluate<RuntimeResult | { error: string } | null>('window.__result ?? null');
      if (!r || 'error' in r) throw new Error(`${b.name}: ${r ? r.error : 'the page left no result'}`);
      report(b.name, r);
    } finally {
      await tab.close();
    }
  }
}
if (repeat > 1 && results.length) {
  // Per runtime and variant, over the cycles: the best tile sample and the fastest relevance call.
  console.log('best over the cycles: tile GFLOP/s, relevance forward GFLOP/s of the fastest call');
  const best = new Map<string, number[]>();
  for (const [name, r] of results) {
    for (const row of r.rows) {
      const key = `${name.split(/[ :]/)[0]!.padEnd(9)} ${row.build.padEnd(8)} ${row.memory.padEnd(7)} ${row.broadcast.padEnd(9)}`;
      const now = [row.tile.bestGflops, ...row.relevance.map((x) => x.bestGflops)];
      best.set(key, (best.get(key) ?? now).map((v, i) => Math.max(v, now[i]!)));
    }
  }
  for (const [key, v] of best) console.log(`${key} tile ${v[0]!.toFixed(1).padStart(5)}   ${v.slice(1).map((x, i) => `B=${SHAPE_BATCHES[i]}: ${x.toFixed(1).padStart(5)}`).join('   ')}`);
}
server.close();
for (const [name, r] of results.slice(0, 1 + browsers.filter((x) => !x.skip).length)) console.log(`${name}; relaxed SIMD ${r.relaxed ? 'validates' : 'does not validate'}`);
const simd = new Set(results.flatMap(([, r]) => r.rows.filter((x) => x.build === 'simd').map((x) => x.checksum)));
const sameBits = simd.size <= 1 && scalings.every((t) => t.sameBits);
if (results.length) console.log(simd.size === 1 ? 'every runtime\'s SIMD rows: the same bits' : `SIMD rows DIFFER between runtimes or variants: ${[...simd].map((x) => x.toString(16)).join(', ')}`);
process.exit(sameBits ? 0 : 1);
