// The real browsers of the browser test and of bench/experiments/browsers.ts, from Debian's packages, each started
// headless by puppeteer-core: Chromium (Blink and V8) over the DevTools protocol, Firefox ESR (Gecko and
// SpiderMonkey, a second WebAssembly compiler) over WebDriver BiDi. Neither downloads anything.
import { existsSync } from 'node:fs';
import type { Browser } from 'puppeteer-core';

export interface BrowserUnderTest {
  /** The name the test titles and messages use. */
  name: 'Chromium' | 'Firefox';
  /** The Debian package that installs it (named in the skip reason). */
  apt: string;
  executable: string;
  /** Why this browser's tests are skipped, or '' when it is installed. */
  skip: string;
  /** Starts it headless; `webgpu` asks for WebGPU where the browser keeps it behind a switch. */
  launch(options?: { webgpu?: boolean }): Promise<Browser>;
}

function browser(name: BrowserUnderTest['name'], apt: string, executable: string, launch: BrowserUnderTest['launch']): BrowserUnderTest {
  return { name, apt, executable, skip: existsSync(executable) ? '' : `no browser at ${executable} (apt-get install ${apt})`, launch };
}

export const BROWSERS: readonly BrowserUnderTest[] = [
  browser('Chromium', 'chromium', '/usr/bin/chromium', async ({ webgpu = false } = {}) => {
    const { default: puppeteer } = await import('puppeteer-core');
    return puppeteer.launch({
      browser: 'chrome',
      executablePath: '/usr/bin/chromium',
      headless: true,
      // --enable-unsafe-webgpu lets the WebGPU path run where Chromium finds an adapter (SwiftShader here).
      args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...(webgpu ? ['--enable-unsafe-webgpu'] : [])],
    });
  }),
  browser('Firefox', 'firefox-esr', '/usr/bin/firefox-esr', async ({ webgpu = false } = {}) => {
    const { default: puppeteer } = await import('puppeteer-core');
    return puppeteer.launch({
      browser: 'firefox',
      executablePath: '/usr/bin/firefox-esr',
      headless: true,
      // Firefox's WebGPU runs on Vulkan (Mesa's lavapipe here, package mesa-vulkan-drivers).
      extraPrefsFirefox: webgpu ? { 'dom.webgpu.enabled': true, 'gfx.webgpu.ignore-blocklist': true } : {},
    });
  }),
];
