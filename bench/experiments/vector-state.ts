// The calling thread's AVX upper state and the speed of wasm SIMD (bindings/vector-state.ts):
//
//   npx tsx bench/experiments/vector-state.ts [--rounds 12] [--xinuse [--import PKG]] [--tfjs]
//   deno run -A --sloppy-imports bench/experiments/vector-state.ts ...;  bun bench/experiments/vector-state.ts ...
//
// Prints what clearUpperVectorState costs per call and what decoding a build with bindings/base64.ts costs. Then
// each round times, back to back, the state right after 1 MB of base64 work (btoa + atob) and right after
// clearUpperVectorState (a no-op outside Node on x86-64): the in-L1 tile (the fastest of 10 samples of 1,000 calls,
// GFLOP/s) and the relevance forward at the paper shape with B = 1 (one call, ms); the median and the best of the
// rounds per state. --tfjs adds tfjs-backend-wasm's matMul of the same GEMM (the peer, in the same states).
//
// --xinuse first prints XINUSE (XGETBV, ECX = 1; bit 2 = YMM upper halves in use) after each kind of base64 work
// and after clearing, with a positive control (a native 256-bit write) that shows the reading sees bit 2 in this
// runtime; --import PKG also reads it after importing PKG on a dirty thread. xinuse.c is compiled with cc into a
// temporary directory; Deno and Bun call it through their FFI, Node loads a fresh copy with process.dlopen whose
// constructor does the work (the load then fails as "not a Node module", which is expected).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { decodeBase64 } from '../../bindings/base64.js';
import { instantiateKernels } from '../../bindings/kernels.js';
import { clearsVectorState, clearUpperVectorState } from '../../bindings/vector-state.js';
import { SIMD_WASM_BASE64 } from '../../bindings/wasm-bytes.generated.js';
import { Rng } from '../../src/rng.js';
import { detectRuntime } from '../../src/runtime.js';
import { residentTile } from '../host-speed.js';
import { flagArg, numberArg, stringArg } from './args.js';

const rounds = numberArg('--rounds', 12);
const runtime = detectRuntime();
const BASE64_INPUT = '\x07'.repeat(1 << 20);
const base64Work = (): void => void atob(btoa(BASE64_INPUT));

/** The native helpers: read XINUSE, set bit 2, clear it. */
interface Native {
  read(): string;
  dirty(): void;
  clear(): void;
}

async function native(): Promise<Native> {
  const dir = mkdtempSync(join(tmpdir(), 'xinuse-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const so = join(dir, 'xinuse.so');
  execFileSync('cc', ['-O2', '-shared', '-fPIC', '-o', so, fileURLToPath(new URL('./xinuse.c', import.meta.url))]);
  type Symbols = { xinuse: () => bigint | number; dirty_upper: () => void; clear_upper: () => void };
  const hex = (x: bigint | number): string => `0x${x.toString(16)}`;
  if (runtime === 'deno') {
    const deno = (globalThis as unknown as { Deno: { dlopen: (p: string, s: object) => { symbols: Symbols } } }).Deno;
    const none = { parameters: [], result: 'void' };
    const { symbols } = deno.dlopen(so, { xinuse: { parameters: [], result: 'u64' }, dirty_upper: none, clear_upper: none });
    return { read: () => hex(symbols.xinuse()), dirty: () => symbols.dirty_upper(), clear: () => symbols.clear_upper() };
  }
  if (runtime === 'bun') {
    const ffi = (await import('bun:ffi' as string)) as { dlopen: (p: string, s: object) => { symbols: Symbols } };
    const none = { args: [], returns: 'void' };
    const { symbols } = ffi.dlopen(so, { xinuse: { args: [], returns: 'u64' }, dirty_upper: none, clear_upper: none });
    return { read: () => hex(symbols.xinuse()), dirty: () => symbols.dirty_upper(), clear: () => symbols.clear_upper() };
  }
  let n = 0;
  const load = (env: 'XINUSE_OUT' | 'XINUSE_DIRTY', value: string): void => {
    const copy = join(dir, `x${n++}.so`); // a fresh file each time: dlopen runs the constructor once per object
    copyFileSync(so, copy);
    delete process.env['XINUSE_OUT'];
    delete process.env['XINUSE_DIRTY'];
    process.env[env] = value;
    try {
      process.dlopen({ exports: {} }, copy);
    } catch {
      // "Module did not self-register": the constructor has already run.
    }
  };
  const out = join(dir, 'xinuse.txt');
  return {
    read: () => {
      load('XINUSE_OUT', out);
      return readFileSync(out, 'utf8');
    },
    dirty: () => load('XINUSE_DIRTY', '1'),
    clear: clearUpperVectorState,
  };
}

const mod = await instantiateKernels('simd');

if (flagArg('--xinuse')) {
  const x = await native();
  const clearName = clearsVectorState() ? 'clearUpperVectorState()' : 'VZEROUPPER (native)';
  const show = (what: string): void => console.log(`XINUSE ${x.read()}  right after ${what}`);
  show('instantiating the kernels');
  const buffer = (globalThis as { Buffer?: { from(s: string | Uint8Array, enc?: string): { toString(enc: string): string } } }).Buffer;
  const build = decodeBase64(SIMD_WASM_BASE64);
  const works: [string, () => unknown][] = [
    ['a native 256-bit write (the positive control)', () => x.dirty()],
    [`decodeBase64 of the SIMD build (${(SIMD_WASM_BASE64.length / 1024).toFixed(0)} KB of base64)`, () => decodeBase64(SIMD_WASM_BASE64)],
    ['atob of the SIMD build', () => atob(SIMD_WASM_BASE64)],
    ...(buffer ? [
      ['Buffer.from(the SIMD build, \'base64\')', () => buffer.from(SIMD_WASM_BASE64, 'base64')],
      [`Buffer#toString('base64') of the ${(build.length / 1024).toFixed(0)} KB build`, () => buffer.from(build).toString('base64')],
    ] as [string, () => unknown][] : []),
    ['btoa + atob of 1 MB', base64Work],
  ];
  for (const [what, work] of works) {
    work();
    show(what);
    x.clear();
    show(clearName);
  }
  const pkg = stringArg('--import');
  if (pkg) {
    base64Work();
    show('btoa + atob of 1 MB');
    await import(pkg);
    show(`importing ${pkg}`);
  }
  x.clear();
}

if (clearsVectorState()) {
  const t0 = performance.now();
  for (let i = 0; i < 10_000; i++) clearUpperVectorState();
  console.log(`clearUpperVectorState: ${((performance.now() - t0) / 10).toFixed(1)} us per call (10,000 calls)`);
}
const decodeMs: number[] = [];
for (let i = 0; i < 21; i++) {
  const t0 = performance.now();
  decodeBase64(SIMD_WASM_BASE64);
  decodeMs.push(performance.now() - t0);
}
console.log(`decodeBase64 of the SIMD build: ${decodeMs.sort((p, q) => p - q)[10]!.toFixed(2)} ms (median of 21)`);
const states = { base64: base64Work, cleared: clearUpperVectorState } as const;

const tile = residentTile(mod, 256)!;
const tileRate = (): number => {
  let best = 0;
  for (let s = 0; s < 10; s++) {
    const t0 = performance.now();
    tile.run(1000);
    best = Math.max(best, (tile.flopsPerCall * 1000) / ((performance.now() - t0) * 1e6));
  }
  return best;
};

const [B, P, d, C] = [1, 49, 512, 16384];
const a = mod.arena;
const rng = new Rng(1);
const q = a.alloc(B * P * d * 4);
const T = a.alloc(C * d * 4);
const Tp = a.alloc(C * d * 4);
const R = a.alloc(B * C * 4);
const ARG = a.alloc(B * C * 4);
const scratch = a.alloc(mod.k.relevance_scratch_bytes(P));
for (const [p, n] of [[q, B * P * d], [T, C * d]] as const) {
  const v = mod.f32(p, n);
  for (let i = 0; i < n; i++) v[i] = rng.normal();
}
mod.k.f32_pack_nt(T, C, d, Tp);
const relevanceMs = (): number => {
  const t0 = performance.now();
  mod.k.f32_relevance_fwd(q, B, P, d, Tp, C, 1 / Math.sqrt(d), 0, 0, R, ARG, scratch);
  return performance.now() - t0;
};
relevanceMs();
const tfjsMs = flagArg('--tfjs') ? await tfjsMatMul() : null;

/** --tfjs: one call of tfjs-backend-wasm's matMul [49, 512] x [512, 16384] (the relevance GEMM at B = 1), ms. */
async function tfjsMatMul(): Promise<() => number> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend('wasm'))) throw new Error('--tfjs: the tfjs wasm backend did not start');
  await tf.ready();
  const a = tf.randomNormal([P, d]);
  const b = tf.randomNormal([d, C]);
  const once = (): number => {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
    return performance.now() - t0;
  };
  once();
  return once;
}

const rows = {
  base64: { tile: [] as number[], rel: [] as number[], tfjs: [] as number[] },
  cleared: { tile: [] as number[], rel: [] as number[], tfjs: [] as number[] },
};
for (let r = 0; r < rounds; r++) {
  for (const state of r % 2 ? (['cleared', 'base64'] as const) : (['base64', 'cleared'] as const)) {
    states[state]();
    rows[state].tile.push(tileRate());
    states[state]();
    rows[state].rel.push(relevanceMs());
    if (tfjsMs) {
      states[state]();
      rows[state].tfjs.push(tfjsMs());
    }
  }
}
const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
console.log(`${runtime}, ${rounds} rounds, each state timed right after it was set; the state is cleared here: ${clearsVectorState()}`);
console.log('right after                  in-L1 tile GFLOP/s (median / best)   relevance B=1 P=49 d=512 C=16384 ms (median / best)' +
  (tfjsMs ? '   tfjs-wasm matMul 49x512 @ 512x16384 ms (median / best)' : ''));
for (const state of ['base64', 'cleared'] as const) {
  const x = rows[state];
  const label = state === 'base64' ? '1 MB of base64 work' : 'clearUpperVectorState';
  const tfjs = tfjsMs ? `${med(x.tfjs).toFixed(1).padStart(27)} / ${Math.min(...x.tfjs).toFixed(1)}` : '';
  console.log(`${label.padEnd(28)} ${med(x.tile).toFixed(1).padStart(8)} / ${Math.max(...x.tile).toFixed(1).padEnd(27)} ${med(x.rel).toFixed(1).padStart(8)} / ${Math.min(...x.rel).toFixed(1).padEnd(22)}${tfjs}`.trimEnd());
}
