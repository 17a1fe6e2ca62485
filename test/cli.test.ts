// The `fdt` command as a user runs it (through tsx on the sources, so the test needs no build step).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { GOLDEN_DIR, GOLDEN_SKIP_REASON, goldenHeadFiles, HAS_GOLDEN, REPO_ROOT, SHARED_DIR } from './golden-io.js';
import { clearsVectorState } from '../bindings/vector-state.js';

const run = promisify(execFile);
const FIXTURE = path.join(SHARED_DIR, 'fixtures', 'official-fdt-mini.pth.tar');
const EXPECTED = path.join(SHARED_DIR, 'fixtures', 'official-fdt-mini.expected.json');

async function fdt(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return fdtEnv({}, ...args);
}

async function fdtEnv(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('every command: --help and argument mistakes', () => {
  const COMMANDS = ['verify', 'import', 'explain', 'doctor', 'calibrate', 'demo', 'train', 'eval', 'embed', 'bench'];

  it('`fdt COMMAND --help` prints that command\'s usage and exits 0', async () => {
    const out = await Promise.all(COMMANDS.map((c) => fdt(c, '--help')));
    for (const [i, c] of COMMANDS.entries()) {
      expect(out[i]!.code, `${c}: ${out[i]!.stderr}`).toBe(0);
      expect(out[i]!.stdout.startsWith(`fdt ${c}`), `${c}: ${out[i]!.stdout.slice(0, 80)}`).toBe(true);
      expect(out[i]!.stdout).toMatch(/\n {2}--\w/); // its options, described
    }
    const top = await fdt('--help');
    expect(top.stdout).toContain("'fdt COMMAND --help'");
  });

  it('an unknown option or a missing value exits 2 with the command, the option and the usage, no stack trace', async () => {
    const cmds = COMMANDS.filter((c) => c !== 'bench');
    const out = await Promise.all(cmds.map((c) => fdt(c, '--bogus')));
    for (const [i, c] of cmds.entries()) {
      expect(out[i]!.code, c).toBe(2);
      expect(out[i]!.stderr, c).toContain(`fdt ${c}: Unknown option '--bogus'`);
      expect(out[i]!.stderr, c).toContain(`\nfdt ${c}`); // the usage follows
      expect(out[i]!.stderr, c).not.toMatch(/\n\s+at /);
    }
    const missing = await fdt('verify', '--engine');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("fdt verify: Option '--engine <value>' argument missing");
    // The built-in suite of an installed package reads its own options: the same kind of error.
    const { runBuiltInBench } = await import('../src/cli/bench.js');
    const { isArgumentError } = await import('../src/cli/usage.js');
    for (const args of [['--bogus'], ['--json']]) {
      const e = await runBuiltInBench(args).then(() => null, (err: unknown) => err);
      expect(isArgumentError(e), `built-in bench ${args.join(' ')}: ${String(e)}`).toBe(true);
    }
    // The repository's suite (a checkout runs bench/main.ts): the same rule.
    const bench = await fdt('bench', '--suites', 'nope');
    expect(bench.code).toBe(2);
    expect(bench.stderr).toContain('bench: unknown suite nope; known: ');
    expect(bench.stderr).not.toMatch(/\n\s+at /);
  });

  it('integer options: digits only, within their range, the range named in the error (one reader for every command)', async () => {
    const { intOption, UsageError } = await import('../src/cli/usage.js');
    expect(intOption('--seed', undefined)).toBeUndefined();
    expect(intOption('--seed', '0')).toBe(0);
    expect(intOption('--top', ' 7 ', 1)).toBe(7);
    expect(intOption('--workers', '2', 1, 2)).toBe(2);
    const cases: [string, number, number | undefined, RegExp][] = [
      ['-1', 0, undefined, /--x: expected an integer >= 0, found "-1"/],
      ['1e3', 0, undefined, /found "1e3"/],
      ['2.5', 1, undefined, /--x: expected a positive integer, found "2.5"/],
      ['0', 1, undefined, /--x: expected a positive integer, found "0"/],
      ['', 1, undefined, /found ""/],
      ['19', 20, undefined, /--x: expected an integer >= 20, found "19"/],
      ['3', 1, 2, /--x: expected an integer from 1 to 2, found "3"/],
      ['9007199254740993', 0, undefined, /found "9007199254740993"/],
    ];
    for (const [raw, min, max, message] of cases) {
      expect(() => intOption('--x', raw, min, max), raw).toThrow(UsageError);
      expect(() => intOption('--x', raw, min, max), raw).toThrow(message);
    }
    // Through a command: fdt calibrate --tokens reads it the same way and exits 2 with the usage.
    const r = await fdt('calibrate', '--tokens', '1e3');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--tokens: expected a positive integer, found "1e3"');
  });
});

describe.skipIf(!HAS_GOLDEN)(`fdt verify ${GOLDEN_SKIP_REASON}`, () => {
  it('passes on every golden file on both builds, one row per field', async () => {
    for (const f of goldenHeadFiles()) {
      for (const build of ['simd', 'scalar']) {
        const r = await fdt('verify', path.join(GOLDEN_DIR, f), '--build', build);
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(r.stdout).toContain(`(wasm ${build}`);
        expect(r.stdout).toMatch(/^grads\.param\.space_dict\s+\S+\s+\S+\s+\S+\s+ok/m);
        // The training path, on a gradient it sums another way (through the first Linear's weight-gradient GEMM).
        expect(r.stdout).toMatch(/^train\.grads\.param\.img_query_model\.q_map\.0\.weight\s+\S+\s+\S+\s+\S+\s+ok/m);
        expect(r.stdout).toContain('PASS');
      }
    }
  });

  it('accepts any file in the format and fails (exit 1) when a value is off', async () => {
    const doc = JSON.parse(readFileSync(path.join(GOLDEN_DIR, goldenHeadFiles()[0]!), 'utf8'));
    doc.name = 'tampered';
    doc.outputs.loss += 0.01;
    const dir = mkdtempSync(path.join(tmpdir(), 'fdt-verify-'));
    const file = path.join(dir, 'tampered.json');
    writeFileSync(file, JSON.stringify(doc));
    const r = await fdt('verify', file);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^loss\s+.*FAIL/m);
    expect(r.stdout).toContain('FAIL: 1 field(s) out of tolerance');
  });

  it('reports unreadable input and bad options clearly', async () => {
    const r = await fdt('verify', '/nonexistent/file.json');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/FdtFormatError: \/nonexistent\/file\.json: cannot read/);
    const b = await fdt('verify', path.join(GOLDEN_DIR, goldenHeadFiles()[0]!), '--build', 'avx');
    expect(b.stderr).toMatch(/--build: expected simd, scalar, relaxed or auto, found "avx"/);
  });
});

describe.skipIf(!existsSync(FIXTURE))(`fdt import and verify --checkpoint on the official checkpoint fixture${existsSync(FIXTURE) ? '' : ` (skipped: no fixture at ${FIXTURE})`}`, () => {
  it('imports to safetensors and reproduces the official outputs from the checkpoint and from the import', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fdt-import-'));
    const out = path.join(dir, 'm.safetensors');
    const imp = await fdt('import', FIXTURE, '--out', out);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stdout).toContain('C=48, dim d=12, imageDim=24, textDim=16');
    for (const ckpt of [FIXTURE, out]) {
      const r = await fdt('verify', EXPECTED, '--checkpoint', ckpt);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^logits_per_image\s+.*ok$/m);
    }
  });
});

describe('fdt doctor and fdt calibrate', () => {
  it('doctor explains capabilities and its choices; calibrate stores measured series that doctor then reports and decides by', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fdt-doctor-'));
    const env = { FDTKIT_CACHE_DIR: dir };
    const d1 = await fdtEnv(env, 'doctor', '--backends', 'cpu');
    expect(d1.code, d1.stderr).toBe(0);
    expect(d1.stdout).toMatch(/wasm engine\s+ready, (simd|scalar) build/);
    expect(d1.stdout).toMatch(/tfjs engine\s+ready on backend 'cpu' \(CPU, no GPU\)/);
    expect(d1.stdout).toMatch(/thresholds\s+defaults/);
    // The CLI runs under Node: on x86-64 the engine clears the AVX upper state before its calls (vector-state.ts).
    expect(/vector state\s+cleared before every wasm engine call/.test(d1.stdout)).toBe(clearsVectorState());
    expect(d1.stdout).toMatch(/train step, B = 32 .* -> wasm\s+no GPU/);
    const c = await fdtEnv(env, 'calibrate', '--quick', '--backends', 'wasm');
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/B =\s+1 .* wasm .* ms\s+tfjs .* ms\s+tfjs\/wasm [\d.]+/);
    // tfjs-wasm is a CPU backend: a series stops once it lost twice in a row, and then training is not measured.
    expect(c.stdout).toMatch(/a CPU backend, (slower at two sizes in a row|more than 4x slower)/);
    expect(existsSync(path.join(dir, 'thresholds.json'))).toBe(true);
    const d2 = await fdtEnv(env, 'doctor', '--backends', 'wasm');
    expect(d2.stdout).toMatch(/thresholds\s+calibrated \d{4}-\d\d-\d\d, backend 'wasm'/);
    expect(d2.stdout).toMatch(/encode 49 rows: tfjs\/wasm time B=1 [\d.]+/);
    expect(d2.stdout).toMatch(/encode 32 captions \(77 slots\) .* -> (wasm|tfjs)\s+encode of .*tfjs time \/ wasm time ~ [\d.]+ on 'wasm' \(encode series, 77 rows/);
    const none = await fdtEnv(env, 'doctor', '--backends', 'tfjs-node-gpu');
    expect(none.stdout).toMatch(/tfjs engine\s+unavailable/);
    expect(none.stdout).toMatch(/npm install/);
  }, 240_000);

  it.skipIf(!HAS_GOLDEN)(`verify --engine tfjs passes on a golden file ${GOLDEN_SKIP_REASON}`, async () => {
    const r = await fdt('verify', path.join(GOLDEN_DIR, goldenHeadFiles()[0]!), '--engine', 'tfjs');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\(tfjs (wasm|cpu)\)/);
  });
});
