import { buildCorpus } from './make-hostile-corpus.ts';
import { FDT } from '../src/index.js';
import { readTorchCheckpoint, importOfficialFdtHead } from '../src/io/torch-checkpoint.js';
import { decodeSafetensors } from '../src/io/safetensors.js';
import { decodeModel } from '../src/io/model-file.js';
const R: any = { readTorchCheckpoint, importOfficialFdtHead, decodeSafetensors, decodeModel };
const gc = (globalThis as any).gc;
for (const it of buildCorpus()) {
  if (process.argv[2] && !it.file.includes(process.argv[2])) continue;
  gc(); const before = process.memoryUsage();
  const out: string[] = [];
  for (const run of [['load', () => FDT.load(it.bytes, { build: 'scalar' })] as const, ...it.readers.map((r) => [r.reader, () => R[r.reader](it.bytes, r.options)] as const)]) {
    const t = performance.now(); let msg = 'OK';
    try { await run[1](); } catch (e) { msg = (e as Error).name + ': ' + (e as Error).message.slice(0, 150); }
    const now = process.memoryUsage();
    out.push(`  ${run[0]} ${(performance.now() - t).toFixed(0)}ms rss+${((now.rss - before.rss) / 1048576).toFixed(0)} ab+${((now.arrayBuffers - before.arrayBuffers) / 1048576).toFixed(0)} ${msg}`);
  }
  console.log(it.file); console.log(out.join('\n'));
}
