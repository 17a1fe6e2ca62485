// Real browsers, one per browser engine (bench/browsers.ts): Debian's Chromium (V8), Firefox ESR (SpiderMonkey) and
// WebKitGTK's MiniBrowser (JavaScriptCore, Safari's engine). The library is bundled by esbuild, served from
// 127.0.0.1, and runs a golden case plus one training step in the page and in a Web Worker, and again on 2 threads in
// a cross-origin-isolated page (the engine's Web Worker pool on a shared memory); the wasm engine's results must
// equal Node's bit for bit in every browser (WebAssembly's float arithmetic is deterministic), and WebGPU's, where
// the browser has it, within the float32 tolerance. Page errors and console messages are collected by the page itself
// (a classic script ahead of the module), the same way in every browser. A screenshot per browser is kept in
// test-artifacts/.
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOLDEN_DIR, HAS_GOLDEN, REPO_ROOT } from './golden-io.js';
import { floatsOf, runCase } from './browser/app.js';
import { BROWSERS, bundleForBrowser, serveFiles, type BrowserPage } from '../bench/browsers.js';
import { expectClose } from './helpers/close.js';
import { expectFirstSlotOnTies } from './helpers/ties.js';
import type { TiesCheck } from './webgpu-ties-check.js';

const GOLDEN = path.join(GOLDEN_DIR, 'fdt_head_sparsemax_T1.json');
const NO_GOLDEN = HAS_GOLDEN ? '' : 'no golden files';
/** The keys of runCase's result that must equal Node's bit for bit. */
const WASM_KEYS = ['loss', 'imageEmbeddings', 'textWeights', 'gradSpaceDict', 'stepLoss', 'dictionaryAfterStep'];

// CI sets FDT_REQUIRE_BROWSER=1 after installing the browsers: there a missing one is a failure, not a skip.
for (const b of BROWSERS) {
  if (b.skip !== '' && process.env['FDT_REQUIRE_BROWSER'] === '1') {
    it(`has ${b.name} when CI requires it`, () => expect.fail(`FDT_REQUIRE_BROWSER=1 but ${b.skip}`));
  }
}

/**
 * Runs before the page's module: keeps the page's uncaught errors, rejections and console.error calls in
 * window.__errors, and its console.debug messages in window.__debug.
 */
const CAPTURE = `<script>
window.__errors = []; window.__debug = [];
// Capture phase: a script or resource that fails to load fires an 'error' that does not bubble.
addEventListener('error', (e) => __errors.push(e.message || 'failed to load ' + (e.target && (e.target.src || e.target.href))), true);
addEventListener('unhandledrejection', (e) => __errors.push('unhandled rejection: ' + (e.reason && e.reason.message || e.reason)));
for (const [k, into] of [['error', __errors], ['debug', __debug]]) {
  const original = console[k];
  console[k] = (...a) => { into.push(a.map(String).join(' ')); original.apply(console, a); };
}
</script>`;

let server: { url: string; close(): Promise<void> } | undefined;
let url = '';
/** Bundles the pages and starts the server once, for whichever browser asks first. */
async function serve(): Promise<string> {
  if (url) return url;
  const bundle = (entry: string) => bundleForBrowser({ file: path.join(REPO_ROOT, 'test', 'browser', entry) });
  server = await serveFiles({
    '/': ['text/html', `<!doctype html><meta charset="utf-8"><title>running</title>${CAPTURE}<h1>fdtkit</h1><p id="out">running…</p><script type="module" src="/page.js"></script>`],
    '/page.js': ['text/javascript', await bundle('page.ts')],
    '/worker.js': ['text/javascript', await bundle('worker.ts')],
    '/golden.json': ['application/json', readFileSync(GOLDEN, 'utf8')],
    // The cross-origin-isolated page (COOP / COEP): SharedArrayBuffer, so a worker pool.
    '/iso/': ['text/html', `<!doctype html><meta charset="utf-8"><title>running</title>${CAPTURE}<h1>fdtkit, threads</h1><p id="out">running…</p><script type="module" src="/iso/page.js"></script>`],
    '/iso/page.js': ['text/javascript', await bundle('page-threads.ts')],
    '/iso/golden.json': ['application/json', readFileSync(GOLDEN, 'utf8')],
  }, (p) => p.startsWith('/iso/'));
  url = server.url;
  return url;
}
afterAll(() => server?.close());

let nodeResult: Promise<Record<string, unknown>> | undefined;
/** The case in Node, once for every browser. */
const nodeCase = () => (nodeResult ??= runCase(JSON.parse(readFileSync(GOLDEN, 'utf8'))));

/** Opens `address`, waits for the page to set its title, and returns what the page collected. */
async function openAndWait(page: BrowserPage, address: string): Promise<{ title: string; out: string; errors: string[]; debug: string[] }> {
  await page.goto(address);
  const title = await page.waitForTitle(60_000).catch(async (e: Error) => {
    const said = await page.evaluate<string | null>("document.getElementById('out')?.textContent ?? null").catch(() => null);
    const errors = await page.evaluate<string[] | null>('window.__errors ?? null').catch(() => null);
    throw new Error(`${e.message}; page says: ${said}; errors: ${errors?.join(' | ')}`);
  });
  const [out, errors, debug] = await Promise.all([
    page.evaluate<string>("document.getElementById('out').textContent"),
    page.evaluate<string[] | null>('window.__errors ?? null'),
    page.evaluate<string[] | null>('window.__debug ?? null'),
  ]);
  // The collector's arrays exist unless the page's first script did not run.
  if (!errors || !debug) throw new Error(`${address}: the page's error collector is missing`);
  return { title, out, errors, debug };
}

for (const b of BROWSERS) {
  const skip = b.skip || NO_GOLDEN;
  describe.skipIf(skip !== '')(`in ${b.name} ${skip}`, () => {
    let node: Record<string, unknown>;
    // One browser for both tests (WebGPU switched on where the browser keeps it behind a switch); each test opens its page.
    let page: BrowserPage;
    beforeAll(async () => {
      await serve();
      node = await nodeCase();
      page = await b.open({ webgpu: true });
    });
    afterAll(() => page?.close());

    it('runs the same case on 2 threads in a cross-origin-isolated page (Web Workers on a shared memory, every pooled kernel\'s threshold at 0), equal to Node on one; a claimed relevance forward there equals one thread\'s, both threads\' claim loops run to the end', async () => {
      const { title, out, errors } = await openAndWait(page, `${url}iso/`);
      expect(errors).toEqual([]);
      expect(title, out).toBe('done');
      const got = await page.evaluate<{
        isolated: boolean; threads: Record<string, unknown>; claimed: { threads: number; equal: boolean; counter: number; expectedCounter: number };
      }>('window.__result');
      expect(got.isolated).toBe(true);
      expect(got.threads['threads']).toBe(2);
      expect(got.claimed.threads).toBe(2);
      expect(got.claimed.equal, 'claimed relevance forward vs one thread').toBe(true);
      expect(got.claimed.counter).toBe(got.claimed.expectedCounter);
      // Results do not depend on the thread count or the browser: the same bits as one thread in Node (float32
      // arrays travel as bit patterns, so -0 and NaN count).
      for (const key of WASM_KEYS) expect(got.threads[key], `2 threads: ${key}`).toEqual(node[key]);
    });

    it('runs an FDT encode and a training step in the page and in a Web Worker, equal to Node; WebGPU within the float32 tolerance', async () => {
      const { title, out, errors, debug } = await openAndWait(page, url);
      expect(errors).toEqual([]);
      expect(title, out).toBe('done');
      // The page is not cross-origin isolated: no SharedArrayBuffer, so one thread, said in a debug message.
      expect(debug.some((m) => /threads asked, 1 used: this runtime has no SharedArrayBuffer/.test(m)), debug.join('\n')).toBe(true);
      const dir = path.join(REPO_ROOT, 'test-artifacts');
      mkdirSync(dir, { recursive: true });
      await page.screenshot(path.join(dir, `browser-${b.name.toLowerCase()}.png`));
      const got = await page.evaluate<Record<string, Record<string, unknown>>>('window.__result');
      // The page timed its tiles on its first SIMD instance (bindings/tile-choice.ts); which ones won depends on the
      // browser and the CPU, so the test reports them.
      const tiles = got['tiles'] as { broadcastFromMemory?: unknown; relevanceOn1x32?: unknown } | null;
      expect(typeof tiles?.broadcastFromMemory, 'the page chose a GEMM tile broadcast').toBe('boolean');
      expect(typeof tiles?.relevanceOn1x32, 'the page chose a relevance tile').toBe('boolean');
      console.log(`${b.name}: GEMM tile broadcast ${tiles!.broadcastFromMemory ? 'from memory' : 'in a register'}, relevance on ${tiles!.relevanceOn1x32 ? 'tile_1x32' : 'tile_2x16'}`);
      // The relaxed build (FMA: last bits differ) where the browser validates it, within the float32 tolerance of
      // Node's SIMD results; Chromium 156 and Firefox 153 do, WebKitGTK 2.50 does not.
      const relaxed = got['relaxed']!;
      expect(relaxed['skipped'] === undefined, `${b.name} relaxed: ${relaxed['skipped']}`).toBe(b.name !== 'WebKit');
      if (relaxed['skipped'] === undefined) {
        expect(relaxed['build']).toBe('relaxed');
        for (const key of ['imageEmbeddings', 'textWeights', 'gradSpaceDict', 'dictionaryAfterStep']) {
          expectClose(`${b.name} relaxed ${key}`, floatsOf(relaxed[key] as number[]), floatsOf(node[key] as number[]));
        }
        expectClose(`${b.name} relaxed loss`, [relaxed['loss'] as number, relaxed['stepLoss'] as number], [node['loss'] as number, node['stepLoss'] as number]);
      }
      // WebGPU: the tfjs engine when an adapter exists (Chromium's SwiftShader, Firefox on Mesa's lavapipe here;
      // CI requires it with FDT_REQUIRE_WEBGPU=1), else the reason it was skipped. A run that fails is a failure.
      const webgpu = got['webgpu'] as { skipped?: string; error?: string; adapter?: string; engine?: string; [key: string]: unknown };
      expect(webgpu.error).toBeUndefined();
      if (webgpu.skipped) {
        if (process.env['FDT_REQUIRE_WEBGPU'] === '1' && b.webgpu) expect.fail(`FDT_REQUIRE_WEBGPU=1 but ${b.name}'s WebGPU skipped: ${webgpu.skipped}`);
        console.log(`${b.name} WebGPU skipped: ${webgpu.skipped}`);
      } else {
        console.log(`${b.name} WebGPU: adapter ${webgpu.adapter}, ${webgpu.engine}, loss ${webgpu['loss']}, ties ${JSON.stringify(webgpu['ties'])}`);
        expect(webgpu.engine).toBe('tfjs webgpu');
        // The float32 engines' tolerance against the wasm engine's results in Node (itself checked against the goldens).
        for (const key of ['loss', 'imageEmbeddings', 'textWeights', 'gradSpaceDict']) {
          const want = node[key] as number[] | number;
          expectClose(`${b.name} webgpu.${key}`, ([] as number[]).concat(webgpu[key] as number[] | number), typeof want === 'number' ? [want] : floatsOf(want));
        }
        expectFirstSlotOnTies(webgpu['ties'] as TiesCheck, `${b.name} WebGPU`);
      }
      for (const where of ['page', 'worker']) {
        const r = got[where]!;
        expect(r['build'], where).toBe('simd');
        // The same wasm in another engine: bit-identical results.
        for (const key of WASM_KEYS) expect(r[key], `${where}.${key}`).toEqual(node[key]);
      }
    });
  });
}
