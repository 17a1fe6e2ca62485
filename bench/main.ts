// `npm run bench` (quick grid, < 5 minutes on 2 cores) / `npm run bench -- --full`: the benchmark suite of the
// performance issue. Suites: the micro-kernel ceiling, the relevance kernel per shape x implementation (ours and
// the peers, one thread), thread rows (when the engine has a worker pool), sparsemax, a paper-scale training step
// with its breakdown, and memory. Prints tables and each target with pass / SHORT; writes
// bench/results/<date>-<runtime>[-quick][-<tag>].{json,md,svg}.
//
// Options:
//   --full              the full grid (adds B = 256, every peer at every paper shape, more samples)
//   --quick             the quick grid (default)
//   --suites a,b        only these suites: ceiling, relevance, threads, sparsemax, training, memory, dispatch
//   --threads 2[,4]     thread counts of the thread rows (default 2); --threads 0 skips them
//   --tag NAME          appended to the result file names (e.g. run1, run2)
//   --no-write          print only
//   --shapes a,b        only these grid shapes (ids from bench/shapes.ts: b1-p49, b32-p49, b32-p77, b256-p49,
//                       small, edge); --full still chooses the samples and the peers run at every listed shape
//   --python PATH       python with numpy for the native anchor (default python3)
//   --gate SECONDS      before each shape's interleaved rounds, wait up to SECONDS for the host probe to read at
//                       least QUIET_SHARE (85%) of its fastest (bench/host-speed.ts; default 0: never wait, the calls
//                       are marked quiet or not anyway)
//   --webgpu            Node: WebGPU through the `webgpu` package (Dawn) for the tfjs engine of the dispatch suite
//                       (Deno has WebGPU built in; browsers too)
//
// Other runtimes: `deno run -A --sloppy-imports bench/main.ts` (Deno resolves this repo's `.js` specifiers to
// the `.ts` sources with --sloppy-imports), `bun bench/main.ts`. A peer that cannot load there is skipped with the
// reason printed.
import os from 'node:os';
import process from 'node:process';
import { ALL_SUITES, Ctx, type RunOptions } from './context.js';
import { installNodeWebGpu } from './webgpu-node.js';
import { cpuBusy, machineInfo, printReport, writeJson, writeResults, type RunMeta } from './report.js';
import { ceilingSuite, hostSpeedNote, probeNotes } from './suites/ceiling.js';
import { HostSpeed } from './host-speed.js';
import { dispatchSuite } from './suites/dispatch.js';
import { memorySuite } from './suites/memory.js';
import { peerInfo, relevanceSuite } from './suites/relevance.js';
import { sparsemaxSuite } from './suites/sparsemax.js';
import { threadsSuite } from './suites/threads.js';
import { trainingSuite } from './suites/training.js';
import { evaluateTargets } from './targets.js';
import { shapeById } from './shapes.js';
import { createModel, modelThreads } from './threads.js';

const USAGE = 'usage: npm run bench -- [--full] [--suites a,b] [--shapes a,b] [--threads 2] [--tag NAME] [--no-write] [--json FILE] [--python PATH] [--gate SECONDS] [--webgpu]\n'
  + `  suites: ${ALL_SUITES.join(', ')}\n`;

/** A mistake on the command line: the message and the usage, exit status 2, no stack trace. */
function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv: string[]): RunOptions {
  const o: RunOptions = { mode: 'quick', suites: new Set(ALL_SUITES), threads: [2], tag: '', write: true, python: 'python3', shapes: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) usageError(`${a} needs a value`);
      return v;
    };
    if (a === '--full') o.mode = 'full';
    else if (a === '--quick') o.mode = 'quick';
    else if (a === '--suites') {
      const names = value().split(',').map((s) => s.trim()).filter(Boolean);
      for (const n of names) if (!(ALL_SUITES as readonly string[]).includes(n)) usageError(`unknown suite ${n}; known: ${ALL_SUITES.join(', ')}`);
      o.suites = new Set(names);
    } else if (a === '--threads') {
      o.threads = value().split(',').map(Number).filter((n) => Number.isSafeInteger(n) && n > 1);
    } else if (a === '--tag') o.tag = value().replace(/[^\w.-]/g, '_');
    else if (a === '--no-write') o.write = false;
    else if (a === '--json') o.json = value();
    else if (a === '--python') o.python = value();
    else if (a === '--webgpu') o.webgpu = true;
    else if (a === '--gate') {
      const text = value();
      const v = Number(text);
      if (!/^\d+(\.\d+)?$/.test(text) || !(v <= 3600)) usageError(`--gate takes seconds from 0 to 3600, got ${JSON.stringify(text)}`);
      o.gateS = v;
    }
    else if (a === '--shapes') {
      o.shapes = new Set(value().split(',').map((x) => x.trim()));
      for (const id of o.shapes) {
        try {
          shapeById(id);
        } catch (e) {
          usageError((e as Error).message);
        }
      }
    }
    else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else usageError(`unknown option ${a}`);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
if (opts.webgpu) {
  const why = await installNodeWebGpu();
  if (why) process.stdout.write(`--webgpu: ${why}\n`);
}
const ctx = new Ctx(opts);
ctx.host = await HostSpeed.create();
const started = new Date();
const busyBefore = await cpuBusy();
const loadBefore = os.loadavg();
ctx.log(`fdtkit bench: ${opts.mode} grid, suites ${[...opts.suites].join(', ')}; CPU busy before start: ${busyBefore === null ? 'n/a' : `${(100 * busyBefore).toFixed(0)}%`}`);
if (busyBefore !== null && busyBefore > 0.25) {
  ctx.notes.push(`the machine was ${(100 * busyBefore).toFixed(0)}% busy before the run started: other work shares these cores, expect noise`);
}

// Does the engine have a threads option? (The thread rows of the training step need it too.)
let threadCounts = [1];
if (opts.threads.length) {
  const probe = await createModel({ numTokens: 16, dim: 16, imageDim: 16, textDim: 16, threads: 1 });
  const has = modelThreads(probe) !== undefined;
  probe.dispose();
  if (has && opts.mode === 'full') threadCounts = [1, ...opts.threads];
  if (!has) ctx.notes.push('thread rows skipped: FDT.create has no `threads` option yet (the worker pool has not landed)');
}

const suites: [string, () => Promise<void>][] = [
  ['ceiling', () => ceilingSuite(ctx)],
  ['relevance', () => relevanceSuite(ctx)],
  ['threads', () => threadsSuite(ctx)],
  ['sparsemax', () => sparsemaxSuite(ctx)],
  ['memory', () => memorySuite(ctx)],
  ['training', () => trainingSuite(ctx, threadCounts)],
  ['dispatch', () => dispatchSuite(ctx)],
];
for (const [name, run] of suites) {
  if (!opts.suites.has(name)) continue;
  try {
    await run();
  } catch (e) {
    const msg = e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e);
    ctx.log(`suite ${name} failed: ${msg}`);
    ctx.notes.push(`suite ${name} failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

if (opts.suites.has('ceiling') && opts.suites.size > 1) {
  try {
    await ceilingSuite(ctx, 'end');
  } catch (e) {
    ctx.notes.push(`ceiling (end of run) failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  const slow = hostSpeedNote(ctx);
  if (slow) ctx.notes.push(slow);
}
ctx.notes.push(...probeNotes(ctx));
ctx.host?.release();
ctx.targets.push(...evaluateTargets(ctx));
const meta: RunMeta = {
  date: started.toISOString().slice(0, 10),
  started: started.toISOString(),
  duration_s: (performance.now() - ctx.t0) / 1000,
  command: [ctx.runtime, ...process.argv.slice(1)].join(' ').replace(process.cwd() + '/', ''),
  machine: machineInfo(),
  load: { busy_before: busyBefore, busy_after: await cpuBusy(), loadavg_before: loadBefore, loadavg_after: os.loadavg() },
  peers: peerInfo,
};
printReport(ctx, meta);
if (opts.write) {
  for (const f of writeResults(ctx, meta)) ctx.log(`wrote ${f}`);
}
if (opts.json) ctx.log(`wrote ${writeJson(ctx, meta, opts.json)}`);
ctx.log(`done in ${meta.duration_s.toFixed(0)} s`);
// Worker pools (ours, ort's) keep the event loop alive: leave explicitly.
process.exit(0);
