import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import { FdtFormatError, FdtValueError } from '../errors.js';
import type { EmojiSet } from '../data/emoji.js';
import type { FDT as FdtModel } from '../fdt.js';
import { checkOutFile } from './out-path.js';

export const EMBED_USAGE = `fdt embed --model MODEL.safetensors (--images a.png,b.svg | --emoji NAME,... | --captions "a","b")
          [--set SET] [--format json|safetensors] [--out FILE] [--cache-dir DIR]

Embeds inputs with an FDT model file and prints (or writes) each embedding with its sparse token weights (indices of
the active dictionary tokens, largest weight first, and their weights).

  --model    the FDT model file (required)
  --images   image files (PNG, JPEG, WebP, SVG, ...), rendered on white at 112 px, encoded by MobileNetV2
  --emoji    emoji of an installed @iconify-json set: "set:icon-name" (noto:red-apple), or a label ("red apple"),
             hexcode (1F34E) or the emoji itself, looked up in --set (default noto)
  --captions captions, comma-separated; words without a word vector are dropped (a caption needs one known word)
  --format   json (default; printed to stdout unless --out) or safetensors (needs --out): embeddings [n, d] F32 and
             the token weights as CSR: token_offsets [n + 1] I32, token_indices [nnz] I32, token_values [nnz] F32
  --out      the file to write (json: default stdout)
  --cache-dir  feature cache (default .cache/fdtkit under the package)
`;

interface Item {
  input: string;
  embedding: Float32Array;
  tokens: { indices: Int32Array; values: Float32Array };
}

const splitList = (xs: string[] | undefined): string[] => (xs ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);

/** `fdt embed`. */
export async function runEmbed(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      images: { type: 'string', multiple: true },
      emoji: { type: 'string', multiple: true },
      captions: { type: 'string', multiple: true },
      set: { type: 'string', default: 'noto' },
      format: { type: 'string', default: 'json' },
      out: { type: 'string' },
      'cache-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(EMBED_USAGE);
    return 0;
  }
  if (positionals.length) throw new FdtValueError(`embed: expected no positional arguments, found ${JSON.stringify(positionals)}`);
  if (!values.model) throw new FdtValueError('embed: --model MODEL.safetensors is required');
  const format = values.format;
  if (format !== 'json' && format !== 'safetensors') throw new FdtValueError(`--format: expected json or safetensors, found ${JSON.stringify(format)}`);
  if (format === 'safetensors' && !values.out) throw new FdtValueError('--format safetensors: expected --out FILE, found none');
  if (values.out !== undefined) checkOutFile('--out', values.out);
  const images = splitList(values.images);
  const emoji = splitList(values.emoji);
  const captions = splitList(values.captions);
  const given = [images.length && '--images', emoji.length && '--emoji', captions.length && '--captions'].filter(Boolean);
  if (given.length !== 1) {
    throw new FdtValueError(`embed: expected exactly one non-empty input list (--images, --emoji or --captions), found ${given.length ? given.join(' and ') : 'none'}`);
  }

  const [{ readModelFile }, { readModelBytes }, setup, { FDT }, heads] = await Promise.all([
    import('../io/files.js'),
    import('../io/model-file.js'),
    import('../demo/setup.js'),
    import('../fdt.js'),
    import('../demo/heads.js'),
  ]);
  const file = readModelBytes(await readModelFile(values.model));
  setup.checkModelDims(file.config, values.model);
  const cacheDir = values['cache-dir'];
  let kind: 'image' | 'text';
  let inputs: string[];
  let run: (model: FdtModel) => Promise<{ embeddings: Float32Array; tokens?: Item['tokens'][] }>;
  if (captions.length) {
    kind = 'text';
    inputs = captions;
    const { encodeCaptions, loadWordVectors, tokenize, DEFAULT_MAX_TOKENS } = await import('../encoders/text.js');
    const words = new Set(captions.flatMap((c) => tokenize(c)));
    const wv = await loadWordVectors(words, { cacheDir });
    const enc = encodeCaptions(captions, wv, { maxTokens: DEFAULT_MAX_TOKENS });
    if (enc.empty.length) {
      throw new FdtValueError(`--captions: expected every caption to have a word with a vector, found none in ${enc.empty.map((i) => JSON.stringify(captions[i])).join(', ')}`);
    }
    run = (m) => heads.embedTexts(m, enc.features, enc.valid, enc.shape[1], null, { sparse: true });
  } else {
    kind = 'image';
    const size = 112;
    let features: Float32Array;
    let patches: number;
    if (emoji.length) {
      const sets = await import('../data/emoji.js');
      const resolved = emoji.map((e) => resolveEmoji(e, values.set!, sets));
      inputs = resolved.map((r) => `${r.set}:${r.iconName} (${r.hexcode} ${r.label})`);
      const { extractEmojiFeatures } = await import('../encoders/image.js');
      const parts: Float32Array[] = [];
      patches = 0;
      for (const r of resolved) {
        const fb = await extractEmojiFeatures(r.set, [r.hexcode], { size, cacheDir });
        parts.push(fb.features);
        patches = fb.shape[1];
      }
      features = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
      let o = 0;
      for (const p of parts) {
        features.set(p, o);
        o += p.length;
      }
    } else {
      inputs = images;
      const pixels = new Uint8Array(images.length * size * size * 3);
      const { rasterizeSvg } = await import('../data/raster.js');
      const sharp = (await import('sharp')).default;
      for (let i = 0; i < images.length; i++) {
        const path = images[i]!;
        let bytes: Uint8Array;
        try {
          bytes = await readModelFile(path); // a regular file within the size cap
        } catch (e) {
          throw new FdtFormatError(`--images ${path}: expected a readable image file, found ${(e as Error).message}`);
        }
        let px: Uint8Array;
        try {
          px = extname(path).toLowerCase() === '.svg'
            ? await rasterizeSvg(new TextDecoder().decode(bytes), size)
            : new Uint8Array(await sharp(bytes).resize(size, size, { fit: 'contain', background: '#fff' }).flatten({ background: '#fff' }).removeAlpha().toColourspace('srgb').raw().toBuffer());
        } catch (e) {
          throw new FdtFormatError(`--images ${path}: expected an image sharp can decode, found an error: ${(e as Error).message}`);
        }
        if (px.length !== size * size * 3) throw new FdtFormatError(`--images ${path}: expected ${size}x${size} RGB after resizing, found ${px.length} bytes`);
        pixels.set(px, i * size * size * 3);
      }
      const { loadImageEncoder } = await import('../encoders/image.js');
      const enc = await loadImageEncoder({ inputSize: size });
      features = enc.encode(pixels, images.length);
      patches = enc.patches;
    }
    run = (m) => heads.embedImages(m, features, patches, null, { sparse: true });
  }
  const model = await FDT.fromParams(file.config, file.params);
  const r = await run(model);
  model.dispose();
  const d = file.config.dim;
  const items: Item[] = inputs.map((input, i) => ({ input, embedding: r.embeddings.subarray(i * d, (i + 1) * d), tokens: r.tokens![i]! }));

  if (format === 'safetensors') {
    const { encodeSafetensors } = await import('../io/safetensors.js');
    const { writeFileAtomic } = await import('../io/atomic-write.js');
    const offsets = new Int32Array(items.length + 1);
    items.forEach((it, i) => (offsets[i + 1] = offsets[i]! + it.tokens.indices.length));
    const indices = new Int32Array(offsets[items.length]!);
    const valuesArr = new Float32Array(offsets[items.length]!);
    items.forEach((it, i) => {
      indices.set(it.tokens.indices, offsets[i]!);
      valuesArr.set(it.tokens.values, offsets[i]!);
    });
    const bytes = encodeSafetensors(
      {
        embeddings: { dtype: 'F32', shape: [items.length, d], data: r.embeddings },
        token_offsets: { dtype: 'I32', shape: [items.length + 1], data: offsets },
        token_indices: { dtype: 'I32', shape: [indices.length], data: indices },
        token_values: { dtype: 'F32', shape: [valuesArr.length], data: valuesArr },
      },
      { format: 'fdtkit.embeddings', model: values.model, modality: kind, inputs: JSON.stringify(inputs) },
    );
    await writeFileAtomic(values.out!, bytes);
    process.stdout.write(`${items.length} ${kind} embeddings (d=${d}) -> ${values.out}\n`);
    return 0;
  }
  const round = (x: number): number => Math.round(x * 1e6) / 1e6;
  const json = JSON.stringify(
    {
      model: values.model,
      modality: kind,
      dim: d,
      numTokens: file.config.numTokens,
      items: items.map((it) => ({
        input: it.input,
        active: it.tokens.indices.length,
        tokens: { indices: Array.from(it.tokens.indices), values: Array.from(it.tokens.values, round) },
        embedding: Array.from(it.embedding, round),
      })),
    },
    null,
    1,
  );
  if (values.out) {
    const { writeFileAtomic } = await import('../io/atomic-write.js');
    await writeFileAtomic(values.out, new TextEncoder().encode(json + '\n'));
    process.stdout.write(`${items.length} ${kind} embeddings (d=${d}) -> ${values.out}\n`);
  } else process.stdout.write(json + '\n');
  return 0;
}

/** Resolves "set:icon-name", or a label / hexcode / emoji character within `defaultSet`. */
function resolveEmoji(
  spec: string,
  defaultSet: string,
  sets: { loadEmojiSet: (name: string) => EmojiSet; listInstalledEmojiSets: () => string[] },
): { set: string; iconName: string; hexcode: string; label: string } {
  const installed = sets.listInstalledEmojiSets();
  const m = /^([a-z0-9-]+):(.+)$/.exec(spec);
  const prefixed = m !== null && installed.includes(m[1]!);
  const set = prefixed ? m[1]! : defaultSet;
  const pairs = sets.loadEmojiSet(set).pairs; // an unknown --set: the error lists the installed ones
  const key = prefixed ? m[2]! : spec;
  const lower = key.toLowerCase();
  const strip = (s: string): string => s.replace(/\uFE0F/g, '');
  const hit =
    pairs.find((p) => p.iconName === key) ??
    pairs.find((p) => p.concept.label.toLowerCase() === lower) ??
    pairs.find((p) => p.hexcode.toLowerCase() === lower || p.hexcode.toLowerCase().replace(/-fe0f/g, '') === lower) ??
    pairs.find((p) => strip(p.concept.emoji) === strip(key));
  if (!hit) {
    const near = pairs.filter((p) => p.concept.label.toLowerCase().includes(lower) || p.iconName.includes(lower)).slice(0, 5);
    throw new FdtValueError(
      `--emoji ${JSON.stringify(spec)}: expected an icon name, label, hexcode or emoji of set "${set}", found no match` +
        (near.length ? ` (close: ${near.map((p) => `${p.iconName} = "${p.concept.label}"`).join(', ')})` : '') +
        (m && !prefixed ? `; "${m[1]}" is not an installed emoji set (installed: ${installed.join(', ')})` : ''),
    );
  }
  return { set, iconName: hit.iconName, hexcode: hit.hexcode, label: hit.concept.label };
}
