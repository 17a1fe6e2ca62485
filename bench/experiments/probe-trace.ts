// What the host probe (bench/host-speed.ts) reads over time, and around a large JS import:
//
//   npx tsx bench/experiments/probe-trace.ts [--seconds 30] [--every-ms 500] [--import @tensorflow/tfjs-core]
//   deno run -A --sloppy-imports bench/experiments/probe-trace.ts ...;  bun bench/experiments/probe-trace.ts ...
//
// Prints one probe reading (GFLOP/s of the in-L1 tile, ~5 ms) every --every-ms for --seconds. With --import, the
// median and the highest of 40 readings before importing the package and again after it. In Node 20 the probe ran
// ~15% faster after importing @tensorflow/tfjs-core or assemblyscript/asc: the kernels' loading had left the
// thread's AVX upper halves in use, and those imports cleared them. The kernels no longer leave them in use, and
// the probe clears them before each reading (bindings/vector-state.ts; docs/PERFORMANCE.md, "Dirty vector
// registers"), so the readings before and after now agree.
import { HostSpeed } from '../host-speed.js';
import { numberArg, stringArg } from './args.js';

const probe = await HostSpeed.create();
if (!probe) throw new Error('the SIMD build does not export tile_2x16 here');
const seconds = numberArg('--seconds', 30);
const everyMs = numberArg('--every-ms', 500);
const pkg = stringArg('--import');

const forty = (what: string): void => {
  const xs = Array.from({ length: 40 }, () => probe.probe()).sort((a, b) => a - b);
  console.log(`${what}: median ${xs[20]!.toFixed(1)}, highest ${xs[39]!.toFixed(1)} GFLOP/s (40 readings)`);
};

if (pkg) {
  forty('before the import');
  const t0 = performance.now();
  await import(pkg);
  console.log(`import ${pkg}: ${(performance.now() - t0).toFixed(0)} ms`);
  forty('right after it');
  await new Promise((r) => setTimeout(r, 1000));
  forty('a second later');
}
const readings: string[] = [];
const t0 = performance.now();
while (performance.now() - t0 < seconds * 1000) {
  readings.push(probe.probe().toFixed(1));
  await new Promise((r) => setTimeout(r, everyMs));
}
console.log(`${readings.length} readings, ${everyMs} ms apart (GFLOP/s): ${readings.join(' ')}`);
probe.release();
