// The real browsers of the browser test and of bench/experiments/browsers.ts, from Debian's packages, one per
// browser engine: Chromium (Blink, V8) and Firefox ESR (Gecko, SpiderMonkey) started headless by puppeteer-core,
// over the DevTools protocol and WebDriver BiDi; WebKitGTK's MiniBrowser (WebKit, JavaScriptCore: Safari's engines)
// through its WebDriver server on a virtual X display (Xvfb). None downloads anything.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** One page in a started browser. */
export interface BrowserPage {
  goto(url: string): Promise<void>;
  /** The value of a JavaScript expression in the page (JSON-serialisable). */
  evaluate<T>(expression: string): Promise<T>;
  /** Waits until document.title is no longer `running`, and returns it. */
  waitForTitle(timeoutMs: number): Promise<string>;
  screenshot(path: string): Promise<void>;
  /** Closes the page and its browser. */
  close(): Promise<void>;
}

export interface BrowserUnderTest {
  /** The name the test titles and messages use. */
  name: 'Chromium' | 'Firefox' | 'WebKit';
  /** Why this browser's tests are skipped (naming the Debian packages to install), or '' when it is installed. */
  skip: string;
  /** Whether it offers WebGPU here (false: it has none to test, and the test says so). */
  webgpu: boolean;
  /** Starts it with one page; `webgpu` asks for WebGPU where the browser keeps it behind a switch. */
  open(options?: { webgpu?: boolean }): Promise<BrowserPage>;
}

/** Why a browser cannot run: the files that are missing and the Debian packages that install them; '' if none. */
function missing(apt: string, files: string[]): string {
  const absent = files.filter((f) => !existsSync(f));
  return absent.length ? `no ${absent.join(', ')} (apt-get install ${apt})` : '';
}

async function puppeteerPage(launch: () => Promise<import('puppeteer-core').Browser>): Promise<BrowserPage> {
  const browser = await launch();
  const page = await browser.newPage().catch(async (e: unknown) => {
    await browser.close();
    throw e;
  });
  return {
    goto: async (url) => void (await page.goto(url)),
    evaluate: <T>(expression: string) => page.evaluate(expression) as Promise<T>,
    waitForTitle: async (timeout) => {
      await page.waitForFunction(() => document.title !== 'running', { timeout });
      return page.title();
    },
    screenshot: async (path) => void (await page.screenshot({ path })),
    close: () => browser.close(),
  };
}

const CHROMIUM = '/usr/bin/chromium';
const FIREFOX = '/usr/bin/firefox-esr';
const WEBKIT_DRIVER = '/usr/bin/WebKitWebDriver';
/** WebKitGTK's MiniBrowser, in the multiarch folder of the package libwebkit2gtk-4.1-0 (x86_64-linux-gnu, ...). */
const MINIBROWSER = (() => {
  for (const dir of existsSync('/usr/lib') ? readdirSync('/usr/lib') : []) {
    const f = `/usr/lib/${dir}/webkit2gtk-4.1/MiniBrowser`;
    if (existsSync(f)) return f;
  }
  return '/usr/lib/<arch>/webkit2gtk-4.1/MiniBrowser';
})();
/** How long WebDriver calls and process starts may take before the page is given up. */
const START_TIMEOUT_MS = 30_000;
const XVFB = '/usr/bin/Xvfb';

/** A TCP port nobody listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Starts Xvfb on the first free display and returns it with its number (Xvfb writes the number to -displayfd). */
function startXvfb(): Promise<{ display: string; proc: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(XVFB, ['-displayfd', '1', '-screen', '0', '1024x768x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const fail = (e: Error) => {
      clearTimeout(timer);
      proc.kill();
      reject(e);
    };
    const timer = setTimeout(() => fail(new Error(`Xvfb named no display within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('\n')) return;
      clearTimeout(timer);
      resolve({ display: `:${out.trim()}`, proc });
    });
    proc.on('error', fail);
    proc.on('exit', (code) => fail(new Error(`Xvfb exited (${code}) before naming its display`)));
  });
}

/**
 * WebKitGTK's MiniBrowser through WebKitWebDriver (WebDriver, the W3C protocol, over HTTP), on its own Xvfb display.
 * JSC_useSharedArrayBuffer=1: WebKitGTK leaves SharedArrayBuffer off even in cross-origin-isolated pages, where
 * Safari has it; the option gives the isolated page what Safari gives it (so a WebKitGTK user runs on one thread).
 */
async function webkitPage(): Promise<BrowserPage> {
  const x = await startXvfb();
  let driver: ChildProcess | undefined;
  let driverError: Error | undefined;
  const stop = () => {
    driver?.kill();
    x.proc.kill();
  };
  let base = '';
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const r = await fetch(base + path, {
      method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(START_TIMEOUT_MS),
    });
    const json = (await r.json()) as { value: T & { error?: string; message?: string } };
    if (!r.ok) throw new Error(`WebDriver ${method} ${path}: ${json.value?.error}: ${json.value?.message}`);
    return json.value;
  };
  let session = '';
  try {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = { ...process.env, DISPLAY: x.display, GDK_BACKEND: 'x11', JSC_useSharedArrayBuffer: '1' };
    delete env['WAYLAND_DISPLAY']; // else GTK opens the window on the desktop's Wayland display, not on Xvfb
    driver = spawn(WEBKIT_DRIVER, [`--port=${port}`], { stdio: 'ignore', env });
    driver.on('error', (e) => (driverError = e));
    const end = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (driverError) throw new Error(`WebKitWebDriver did not start: ${driverError.message}`);
      try {
        const s = await call<{ sessionId: string }>('POST', '/session', {
          capabilities: { alwaysMatch: { 'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] } } },
        });
        session = s.sessionId;
        break;
      } catch (e) {
        // Only "not listening yet" (fetch's TypeError) is worth another try; an answer from the driver is final.
        if (!(e instanceof TypeError) || Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (e) {
    stop();
    throw e;
  }
  const s = `/session/${session}`;
  const evaluate = <T>(expression: string) => call<T>('POST', `${s}/execute/sync`, { script: `return ${expression};`, args: [] });
  return {
    goto: async (url) => void (await call('POST', `${s}/url`, { url })),
    evaluate,
    waitForTitle: async (timeout) => {
      const end = Date.now() + timeout;
      for (;;) {
        const title = await evaluate<string>('document.title');
        if (title !== 'running') return title;
        if (Date.now() > end) throw new Error(`the page's title was still 'running' after ${timeout} ms`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    screenshot: async (path) => writeFileSync(path, Buffer.from(await call<string>('GET', `${s}/screenshot`), 'base64')),
    close: async () => {
      try {
        await call('DELETE', s);
      } catch {
        // The processes are stopped below either way.
      } finally {
        stop();
      }
    },
  };
}

/**
 * Bundles code for a browser page (ES module, Node-only modules left out: the library loads them dynamically and
 * never on a browser's path): a file, or source text whose imports resolve from `resolveDir`.
 */
export async function bundleForBrowser(entry: { file: string } | { source: string; resolveDir: string }): Promise<string> {
  const { build } = await import('esbuild');
  const r = await build({
    ...('file' in entry ? { entryPoints: [entry.file] } : { stdin: { contents: entry.source, resolveDir: entry.resolveDir, loader: 'ts' } }),
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, external: ['node:*'],
  });
  return r.outputFiles[0]!.text;
}

/**
 * Serves `files` (path -> [content type, body]) from 127.0.0.1 on a free port; the paths for which `isolated` is
 * true are cross-origin isolated (COOP / COEP: SharedArrayBuffer, so the engine's worker pool, and finer timers).
 */
export async function serveFiles(files: Record<string, [string, string]>, isolated: (path: string) => boolean): Promise<{ url: string; close(): Promise<void> }> {
  const server = createHttpServer((req, res) => {
    const path = req.url ?? '';
    if (path === '/favicon.ico') return void res.writeHead(204).end();
    const f = files[path];
    if (!f) return void res.writeHead(404).end();
    const isolation = isolated(path) ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {};
    res.writeHead(200, { 'content-type': f[0], ...isolation }).end(f[1]);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export const BROWSERS: readonly BrowserUnderTest[] = [
  {
    name: 'Chromium', skip: missing('chromium', [CHROMIUM]), webgpu: true,
    open: ({ webgpu = false } = {}) => puppeteerPage(async () => (await import('puppeteer-core')).default.launch({
      browser: 'chrome',
      executablePath: CHROMIUM,
      headless: true,
      // --enable-unsafe-webgpu lets the WebGPU path run where Chromium finds an adapter (SwiftShader here).
      args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...(webgpu ? ['--enable-unsafe-webgpu'] : [])],
    })),
  },
  {
    name: 'Firefox', skip: missing('firefox-esr mesa-vulkan-drivers', [FIREFOX]), webgpu: true,
    open: ({ webgpu = false } = {}) => puppeteerPage(async () => (await import('puppeteer-core')).default.launch({
      browser: 'firefox',
      executablePath: FIREFOX,
      headless: true,
      // Firefox's WebGPU runs on Vulkan (Mesa's lavapipe here, package mesa-vulkan-drivers).
      extraPrefsFirefox: webgpu ? { 'dom.webgpu.enabled': true, 'gfx.webgpu.ignore-blocklist': true } : {},
    })),
  },
  {
    // WebKitGTK 2.50 exposes no navigator.gpu on Linux (its WebGPU is a preview feature that stays off here).
    name: 'WebKit', skip: missing('webkit2gtk-driver xvfb', [WEBKIT_DRIVER, MINIBROWSER, XVFB]), webgpu: false,
    open: () => webkitPage(),
  },
];
