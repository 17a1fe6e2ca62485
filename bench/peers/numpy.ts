/**
 * numpy as the native anchor: float32 q [B*P, d] @ T^T (BLAS sgemm, no copy) into a preallocated [B*P, C] buffer,
 * then max over P. Run in a python3 child, one per thread count, with OPENBLAS_NUM_THREADS set; the child removes
 * OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE from its own environment before it imports numpy (a Haswell core type forced
 * in the environment makes OpenBLAS use AVX2 on an AVX-512 machine). Not through the spawn's `env` option: Deno's
 * child_process adds the parent's variables back to an `env` that left them out (seen with Deno 2.9.6: its numpy rows
 * ran OpenBLAS's Haswell kernels at half speed). The child reports the BLAS numpy was built with
 * (numpy.show_config), and, from the loaded OpenBLAS itself, the core kernel it picked and its thread count
 * (threadpoolctl when installed, else the library's own openblas_get_* functions through ctypes).
 */
import { spawnSync } from 'node:child_process';
import type { Shape } from '../shapes.js';

const SCRIPT = String.raw`
import json, sys, time, ctypes, os
req = json.loads(sys.argv[1])
for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(k, None)  # unsetenv: OpenBLAS reads them when numpy loads it, below
import numpy as np
info = {"numpy": np.__version__, "python": sys.version.split()[0]}
try:
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    info["blas"] = {k: blas.get(k) for k in ("name", "version", "openblas configuration")}
except Exception as e:
    info["blas"] = {"error": str(e)}
try:
    import threadpoolctl
    info["threadpool"] = [{k: p.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                          for p in threadpoolctl.threadpool_info()]
except Exception:
    libs = sorted({l.split()[-1] for l in open("/proc/self/maps") if "openblas" in l.lower()})
    pools = []
    for path in libs:
        lib = ctypes.CDLL(path)
        entry = {"library": path.rsplit("/", 1)[-1]}
        for prefix, suffix in (("scipy_openblas_", "64_"), ("openblas_", ""), ("openblas_", "64_")):
            try:
                core = getattr(lib, prefix + "get_corename" + suffix)
                core.restype = ctypes.c_char_p
                entry["architecture"] = core().decode()
                entry["num_threads"] = getattr(lib, prefix + "get_num_threads" + suffix)()
                break
            except AttributeError:
                pass
        pools.append(entry)
    info["threadpool"] = pools
def snap():
    try:
        v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    except Exception:
        return None
    t = os.times()
    return (sum(v), sum(v) - v[3] - v[4], (t.user + t.system) * 100)
def others(a, b):
    if not a or not b or b[0] - a[0] < 10:
        return None
    return min(1.0, max(0.0, (b[1] - a[1] - (b[2] - a[2])) / (b[0] - a[0])))
rng = np.random.default_rng(1)
results = []
for s in req["shapes"]:
    B, P, d, C = s["B"], s["P"], s["d"], s["C"]
    q = rng.standard_normal((B * P, d), dtype=np.float32)
    T = rng.standard_normal((C, d), dtype=np.float32)
    S = np.empty((B * P, C), dtype=np.float32)
    R = np.empty((B, C), dtype=np.float32)
    def call():
        np.matmul(q, T.T, out=S)
        np.max(S.reshape(B, P, C), axis=1, out=R)
    t0 = time.perf_counter(); call(); first = time.perf_counter() - t0
    n = max(req["min"], min(req["max"], int(req["budget"] / max(first, 1e-6))))
    ts = []
    c0 = snap()
    for _ in range(n):
        t0 = time.perf_counter(); call(); ts.append(time.perf_counter() - t0)
    ts.sort()
    m = len(ts) // 2
    med = ts[m] if len(ts) % 2 else (ts[m - 1] + ts[m]) / 2
    results.append({"id": s["id"], "median_ms": med * 1e3, "samples": n, "dtype": str(S.dtype), "others_load": others(c0, snap())})
    del q, T, S, R
info["results"] = results
print(json.dumps(info))
`;

/** What the child reported. */
export interface NumpyReport {
  numpy: string;
  python: string;
  blas: Record<string, unknown>;
  threadpool: Record<string, unknown>[];
  results: { id: string; median_ms: number; samples: number; others_load: number | null }[];
}

/** Why numpy cannot run here, or null when python3 + numpy are available. */
export function numpyUnavailable(python = 'python3'): string | null {
  const r = spawnSync(python, ['-c', 'import numpy'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) return `${python} not runnable: ${r.error.message}`;
  if (r.status !== 0) return `${python} has no numpy: ${(r.stderr || '').trim().split('\n').pop()}`;
  return null;
}

/**
 * Runs the anchor for the given shapes on `threads` OpenBLAS threads. Throws with the child's stderr when it fails.
 */
export function runNumpy(
  shapes: (Shape & { id: string })[], threads: number, o: { budgetS: number; min: number; max: number }, python = 'python3',
): NumpyReport {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of ['OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS']) env[k] = String(threads);
  const req = { shapes: shapes.map(({ id, B, P, d, C }) => ({ id, B, P, d, C })), budget: o.budgetS, min: o.min, max: o.max };
  const r = spawnSync(python, ['-c', SCRIPT, JSON.stringify(req)], {
    encoding: 'utf8', env: env as NodeJS.ProcessEnv, timeout: 20 * 60_000, maxBuffer: 16 << 20,
  });
  if (r.error) throw new Error(`numpy child failed to run: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`numpy child exited ${r.status}: ${(r.stderr || '').trim().slice(-500)}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as NumpyReport;
}
