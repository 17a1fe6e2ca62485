/**
 * Evaluation of a trained head on one split of the demo data, per style: retrieval (one caption per image, matched by
 * row), zero-shot classification among the split's concepts with prompt ensembling, mean active tokens.
 */
import type { SplitName } from '../data/splits.js';
import { FdtValueError } from '../errors.js';
import type { DemoData } from './data.js';
import { embedImages, embedTexts, type DemoHead } from './heads.js';
import { classPrototypes, meanOf, retrievalMetrics, zeroShotAccuracy, type RetrievalMetrics, type ZeroShotMetrics } from './metrics.js';

/** The figures of one style on one split. */
export interface StyleEval {
  style: string;
  retrieval: RetrievalMetrics;
  /** Zero-shot with the primary template group's ensemble. */
  zeroShot: ZeroShotMetrics;
  /** Variants for reference: each other template group, and "caption-only" (the training caption as sole prompt). */
  zeroShotVariants: { name: string; top1: number; top5: number }[];
  /** Mean active dictionary tokens per image / per caption / per prompt (FDT), null for the baseline. */
  activeImage: number | null;
  activeText: number | null;
  activePrompt: number | null;
}

/** A split's evaluation: per style, plus the mean over the given styles. */
export interface SplitEval {
  split: SplitName;
  styles: StyleEval[];
  /** Mean over `styles` of rsum, R@1 both ways, zero-shot top-1/top-5, active tokens. */
  mean: { rsum: number; i2tR1: number; t2iR1: number; top1: number; top5: number; activeImage: number | null; activeText: number | null };
}

const pick = (z: ZeroShotMetrics): { top1: number; top5: number } => ({ top1: z.top1, top5: z.top5 });

/**
 * Evaluates a head on `split` for each of `styles` (their images must be in `data.images`). With `variants: false`
 * only the primary prompt group is scored (the per-epoch validation of training does that).
 */
export async function evaluateSplit(
  head: DemoHead,
  data: DemoData,
  split: SplitName,
  styles: readonly string[],
  options: { variants?: boolean } = {},
): Promise<SplitEval> {
  const variants = options.variants ?? true;
  const rows = data.split[split];
  if (rows.length < 2) throw new FdtValueError(`split ${split}: expected at least 2 concepts to evaluate, found ${rows.length}`);
  const prompts = data.prompts[split];
  if (!prompts) throw new FdtValueError(`prompts: expected zero-shot prompts for split "${split}", found none`);
  const text = await embedTexts(head, data.text, data.valid, data.slots, rows);
  const d = text.dim;
  const groups = [];
  for (const g of variants ? prompts.groups : prompts.groups.slice(0, 1)) {
    const emb = await embedTexts(head, g.tokens, g.valid, data.slots);
    groups.push({ name: g.name, emb, protos: classPrototypes(emb.embeddings, g.promptClass, prompts.classes, d) });
  }
  const primary = groups[0]!;
  const captionProtos = classPrototypes(text.embeddings, Int32Array.from(rows, (_, k) => k), rows.length, d);
  const labels = Int32Array.from(rows, (_, k) => k);
  const out: StyleEval[] = [];
  for (const style of styles) {
    const feats = data.images[style];
    if (!feats) throw new FdtValueError(`style: expected one of ${Object.keys(data.images).join(', ')}, found ${JSON.stringify(style)}`);
    const img = await embedImages(head, feats, data.patches, rows);
    out.push({
      style,
      retrieval: retrievalMetrics(img.embeddings, text.embeddings, d),
      zeroShot: zeroShotAccuracy(img.embeddings, labels, primary.protos, d),
      zeroShotVariants: variants
        ? [
            ...groups.slice(1).map((g) => ({ name: g.name, ...pick(zeroShotAccuracy(img.embeddings, labels, g.protos, d)) })),
            { name: 'caption-only', ...pick(zeroShotAccuracy(img.embeddings, labels, captionProtos, d)) },
          ]
        : [],
      activeImage: img.active ? meanOf(img.active) : null,
      activeText: text.active ? meanOf(text.active) : null,
      activePrompt: primary.emb.active ? meanOf(primary.emb.active) : null,
    });
  }
  const m = (f: (s: StyleEval) => number): number => meanOf(out.map(f));
  const mn = (f: (s: StyleEval) => number | null): number | null => (out[0] && f(out[0]) === null ? null : meanOf(out.map((s) => f(s) ?? 0)));
  return {
    split,
    styles: out,
    mean: {
      rsum: m((s) => s.retrieval.rsum),
      i2tR1: m((s) => s.retrieval.imageToText.r1),
      t2iR1: m((s) => s.retrieval.textToImage.r1),
      top1: m((s) => s.zeroShot.top1),
      top5: m((s) => s.zeroShot.top5),
      activeImage: mn((s) => s.activeImage),
      activeText: mn((s) => s.activeText),
    },
  };
}
