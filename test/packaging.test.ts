// The published form: `npm pack`, install the tarball into a fresh project, and run the README's quickstart from
// Node, Deno and Bun. The tarball must hold only what users need, within a size budget.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './golden-io.js';

/** Unpacked size budget of the library (optional peers excluded). */
const UNPACKED_BUDGET = 2 * 1024 * 1024;
const bin = (name: string) => path.join(REPO_ROOT, 'node_modules', '.bin', name);

describe('packaging', () => {
  it('packs within budget, installs into a fresh project, and the quickstart runs in Node, Deno and Bun', () => {
    const work = mkdtempSync(path.join(tmpdir(), 'fdt-pack-'));
    const json = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: REPO_ROOT, encoding: 'utf8' });
    const info = JSON.parse(json.slice(json.indexOf('[')))[0] as { filename: string; size: number; unpackedSize: number; files: { path: string }[] };
    console.log(`tarball ${info.filename}: ${info.size} bytes packed, ${info.unpackedSize} bytes unpacked, ${info.files.length} files`);
    expect(info.unpackedSize).toBeLessThan(UNPACKED_BUDGET);
    const paths = info.files.map((f) => f.path);
    expect(paths).toContain('dist/src/index.js');
    expect(paths).toContain('dist/src/index.d.ts');
    expect(paths).toContain('dist/bindings/wasm-bytes.generated.js');
    expect(paths.filter((p) => /^(test|bench|assembly|scripts|\.cache|src)\//.test(p) || p.includes('.test.'))).toEqual([]);

    const app = path.join(work, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(work, info.filename)], { cwd: app, stdio: 'pipe' });
    copyFileSync(path.join(REPO_ROOT, 'examples', 'quickstart.mjs'), path.join(app, 'quickstart.mjs'));
    const outputs: Record<string, string> = {
      node: execFileSync(process.execPath, ['quickstart.mjs'], { cwd: app, encoding: 'utf8' }),
      deno: execFileSync(bin('deno'), ['run', '--allow-read', '--allow-env', 'quickstart.mjs'], { cwd: app, encoding: 'utf8' }),
      bun: execFileSync(bin('bun'), ['quickstart.mjs'], { cwd: app, encoding: 'utf8' }),
    };
    const parsed = Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, JSON.parse(v.trim().split('\n').pop()!)]));
    expect(parsed['node'].build).toBe('simd');
    expect(parsed['node'].embeddingDim).toBe(64);
    // The same wasm in three runtimes: identical results.
    expect(parsed['deno']).toEqual(parsed['node']);
    expect(parsed['bun']).toEqual(parsed['node']);
    // The installed `fdt bench` runs the built-in suite (no bench/ in the package) and writes its records.
    execFileSync(path.join(app, 'node_modules', '.bin', 'fdt'), ['bench', '--quick', '--json', 'bench.json'], { cwd: app, stdio: 'pipe' });
    const bench = JSON.parse(readFileSync(path.join(app, 'bench.json'), 'utf8')) as { records: { kernel: string; impl: string; gflops: number | null; median_ms: number }[] };
    expect(bench.records.map((r) => r.kernel)).toEqual(['relevance', 'relevance', 'sparsemax', 'sparsemax']);
    for (const r of bench.records) {
      expect(r.impl).toBe('fdtkit-simd');
      expect(r.median_ms).toBeGreaterThan(0);
    }
    expect(bench.records[0]!.gflops).toBeGreaterThan(0);
  }, 180_000);
});
