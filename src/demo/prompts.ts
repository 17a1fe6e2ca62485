/**
 * Zero-shot prompts (FDT-SPEC "Evaluation protocol": prompt ensembling). Each class (an emoji concept) is described by
 * several prompts built from templates; every prompt is turned into caption token features with the same word
 * vectors as the training captions, so the text head embeds it like any caption.
 *
 * Two template groups are built. The primary one ("descriptive") fills the templates with what is known about the
 * class: its CLDR label, tags, emojilib keywords and subgroup name. The second ("generic") wraps the label in
 * CLIP-style phrases ("an emoji of {label}", "{label} icon", ...). On validation the generic phrases lowered FDT's
 * zero-shot accuracy a lot (its text side max-pools over words, so every shared filler word activates the same
 * tokens for every class), so the descriptive group is the one reported and used for model selection; the generic
 * group and the caption alone are reported alongside.
 */
import type { EmojiConcept } from '../data/emoji.js';
import type { EmojiDataset } from '../data/dataset.js';
import type { SplitName } from '../data/splits.js';
import { encodeCaptions, loadWordVectors, tokenize } from '../encoders/text.js';
import { FdtValueError } from '../errors.js';

/** Templates of the primary group. Fields: {label}, {caption} (label + tags, the training caption), {tags}, {keywords}, {subgroup}, {group}. */
export const DESCRIPTIVE_TEMPLATES: readonly string[] = ['{label}', '{caption}', '{label}, {keywords}', '{label}, {subgroup}', '{tags}'];

/** CLIP-style templates (reported as a variant). Out-of-vocabulary words ("emoji", single letters) are dropped. */
export const GENERIC_TEMPLATES: readonly string[] = ['{label}', '{caption}', 'an emoji of {label}', '{label} icon', 'a picture of the {label}', 'a drawing of {label}'];

/** The template groups built by default, primary first. */
export const DEFAULT_TEMPLATE_GROUPS: readonly { name: string; templates: readonly string[] }[] = [
  { name: 'descriptive', templates: DESCRIPTIVE_TEMPLATES },
  { name: 'generic', templates: GENERIC_TEMPLATES },
];

/** One template group's encoded prompts: token features [P, slots, textDim], mask [P, slots], class of each. */
export interface PromptGroup {
  name: string;
  templates: string[];
  promptClass: Int32Array;
  tokens: Float32Array;
  valid: Float32Array;
}

/** The prompts of the classes of one split: groups[0] is the primary group. */
export interface PromptSet {
  classes: number;
  groups: PromptGroup[];
}

/** The fields a template can use, for one concept. */
export function templateFields(concept: EmojiConcept, caption: string): Record<string, string> {
  return {
    label: concept.label,
    caption,
    tags: concept.tags.join(', '),
    keywords: concept.keywords.map((k) => k.replace(/_/g, ' ')).join(', '),
    subgroup: (concept.subgroup ?? '').replace(/-/g, ' '),
    group: (concept.group ?? '').replace(/-/g, ' '),
  };
}

/** The prompt text of one template; unknown fields are an error. */
export function fillTemplate(template: string, fields: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => {
    if (!(k in fields)) throw new FdtValueError(`template ${JSON.stringify(template)}: expected fields ${Object.keys(fields).map((f) => `{${f}}`).join(', ')}, found {${k}}`);
    return fields[k]!;
  });
}

/**
 * Encoded prompts for the concepts of `split` (or of the given dataset rows), classes in row order. Per class, a
 * prompt with no known word or with the same words as an earlier prompt of the class is left out; every class keeps
 * at least one prompt ({label} and {caption} always have a known word in the dataset).
 */
export async function buildPrompts(
  ds: Pick<EmojiDataset, 'split' | 'concepts' | 'captions' | 'text'>,
  split: SplitName | readonly number[],
  options: { groups?: readonly { name: string; templates: readonly string[] }[]; cacheDir?: string } = {},
): Promise<PromptSet> {
  const groupDefs = options.groups ?? DEFAULT_TEMPLATE_GROUPS;
  if (groupDefs.length === 0 || groupDefs.some((g) => g.templates.length === 0)) {
    throw new FdtValueError(`groups: expected template groups with at least one template each, found ${JSON.stringify(groupDefs)}`);
  }
  const rows = typeof split === 'string' ? ds.split[split] : split;
  const texts = groupDefs.map((g) => rows.map((row) => g.templates.map((t) => fillTemplate(t, templateFields(ds.concepts[row]!, ds.captions[row]!)))));
  const words = new Set<string>();
  for (const g of texts) for (const c of g) for (const t of c) for (const w of tokenize(t)) words.add(w);
  const wv = await loadWordVectors(words, { cacheDir: options.cacheDir });
  const L = ds.text.shape[1];
  const groups = groupDefs.map((def, gi): PromptGroup => {
    const kept: string[] = [];
    const cls: number[] = [];
    rows.forEach((_, k) => {
      const seen = new Set<string>();
      for (const t of texts[gi]![k]!) {
        const known = tokenize(t).filter((w) => wv.row(w) !== undefined).slice(0, L).join(' ');
        if (known === '' || seen.has(known)) continue;
        seen.add(known);
        kept.push(t);
        cls.push(k);
      }
    });
    const enc = encodeCaptions(kept, wv, { maxTokens: L });
    const covered = new Set(cls);
    const missing = rows.map((_, k) => k).filter((k) => !covered.has(k));
    if (missing.length) {
      throw new FdtValueError(`prompts (${def.name}): expected every class to keep a prompt, found none for ${missing.map((k) => JSON.stringify(ds.concepts[rows[k]!]!.label)).join(', ')}`);
    }
    return { name: def.name, templates: [...def.templates], promptClass: Int32Array.from(cls), tokens: enc.features, valid: enc.valid };
  });
  return { classes: rows.length, groups };
}
