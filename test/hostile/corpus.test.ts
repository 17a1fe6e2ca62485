// The hostile-file corpus (scripts/make-hostile-corpus.ts) through the public loader FDT.load(bytes) and through the
// lower-level readers of src/io. Every hostile file must be refused with a typed FdtError subclass whose message names
// the problem; nothing may execute (no marker file appears); each file is handled in bounded time; and the process's
// memory stays bounded over the whole corpus. See docs/RELIABILITY.md, "Hostile corpus".
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { unzipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { FDT, FdtError, FdtFormatError, FdtShapeError, FdtValueError } from '../../src/index.js';
import { decodeModel } from '../../src/io/model-file.js';
import { unpickle } from '../../src/io/pickle.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { importOfficialFdtHead, readTorchCheckpoint } from '../../src/io/torch-checkpoint.js';
import {
  BOMB_MIB, buildCorpus, corpusDigest, MARKER_DIR, writeCorpus, type CorpusEntry, type Reader, type Refusal,
} from '../../scripts/make-hostile-corpus.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CORPUS_DIR = path.join(ROOT, '.cache', 'hostile');
/** Bound per file and reader, in CPU time of this process (robust to a loaded machine), and a wall-clock guard. */
const MAX_CPU_MS_PER_FILE = 2000;
const MAX_WALL_MS_PER_FILE = 10_000;
/** Bound on memory growth over the whole corpus: peak RSS and peak ArrayBuffer bytes; and what stays after a GC. */
const MAX_PEAK_GROWTH = 256 * 2 ** 20;
const MAX_RETAINED_GROWTH = 64 * 2 ** 20;

/**
 * Files that show a known bug: 'unbounded' (refused, but only past the time and memory bounds) or 'accepted' (must be
 * refused but loads). Their tests are `it.fails` until fixed. None today: the deflate bombs (data.pkl capped at
 * 64 MiB; storages counted whole against the budget) and the Object.prototype-named tensors (Object.hasOwn) were
 * fixed after this suite found them.
 */
const KNOWN_BUGS: Record<string, { kind: 'unbounded' | 'accepted'; why: string }> = {};
const isUnbounded = (e: CorpusEntry): boolean => KNOWN_BUGS[e.file]?.kind === 'unbounded';
const isAccepted = (e: CorpusEntry): boolean => KNOWN_BUGS[e.file]?.kind === 'accepted';
/** Time and memory of the 'unbounded' files, measured by their refusal tests. */
const measured: Record<string, Measured> = {};

// The corpus is generated at collection time (the test list is read from it), into a git-ignored folder.
const manifest = writeCorpus(CORPUS_DIR);
const bytesOf = (e: CorpusEntry): Uint8Array => new Uint8Array(readFileSync(path.join(CORPUS_DIR, e.file)));
const hostile = manifest.filter((e) => e.category !== 'valid');
const ERRORS = { FdtFormatError, FdtShapeError, FdtValueError } as const;

const READERS: Record<Reader, (b: Uint8Array, o?: Record<string, number>) => unknown> = {
  decodeSafetensors: (b, o) => decodeSafetensors(b, o),
  decodeModel: (b) => decodeModel(b),
  readTorchCheckpoint: (b, o) => readTorchCheckpoint(b, o),
  importOfficialFdtHead: (b, o) => importOfficialFdtHead(b, o),
  unpickle: (b) => unpickle(dataPkl(b)),
};

/** The data.pkl of a (well-formed, stored) corpus zip, for the unpickler on its own. */
function dataPkl(zip: Uint8Array): Uint8Array {
  const files = unzipSync(zip, { filter: (f) => f.name.endsWith('data.pkl') });
  const names = Object.keys(files);
  if (names.length !== 1) throw new Error(`expected one data.pkl in the test file, found ${names.length}`);
  return files[names[0]!]!;
}

interface Outcome {
  where: string;
  error: unknown;
  /** CPU time of the process (user + system) and wall-clock time, in ms. */
  cpuMs: number;
  wallMs: number;
  want?: Refusal;
}

/** Runs fn (sync or async) and returns what it threw (undefined when it did not) and how long it took. */
async function attempt(where: string, fn: () => unknown, want?: Refusal): Promise<Outcome> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
    // V8 keeps the frames of an error's stack (receivers included: here the unpickler and its input, possibly an
    // inflated bomb) until .stack is first read. Read it, as any logger would, so that kept errors stay small.
    void (e as Error | undefined)?.stack;
  }
  const c = process.cpuUsage(c0);
  return { where, error, cpuMs: (c.user + c.system) / 1000, wallMs: performance.now() - t0, ...(want ? { want } : {}) };
}

function expectRefusal(where: string, error: unknown, want: Refusal): void {
  expect(error, `${where}: accepted a file that must be refused`).toBeDefined();
  expect(error, `${where}: threw ${String(error)}, not an FdtError`).toBeInstanceOf(FdtError);
  expect(error, `${where}: ${(error as Error).name}: ${(error as Error).message}`).toBeInstanceOf(ERRORS[want.error]);
  expect((error as Error).message, where).toMatch(new RegExp(want.message));
}

const markerPath = (m: string): string => path.join(ROOT, m);

/** Loads one file through FDT.load and through every reader named for it (calling `after` after each). */
async function loadAll(e: CorpusEntry, bytes: Uint8Array, after: () => void = () => {}): Promise<Outcome[]> {
  const out = [await attempt(`${e.file}: FDT.load`, () => FDT.load(bytes, { build: 'scalar' }), e.load)];
  after();
  for (const { reader, options, refusal } of e.readers) {
    out.push(await attempt(`${e.file}: ${reader}${options ? ' ' + JSON.stringify(options) : ''}`, () => READERS[reader](bytes, options), refusal));
    after();
  }
  return out;
}

/** True when every reader that must refuse the file refused it with an FdtError. */
const refusedAll = (results: Outcome[]): boolean => results.every((r) => !r.want || r.error instanceof FdtError);

describe('hostile corpus', () => {
  mkdirSync(path.join(ROOT, MARKER_DIR), { recursive: true });

  it(`is generated deterministically (${manifest.length} files: ${hostile.length} hostile, ${manifest.length - hostile.length} valid baselines)`, () => {
    expect(hostile.length).toBeGreaterThanOrEqual(40);
    const onDisk = JSON.parse(readFileSync(path.join(CORPUS_DIR, 'manifest.json'), 'utf8')) as { digest: string };
    expect(corpusDigest(buildCorpus())).toBe(onDisk.digest);
    expect(new Set(manifest.map((e) => e.file)).size).toBe(manifest.length);
  });

  it('the valid baselines load (so each refusal below is caused by the damage alone)', async () => {
    for (const e of manifest.filter((x) => x.category === 'valid')) {
      for (const r of await loadAll(e, bytesOf(e))) expect(r.error, `${r.where}: ${String(r.error)}`).toBeUndefined();
    }
    const m = await FDT.load(bytesOf(manifest.find((x) => x.file === 'valid-model.safetensors')!), { build: 'scalar' });
    expect(m.config.numTokens).toBe(4);
  });

  describe.each(hostile.map((e) => [e.file, e] as const))('%s', (_name, e) => {
    const title = `is refused by FDT.load and ${e.readers.map((r) => r.reader).join(', ')} with a typed error naming the problem (${e.what})`;
    (isAccepted(e) ? it.fails : it)(isAccepted(e) ? `KNOWN BUG (${KNOWN_BUGS[e.file]!.why}): ${title}` : title, async () => {
      const marker = e.marker ? markerPath(e.marker) : undefined;
      if (marker) rmSync(marker, { force: true });
      // A deflate bomb is slow to load: measure its time and memory on the way (asserted by the KNOWN BUG tests).
      let outcomes: Outcome[];
      if (isUnbounded(e)) {
        const m = await measure([e]);
        outcomes = m.outcomes;
        measured[e.file] = { ...m, outcomes: [] };
      } else {
        outcomes = await loadAll(e, bytesOf(e));
      }
      for (const r of outcomes) {
        if (r.want) expectRefusal(r.where, r.error, r.want);
        else expect(r.error, `${r.where}: this reader must accept the file (${String(r.error)})`).toBeUndefined();
        if (!isUnbounded(e)) {
          expect(r.cpuMs, `${r.where}: took ${r.cpuMs.toFixed(0)} ms of CPU`).toBeLessThan(MAX_CPU_MS_PER_FILE);
          expect(r.wallMs, `${r.where}: took ${r.wallMs.toFixed(0)} ms`).toBeLessThan(MAX_WALL_MS_PER_FILE);
        }
      }
      if (marker) expect(existsSync(marker), `${e.file}: ${e.marker} was created`).toBe(false);
    });
  });

  it('nothing executed: no marker file exists, Object.prototype is clean', () => {
    for (const e of manifest) if (e.marker) expect(existsSync(markerPath(e.marker)), e.marker).toBe(false);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(Object.getOwnPropertyNames(Object.getPrototypeOf({})).sort());
    expect(({} as Record<string, unknown>)['numTokens']).toBeUndefined();
  });

  it(`time and memory stay bounded over the whole corpus (peak growth < ${MAX_PEAK_GROWTH / 2 ** 20} MiB, retained < ${MAX_RETAINED_GROWTH / 2 ** 20} MiB)`, async () => {
    const files = manifest.filter((e) => !isUnbounded(e));
    const m = await measure(files, 'file');
    report(m, 'corpus');
    expect(m.refused).toBe(files.filter((e) => e.category !== 'valid' && !isAccepted(e)).length);
    expect(m.maxCpuMs, m.slowest).toBeLessThan(MAX_CPU_MS_PER_FILE);
    expect(m.peakGrowth).toBeLessThan(MAX_PEAK_GROWTH);
    expect(m.arrayBuffersPeakGrowth).toBeLessThan(MAX_PEAK_GROWTH);
    expect(m.retainedGrowth).toBeLessThan(MAX_RETAINED_GROWTH);
  });

  // KNOWN BUG (see KNOWN_BUGS and docs/RELIABILITY.md): these fail today; drop `.fails` once the reader caps the bytes
  // it inflates. The figures are those measured by the file's refusal test above (FDT.load and its readers).
  for (const [file, bug] of Object.entries(KNOWN_BUGS).filter(([, b]) => b.kind === 'unbounded')) {
    it.fails(`KNOWN BUG: ${file} is refused within ${MAX_CPU_MS_PER_FILE} ms and ${MAX_PEAK_GROWTH / 2 ** 20} MiB (${bug.why})`, async () => {
      const m = measured[file] ?? (await measure(manifest.filter((e) => e.file === file)));
      report(m, file);
      expect(m.refused).toBe(1);
      expect(m.maxCpuMs).toBeLessThan(MAX_CPU_MS_PER_FILE);
      expect(m.peakGrowth).toBeLessThan(MAX_PEAK_GROWTH);
      expect(m.arrayBuffersPeakGrowth).toBeLessThan(MAX_PEAK_GROWTH);
    });
  }

  afterAll(() => {
    rmSync(path.join(ROOT, MARKER_DIR), { recursive: true, force: true });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Memory measurement

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function settle(): void {
  for (let i = 0; i < 3; i++) gc();
}

/** Linux: resets the kernel's peak-RSS mark of this process (VmHWM) to the current RSS; false where unsupported. */
function resetHwm(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5'); // Linux >= 4.0
    return true;
  } catch {
    return false;
  }
}

/** Linux: the kernel's peak-RSS mark of this process in bytes, or -1. */
function readHwm(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : -1;
  } catch {
    return -1;
  }
}

/**
 * Samples the process's RSS every millisecond from a worker thread, so that peaks inside a synchronous parse are seen.
 */
function startSampler(): { stop: () => Promise<number> } {
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads');
     let peak = 0;
     const tick = () => { const r = process.memoryUsage.rss(); if (r > peak) peak = r; };
     const timer = setInterval(tick, 1);
     parentPort.on('message', () => { tick(); clearInterval(timer); parentPort.postMessage(peak); });`,
    { eval: true },
  );
  return {
    stop: () => new Promise<number>((resolve, reject) => {
      w.once('message', (peak: number) => {
        void w.terminate();
        resolve(peak);
      });
      w.once('error', reject);
      w.postMessage('stop');
    }),
  };
}

interface Measured {
  outcomes: Outcome[];
  files: number;
  refused: number;
  maxCpuMs: number;
  maxWallMs: number;
  slowest: string;
  peakGrowth: number;
  retainedGrowth: number;
  arrayBuffersPeakGrowth: number;
  hwmGrowth: number;
}

/**
 * Loads every file through FDT.load and its readers, collecting the garbage after each call (or each file, for the
 * whole corpus: fewer full collections) so that the peak reflects one working set rather than the collector's timing,
 * and measures: CPU and wall time per call; RSS before, at its peak (a worker thread samples
 * it every millisecond, and on Linux the kernel's VmHWM mark is reset before and read after) and after a final GC;
 * the peak of ArrayBuffer bytes after each call (or file).
 */
async function measure(files: CorpusEntry[], collectEach: 'call' | 'file' = 'call'): Promise<Measured> {
  const contents = files.map((e) => [e, bytesOf(e)] as const);
  settle();
  const before = process.memoryUsage();
  const hwmOk = resetHwm();
  const hwmBefore = readHwm();
  const sampler = startSampler();
  await new Promise((r) => setTimeout(r, 20)); // let the sampler start
  let refused = 0;
  let maxCpuMs = 0;
  let maxWallMs = 0;
  let slowest = '';
  const outcomes: Outcome[] = [];
  let abPeak = before.arrayBuffers;
  let rssPeak = before.rss;
  for (const [e, bytes] of contents) {
    const sample = (): void => {
      const now = process.memoryUsage();
      abPeak = Math.max(abPeak, now.arrayBuffers);
      rssPeak = Math.max(rssPeak, now.rss);
      gc();
    };
    const results = await loadAll(e, bytes, collectEach === 'call' ? sample : undefined);
    if (collectEach === 'file') sample();
    outcomes.push(...results);
    if (e.category !== 'valid' && refusedAll(results)) refused++;
    for (const r of results) {
      if (r.cpuMs > maxCpuMs) {
        maxCpuMs = r.cpuMs;
        slowest = `${r.where} (${r.cpuMs.toFixed(0)} ms CPU, ${r.wallMs.toFixed(0)} ms wall)`;
      }
      maxWallMs = Math.max(maxWallMs, r.wallMs);
    }
  }
  const sampled = await sampler.stop();
  const hwmAfter = readHwm();
  settle();
  const after = process.memoryUsage();
  return {
    outcomes,
    files: files.length,
    refused,
    maxCpuMs,
    maxWallMs,
    slowest,
    peakGrowth: Math.max(rssPeak, sampled, hwmOk && hwmAfter > 0 ? hwmAfter : 0) - before.rss,
    retainedGrowth: after.rss - before.rss,
    arrayBuffersPeakGrowth: abPeak - before.arrayBuffers,
    hwmGrowth: hwmOk && hwmBefore > 0 ? hwmAfter - hwmBefore : -1,
  };
}

function report(m: Measured, label: string): void {
  const mb = (x: number): string => (x / 2 ** 20).toFixed(1);
  const next = [...m.outcomes].sort((a, b) => b.cpuMs - a.cpuMs).slice(1, 4).map((r) => `${r.where} ${r.cpuMs.toFixed(0)} ms`);
  console.log(`[hostile ${label}] ${m.files} files, ${m.refused} hostile refused; slowest call ${m.slowest}; max wall ${m.maxWallMs.toFixed(0)} ms; ` +
    (next.length ? `next slowest (CPU): ${next.join(', ')}; ` : '') +
    `RSS peak +${mb(m.peakGrowth)} MiB (VmHWM +${m.hwmGrowth < 0 ? 'n/a' : mb(m.hwmGrowth)}), retained +${mb(m.retainedGrowth)} MiB; ` +
    `ArrayBuffers peak +${mb(m.arrayBuffersPeakGrowth)} MiB`);
}
