// The public API as a plain Node program runs it (no tsx: tsx hashes every file it loads, and the hash clears the
// thread's AVX upper state, see docs/PERFORMANCE.md "Dirty vector registers"): a fresh process imports a built
// checkout's dist/, creates the paper's head on one thread and times 25 calls of encodeImage at B = 1, P = 49.
//
//   node bench/experiments/encode-plain-node.mjs [CHECKOUT]      (default: this checkout; `npm run build` first)
//
// To compare with another commit: git worktree add DIR COMMIT, then npm ci and npm run build in DIR, and run this
// file alternately with DIR and with this checkout.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..'));
const { FDT } = await import(pathToFileURL(path.join(root, 'dist', 'src', 'index.js')).href);
const fdt = await FDT.create({ numTokens: 16384, dim: 512, imageDim: 768, textDim: 512, seed: 1, engine: 'wasm', threads: 1 });
const patches = new Float32Array(49 * 768).map((_, i) => Math.sin(i));
const ms = [];
for (let i = 0; i < 25; i++) {
  const t0 = performance.now();
  await fdt.encodeImage({ data: patches, shape: [1, 49, 768] });
  ms.push(performance.now() - t0);
}
ms.sort((a, b) => a - b);
console.log(`${root}: encodeImage B=1 P=49 (d 512, C 16384), 25 calls: median ${ms[12].toFixed(1)} ms, best ${ms[0].toFixed(1)} ms`);
fdt.dispose();
