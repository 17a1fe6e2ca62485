// The calling thread's AVX upper state and the speed of wasm SIMD (bindings/vector-state.ts):
//
//   npx tsx bench/experiments/vector-state.ts [--rounds 12] [--xinuse]
//   deno run -A --sloppy-imports bench/experiments/vector-state.ts ...;  bun bench/experiments/vector-state.ts ...
//
// Each round times, back to back, the state right after 1 MB of base64 work (btoa + atob) and right after
// clearUpperVectorState (a no-op outside Node on x86-64): the in-L1 tile (the fastest of 10 samples of 1,000
// calls, GFLOP/s) and the relevance forward at the paper shape with B = 1 (one call, ms). It prints the median and
// the best of the rounds per state. --xinuse also prints XINUSE (XGETBV, ECX = 1; bit 2 = YMM upper halves in use)
// in each state: xinuse.c is compiled with cc into a temporary directory; Deno and Bun call it through their FFI,
// Node loads a fresh copy with process.dlopen, whose constructor writes it to a file (the load then fails as "not a
// Node module", which is expected).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { instantiateKernels } from '../../bindings/kernels.js';
import { clearsVectorState, clearUpperVectorState } from '../../bindings/vector-state.js';
import { Rng } from '../../src/rng.js';
import { detectRuntime } from '../../src/runtime.js';
import { residentTile } from '../host-speed.js';
import { flagArg, numberArg } from './args.js';

const rounds = numberArg('--rounds', 12);
const runtime = detectRuntime();
const BASE64_INPUT = '\x07'.repeat(1 << 20);
const base64Work = (): void => void atob(btoa(BASE64_INPUT));

/** XINUSE of this thread as hex, or null without --xinuse. */
const readXinuse = flagArg('--xinuse') ? await xinuseReader() : () => null;

async function xinuseReader(): Promise<() => string> {
  const dir = mkdtempSync(join(tmpdir(), 'xinuse-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const so = join(dir, 'xinuse.so');
  execFileSync('cc', ['-O2', '-shared', '-fPIC', '-o', so, fileURLToPath(new URL('./xinuse.c', import.meta.url))]);
  const g = globalThis as unknown as { Deno?: { dlopen: (p: string, s: object) => { symbols: { xinuse: () => bigint } } } };
  if (runtime === 'deno') {
    const lib = g.Deno!.dlopen(so, { xinuse: { parameters: [], result: 'u64' } });
    return () => `0x${lib.symbols.xinuse().toString(16)}`;
  }
  if (runtime === 'bun') {
    const ffi = (await import('bun:ffi' as string)) as { dlopen: (p: string, s: object) => { symbols: { xinuse: () => bigint | number } } };
    const lib = ffi.dlopen(so, { xinuse: { args: [], returns: 'u64' } });
    return () => `0x${lib.symbols.xinuse().toString(16)}`;
  }
  let n = 0;
  return () => {
    const copy = join(dir, `x${n++}.so`); // a fresh file each time: dlopen runs the constructor once per object
    copyFileSync(so, copy);
    const out = join(dir, 'xinuse.txt');
    process.env['XINUSE_OUT'] = out;
    try {
      process.dlopen({ exports: {} }, copy);
    } catch {
      // "Module did not self-register": the constructor has already run.
    }
    return readFileSync(out, 'utf8');
  };
}

const mod = await instantiateKernels('simd');
const states = { base64: base64Work, cleared: clearUpperVectorState } as const;
if (flagArg('--xinuse')) {
  console.log(`XINUSE after instantiating the kernels: ${readXinuse()}`);
  for (const [state, set] of Object.entries(states)) {
    set();
    console.log(`XINUSE right after ${state === 'base64' ? '1 MB of base64 work' : 'clearUpperVectorState'}: ${readXinuse()}`);
  }
}

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

const rows = { base64: { tile: [] as number[], rel: [] as number[] }, cleared: { tile: [] as number[], rel: [] as number[] } };
for (let r = 0; r < rounds; r++) {
  for (const state of r % 2 ? (['cleared', 'base64'] as const) : (['base64', 'cleared'] as const)) {
    states[state]();
    rows[state].tile.push(tileRate());
    states[state]();
    rows[state].rel.push(relevanceMs());
  }
}
const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
console.log(`${runtime}, ${rounds} rounds, each state timed right after it was set; the state is cleared here: ${clearsVectorState()}`);
console.log('right after                  in-L1 tile GFLOP/s (median / best)   relevance B=1 P=49 d=512 C=16384 ms (median / best)');
for (const state of ['base64', 'cleared'] as const) {
  const x = rows[state];
  const label = state === 'base64' ? '1 MB of base64 work' : 'clearUpperVectorState';
  console.log(`${label.padEnd(28)} ${med(x.tile).toFixed(1).padStart(8)} / ${Math.max(...x.tile).toFixed(1).padEnd(27)} ${med(x.rel).toFixed(1).padStart(8)} / ${Math.min(...x.rel).toFixed(1)}`);
}
