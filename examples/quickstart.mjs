// The README's runnable snippet: the same file runs under Node, Deno and Bun (the packaging test runs it in all
// three against the packed tarball).
import { FDT } from 'fdtkit';

const fdt = await FDT.create({ numTokens: 1024, dim: 64, imageDim: 576, textDim: 100, temperature: 0.1, seed: 1 });

// Two images of 49 patches and two captions of 16 token slots (the first caption has 3 real words, the second 5).
const B = 2, N = 49, L = 16;
const patches = Float32Array.from({ length: B * N * 576 }, (_, i) => Math.sin(i * 0.37));
const words = Float32Array.from({ length: B * L * 100 }, (_, i) => Math.cos(i * 0.11));
const valid = Float32Array.from({ length: B * L }, (_, i) => ((i % L) < (i < L ? 3 : 5) ? 1 : 0));

const img = await fdt.encodeImage({ data: patches, shape: [B, N, 576] });
const txt = await fdt.encodeText({ data: words, shape: [B, L, 100] }, { data: valid, shape: [B, L] });
const logits = fdt.logits(img.embeddings, txt.embeddings);
const top = img.tokens(0);

console.log(JSON.stringify({
  build: fdt.build,
  embeddingDim: img.embeddings.length / B,
  activeTokensImage0: top.indices.length,
  logits: Array.from(logits, (x) => Number(x.toFixed(4))),
}));
