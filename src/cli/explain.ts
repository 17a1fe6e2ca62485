import { existsSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { explainImage, type ExplainSummary } from '../demo/explain.js';
import { FdtValueError } from '../errors.js';
import { FDT } from '../fdt.js';
import { checkOutDir } from './out-path.js';
import { intOption } from './usage.js';

/** Where `fdt demo` writes its trained model; `fdt explain` uses it when --model is omitted. */
export const DEFAULT_MODEL_PATH = join('fdt-out', 'fdt.safetensors');
/** Default output directory of `fdt explain`. */
export const DEFAULT_EXPLAIN_DIR = join('fdt-out', 'explain');

export const EXPLAIN_USAGE =
  'fdt explain IMAGE [--model MODEL.safetensors] [--text "caption"] [--top K] [--out DIR] [--size PX] [--json]';

/** `fdt explain --help`. */
export const EXPLAIN_HELP = `${EXPLAIN_USAGE}

Which FDT tokens an image activates, where (a heat-map PNG per token and an overview PNG) and which words of the
text activate the same tokens. IMAGE is a PNG, JPEG or SVG file, or an emoji name ("noto:dog face", "1F436").

  --model FILE   a trained FDT model (default: the demo's ${DEFAULT_MODEL_PATH})
  --text "..."   the caption to compare with (default for an emoji: its caption)
  --top K        tokens to show, 1 to 64 (default 5)
  --out DIR      where the PNGs go (default ${DEFAULT_EXPLAIN_DIR})
  --size PX      image side in pixels (default 224)
  --json         the summary as JSON
`;

export interface ExplainCliIo {
  /** Directory relative paths are resolved against (default: process.cwd()). */
  cwd?: string;
  /** Where the report goes (default: process.stdout). */
  stdout?: (text: string) => void;
}

/**
 * `fdt explain IMAGE [--model M.safetensors] [--text "..."] [--top K] [--out DIR] [--size PX] [--json]`: which FDT
 * tokens an image activates, where (a heat-map PNG per token, an overview PNG) and which words of the text (default for
 * an emoji: its caption) activate the same tokens. IMAGE is a PNG/JPEG/SVG file or an emoji name ("noto:dog face",
 * "1F436"). Without --model the demo's trained model `fdt-out/fdt.safetensors` is used; there is no random fallback.
 */
export async function runExplain(args: string[], io: ExplainCliIo = {}): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  const out = io.stdout ?? ((s: string) => void process.stdout.write(s));
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      text: { type: 'string' },
      top: { type: 'string' },
      out: { type: 'string' },
      size: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) {
    throw new FdtValueError(
      `explain: expected one IMAGE (a PNG/JPEG/SVG file or an emoji name; quote names with spaces, e.g. "noto:dog face"), ` +
        `found ${positionals.length} arguments${positionals.length ? ` (${positionals.map((p) => JSON.stringify(p)).join(' ')})` : ''}\n  usage: ${EXPLAIN_USAGE}`,
    );
  }
  const topK = intOption('--top', values.top, 1) ?? 5;
  const size = intOption('--size', values.size, 1) ?? 224;
  let modelPath: string;
  if (values.model !== undefined) {
    modelPath = resolve(cwd, values.model);
  } else {
    modelPath = resolve(cwd, DEFAULT_MODEL_PATH);
    if (!existsSync(modelPath)) {
      throw new FdtValueError(
        `explain: expected --model MODEL.safetensors (a trained FDT model; a random model's tokens mean nothing), found no --model ` +
          `and no default model at ${DEFAULT_MODEL_PATH} (${modelPath}); run \`fdt demo\` to train one there, or pass --model`,
      );
    }
  }
  const outDir = resolve(cwd, values.out ?? DEFAULT_EXPLAIN_DIR);
  checkOutDir('--out', outDir);
  const image = positionals[0]!;
  const model = await FDT.load(modelPath);
  let summary: ExplainSummary;
  try {
    summary = await explainImage(model, { image: existsSync(resolve(cwd, image)) ? resolve(cwd, image) : image }, {
      outDir,
      topK,
      size,
      ...(values.text !== undefined ? { text: values.text } : {}),
    });
  } finally {
    model.dispose();
  }
  if (values.json) {
    out(`${JSON.stringify(summary, null, 2)}\n`);
    return 0;
  }
  out(formatExplainReport(summary, shown(modelPath, cwd), cwd));
  return 0;
}

/** A path relative to `cwd` when it lies under it, else as is. */
function shown(p: string, cwd: string): string {
  const r = relative(cwd, p);
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : p;
}

/** The human-readable report of an explanation. */
export function formatExplainReport(s: ExplainSummary, modelName: string, cwd = process.cwd()): string {
  const src = s.image.kind === 'emoji' ? `${s.image.label} (${s.image.set}:${s.image.hexcode})` : s.image.name;
  const m = s.model;
  const lines: string[] = [];
  lines.push(`explain ${src} with ${modelName} (C=${m.numTokens}, d=${m.dim}, ${m.normalizer}, temperature ${m.temperature})`);
  lines.push(`  ${s.activeTokens} active token(s) on the ${s.grid[0]}x${s.grid[1]} patch grid; top ${s.tokens.length} by weight:`);
  const textNote =
    s.text.source === 'none'
      ? 'no text given (--text) to match words'
      : `words of the ${s.text.source === 'text' ? 'text' : 'emoji caption'} ${JSON.stringify(s.text.text)}` +
        (s.text.oov.length ? ` (no vector: ${s.text.oov.join(', ')})` : '');
  lines.push(`  ${textNote}`);
  lines.push('');
  lines.push(`  ${'rank'.padEnd(5)}${'token'.padEnd(8)}${'weight'.padEnd(9)}${'patch'.padEnd(10)}${'caption'.padEnd(16)}words (weight on the token)`);
  for (const t of s.tokens) {
    const words = t.words.length ? t.words.map((w) => `${w.word} ${w.weight.toFixed(3)}`).join(', ') : '-';
    const cap = t.caption ? (t.caption.weight > 0 ? `${t.caption.weight.toFixed(3)} ${t.caption.word ?? ''}` : '0') : '-';
    lines.push(
      `  ${String(t.rank).padEnd(5)}${String(t.id).padEnd(8)}${t.weight.toFixed(4).padEnd(9)}${`(${t.patch[0]}, ${t.patch[1]})`.padEnd(10)}` +
        `${cap.padEnd(16)}${words}`,
    );
  }
  lines.push('');
  lines.push('files:');
  for (const f of s.files) lines.push(`  ${shown(f, cwd)}`);
  return `${lines.join('\n')}\n`;
}
