// The GEMM micro-kernel's k loop as the engine compiles it: the machine code V8's optimising compiler emits for each
// way of writing the 2x16 tile, its instructions per k step against the two bounds that can hold it, and its speed
// on a panel resident in L1.
//
//   npx tsx bench/experiments/tile-code.ts [--list] [--rounds N]
//   deno run -A --sloppy-imports bench/experiments/tile-code.ts   (Deno's V8 lists no instructions, only code sizes)
//   bun bench/experiments/tile-code.ts                            (the timings only)
//
// Each variant is the same 2x16 tile (8 f32x4 accumulators, 4 panel vectors and 2 broadcast row values per k step),
// compiled alone into a module of its own with the shipped build's options. A child process of the same runtime
// with V8's --print-wasm-code (and --no-liftoff, so the one listing is the optimised one) runs it; the innermost
// loop is cut out of the listing at its backward branch. Per k step the loop needs at least
//   FP / 2 cycles       (128-bit mul, add and FMA issue on 2 ports of this core), and
//   uops / 4 cycles     (4-wide rename; a compare or test followed by its conditional jump counts once).
// --list prints the loops. The variants:
//   scalar+splat   a scalar load and a register broadcast per row value (f32x4.splat(load<f32>(p)): the shipped tile
//                  until 2026-11-27);
//   load32_splat   one broadcast from memory per row value (v128.load32_splat(p)): the shipped tile since;
// each with mul + add and, where relaxed SIMD validates (Node 20 needs --experimental-wasm-relaxed-simd, which this
// script passes to itself and to its children), with relaxed_madd; and load32_splat with mul + add and its k loop
// unrolled twice (its counts per k step are the loop's halved; "spills" counts the loop's stack accesses, values
// that did not stay in the 16 xmm registers). Then the shipped tile with each broadcast (tile_set_broadcast) is
// timed beside them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { instantiateKernels, sharedMemoryIsFaster } from '../../bindings/kernels.js';
import { detectRuntime } from '../../src/runtime.js';
import { measure, median } from '../harness.js';
import { residentTile } from '../host-speed.js';
import { flagArg, numberArg } from './args.js';
import { compileLikeShipped } from './compile-as.js';

const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';
const runtime = detectRuntime();
if (runtime === 'node' && !process.execArgv.includes(RELAXED_FLAG)) {
  const r = spawnSync(process.execPath, [RELAXED_FLAG, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

/**
 * The tile, as AssemblyScript exporting `tile(a0, a1, bp, K, out)`: out[r][j] = sum_k a_r[k] * panel[k][j], its k
 * loop unrolled `unroll` times (K a multiple of it).
 */
function tileSource(broadcast: (row: string, offset: number) => string, mac: (acc: string, x: string, b: string) => string, unroll = 1): string {
  const acc = ['c00', 'c01', 'c02', 'c03', 'c10', 'c11', 'c12', 'c13'];
  const step = (u: number) => `{
    const x0 = ${broadcast('a0', 4 * u)}; const x1 = ${broadcast('a1', 4 * u)};
    ${[0, 1, 2, 3].map((j) => `const b${j} = v128.load(bp, ${64 * u + 16 * j});`).join(' ')}
    ${acc.map((c) => `${c} = ${mac(c, c[1] === '0' ? 'x0' : 'x1', `b${c[2]}`)};`).join(' ')}
  }`;
  return `export function tile(a0: usize, a1: usize, bp: usize, K: i32, out: usize): void {
  let ${acc.map((c) => `${c} = f32x4.splat(0)`).join(', ')};
  for (let k = 0; k < K; k += ${unroll}) {
    ${Array.from({ length: unroll }, (_, u) => step(u)).join('\n    ')}
    a0 += ${4 * unroll}; a1 += ${4 * unroll}; bp += ${64 * unroll};
  }
  ${acc.map((c, i) => `v128.store(out, ${c}, ${16 * i});`).join(' ')}
}`;
}

const BROADCASTS: [string, (row: string, offset: number) => string][] = [
  ['scalar+splat', (row, offset) => `f32x4.splat(load<f32>(${row}, ${offset}))`],
  ['load32_splat', (row, offset) => `v128.load32_splat(${row}, ${offset})`],
];
const MACS: [string, boolean, (acc: string, x: string, b: string) => string][] = [
  ['mul+add', false, (acc, x, b) => `f32x4.add(${acc}, f32x4.mul(${x}, ${b}))`],
  ['relaxed_madd', true, (acc, x, b) => `f32x4.relaxed_madd(${x}, ${b}, ${acc})`],
];

/** One loop of a V8 code listing: its instructions (mnemonic and operands). */
interface Loop { lines: string[]; fp: number; uops: number }

/**
 * The innermost loop of the one function in `listing`: the instructions from the target of the last backward
 * conditional jump to that jump.
 */
function innermostLoop(listing: string): Loop | null {
  const code: { at: number; text: string }[] = [];
  for (const line of listing.split('\n')) {
    const m = /^0x[0-9a-f]+\s+([0-9a-f]+)\s+[0-9a-f]+\s+(.+)$/.exec(line.trim());
    if (m) code.push({ at: parseInt(m[1]!, 16), text: m[2]!.replace(/\s+/g, ' ').trim() });
  }
  let loop: { from: number; to: number } | null = null;
  for (const { at, text } of code) {
    const jump = /^j(?!mp)\w+ 0x[0-9a-f]+ <\+0x([0-9a-f]+)>/.exec(text);
    if (jump && parseInt(jump[1]!, 16) < at) loop = { from: parseInt(jump[1]!, 16), to: at };
  }
  if (!loop) return null;
  const lines = code.filter(({ at }) => at >= loop.from && at <= loop.to).map(({ text }) => text);
  const fp = lines.filter((t) => /^v(mul|add|fmadd\d+)ps /.test(t)).length;
  const fused = lines.filter((t, i) => /^j(?!mp)/.test(t) && i > 0 && /^(REX\.W )?(cmp|test)/.test(lines[i - 1]!)).length;
  return { lines, fp, uops: lines.length - fused };
}

/** The machine code of `binary`'s tile, from a child process of this runtime run with --print-wasm-code. */
function listing(binary: Uint8Array): string {
  const dir = mkdtempSync(join(tmpdir(), 'fdt-tile-code-'));
  try {
    const wasm = join(dir, 'tile.wasm');
    writeFileSync(wasm, binary);
    const child = join(dir, 'child.mjs');
    writeFileSync(child, `import { readFileSync } from 'node:fs';
const { exports } = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(${JSON.stringify(wasm)})), {});
for (let i = 0; i < 1000; i++) exports.tile(1024, 2048, 4096, 64, 8192);\n`);
    const v8 = ['--print-wasm-code', '--no-liftoff'];
    const args = runtime === 'deno' ? ['run', '-A', `--v8-flags=${v8.join(',')}`, child] : [...v8, RELAXED_FLAG, child];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`the child exited with ${r.status}: ${r.stderr}`);
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Variant {
  name: string;
  unroll: number;
  binary: Uint8Array;
  tile: (a0: number, a1: number, bp: number, K: number, out: number) => void;
  memory: WebAssembly.Memory;
}

// Every broadcast with each multiply-add, and the shipped scheme with its k loop unrolled twice.
const SCHEMES = [
  ...MACS.flatMap((mac) => BROADCASTS.map((broadcast) => ({ mac, broadcast, unroll: 1 }))),
  { mac: MACS[0]!, broadcast: BROADCASTS[1]!, unroll: 2 },
];
const variants: Variant[] = [];
for (const { mac: [macName, relaxed, mac], broadcast: [broadcastName, broadcast], unroll } of SCHEMES) {
  const name = `${broadcastName}, ${macName}${unroll > 1 ? `, ${unroll}x unrolled` : ''}`;
  const binary = await compileLikeShipped(tileSource(broadcast, mac, unroll), { relaxed });
  try {
    const { instance } = await WebAssembly.instantiate(binary, {});
    const { tile, memory } = instance.exports as unknown as Pick<Variant, 'tile' | 'memory'>;
    variants.push({ name, unroll, binary, tile, memory });
  } catch (e) {
    console.log(`${name}: does not validate here (${(e as Error).message.split('\n')[0]})`);
  }
}

if (runtime !== 'bun') { // Bun runs JavaScriptCore: no V8 listing, the timings below only
  console.log(`${runtime}: the 2x16 tile's k loop in V8's optimised code, per k step (64 FLOP; an unrolled loop's counts divided by its unroll)`);
  console.log(`${'variant'.padEnd(34)} instructions  uops   FP  spills  cycles >= max(FP / 2, uops / 4)`);
}
for (const v of runtime === 'bun' ? [] : variants) {
  const code = listing(v.binary);
  const loop = innermostLoop(code);
  if (!loop) {
    // Deno's V8 is built without the disassembler: it prints the code's size only.
    const size = /Instructions \(size = (\d+)/.exec(code)?.[1];
    console.log(`${v.name.padEnd(34)} no instructions listed by this runtime's V8${size ? ` (the function's code: ${size} bytes)` : ''}`);
    continue;
  }
  const per = (n: number) => n / v.unroll;
  // Stack traffic inside the loop: values the register allocator could not keep in the 16 xmm registers.
  const spills = loop.lines.filter((t) => /\[rbp[-+]0x[0-9a-f]+\]/.test(t)).length;
  const bound = Math.max(per(loop.fp) / 2, per(loop.uops) / 4);
  const limit = per(loop.fp) / 2 >= per(loop.uops) / 4 ? 'FP ports' : 'front end';
  console.log(`${v.name.padEnd(34)} ${per(loop.lines.length).toFixed(1).padStart(12)} ${per(loop.uops).toFixed(1).padStart(5)} ${per(loop.fp).toFixed(1).padStart(4)} ${per(spills).toFixed(1).padStart(7)}  ${bound.toFixed(2)} (${limit})`);
  if (flagArg('--list')) console.log(loop.lines.map((t) => `    ${t}`).join('\n'));
}

// The tile in L1: K = 256 (a 16 KiB panel and 2 KiB of rows), alternating rounds (the host's speed varies). Beside
// the variants, the shipped module's tile_2x16 on the instance this runtime gets (Deno: the shared-memory twin) with
// each setting of tile_set_broadcast, in the same process.
const K = 256, a0 = 1024, a1 = a0 + 4 * K, bp = 8192, out = bp + 64 * K, calls = 8000;
for (const { memory } of variants) {
  const f = new Float32Array(memory.buffer, a0, (out - a0) / 4); // the rows, then the panel (one 64 KiB page)
  for (let i = 0; i < f.length; i++) f[i] = ((i * 7919) % 1000) / 1000 - 0.5;
}
const shipped = await instantiateKernels('simd');
const resident = residentTile(shipped, K)!;
const shippedDefault = shipped.k.tile_set_broadcast(1);
const memoryKind = sharedMemoryIsFaster() ? 'shared memory' : 'plain memory';
const timed: [string, () => void][] = [
  ...variants.map(({ name, tile }): [string, () => void] => [name, () => {
    for (let i = 0; i < calls; i++) tile(a0, a1, bp, K, out);
  }]),
  ...([[1, 'from memory'], [0, 'register']] as const).map(([setting, what]): [string, () => void] => [
    `shipped, ${what}${setting === shippedDefault ? ' (default)' : ''}`,
    () => {
      shipped.k.tile_set_broadcast(setting);
      resident.run(calls);
    },
  ]),
];
const times = new Map<string, number[]>();
const rounds = numberArg('--rounds', 5);
for (let round = 0; round < rounds; round++) {
  for (const [name, run] of timed) {
    const t = await measure(run, { budgetS: 0.5, min: 10, max: 100, warmup: 3 });
    times.set(name, [...(times.get(name) ?? []), t.medianMs]);
  }
}
shipped.k.tile_set_broadcast(shippedDefault);
console.log(`\nin L1 (K = ${K}), ${rounds} alternating rounds: GFLOP/s of the median round, [best round]; shipped: tile_2x16 of the simd build on a ${memoryKind}`);
for (const [name, ms] of times) {
  const gflops = (t: number) => (64 * K * calls) / (t * 1e6);
  console.log(`${name.padEnd(34)} ${gflops(median(ms)).toFixed(1).padStart(5)}  [${gflops(Math.min(...ms)).toFixed(1)}]`);
}
