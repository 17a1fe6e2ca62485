/**
 * Emoji image-text pairs. Concepts are the base emoji of `emojibase-data` (en/data.json, skin-tone variants
 * excluded), identified by hexcode, with the CLDR label, tags, group and subgroup, plus `emojilib` keywords. Pictures
 * come from any installed `@iconify-json/<set>` emoji set (a set is an emoji set when it ships `chars.json`).
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { FdtFormatError, FdtValueError } from '../errors.js';
import { packageDir, packageVersion, readJson } from './cache.js';

const require = createRequire(import.meta.url);

/** One emoji concept (a base emoji, no skin tone). */
export interface EmojiConcept {
  /** Upper-case hexcode as in emojibase, e.g. "1F6FB"; the concept id. */
  hexcode: string;
  /** The emoji character(s). */
  emoji: string;
  /** CLDR short name, e.g. "pickup truck". */
  label: string;
  /** CLDR tags, e.g. ["automobile", "car", ...]. */
  tags: string[];
  /** emojilib keywords (the first one is its snake_case name), [] when emojilib lacks the emoji. */
  keywords: string[];
  /** Group name ("travel-places"), or null (the 26 regional indicators have none). */
  group: string | null;
  /** Subgroup name ("transport-ground"), or null. */
  subgroup: string | null;
  /** emojibase group index 0..9, or null. */
  groupId: number | null;
  /** emojibase subgroup index 0..99, or null. */
  subgroupId: number | null;
  /** emojibase sort order (Infinity when absent). */
  order: number;
}

/** An icon with its view box and transforms resolved (aliases followed). */
export interface ResolvedIcon {
  body: string;
  left: number;
  top: number;
  width: number;
  height: number;
  hFlip: boolean;
  vFlip: boolean;
  /** Quarter turns clockwise, 0..3. */
  rotate: number;
}

/** One image-text pair of a set. */
export interface EmojiPair {
  set: string;
  hexcode: string;
  /** The name `chars.json` gives (possibly an alias). */
  iconName: string;
  icon: ResolvedIcon;
  concept: EmojiConcept;
}

/** A loaded emoji set. */
export interface EmojiSet {
  /** Set name, e.g. "noto". */
  name: string;
  /** npm package, e.g. "@iconify-json/noto". */
  packageName: string;
  version: string;
  /** SPDX licence id from info.json, or "unknown". */
  license: string;
  /** Pairs in emojibase order. */
  pairs: EmojiPair[];
}

/** How a caption is built from a concept. */
export type CaptionMode = 'label' | 'label+tags' | 'label+tags+keywords';

export const CAPTION_MODES: readonly CaptionMode[] = ['label', 'label+tags', 'label+tags+keywords'];

interface RawEmoji {
  label?: unknown;
  hexcode?: unknown;
  emoji?: unknown;
  tags?: unknown;
  group?: unknown;
  subgroup?: unknown;
  order?: unknown;
}

/** An icon or alias entry of an Iconify icons.json. */
export interface IconifyIcon {
  body?: string;
  left?: number;
  top?: number;
  width?: number;
  height?: number;
  hFlip?: boolean;
  vFlip?: boolean;
  rotate?: number;
  parent?: string;
}

/** The parts of an Iconify icons.json this module reads. */
export interface IconifyIconSet {
  prefix?: string;
  icons: Record<string, IconifyIcon>;
  aliases?: Record<string, IconifyIcon>;
  left?: number;
  top?: number;
  width?: number;
  height?: number;
}

let conceptsMemo: EmojiConcept[] | null = null;

const stripVs = (s: string): string => s.replace(/\uFE0F/g, '');

/** All base emoji concepts of emojibase-data en/data.json, in emojibase order (memoised; do not mutate). */
export function loadEmojiConcepts(): EmojiConcept[] {
  if (conceptsMemo) return conceptsMemo;
  const baseDir = packageDir('emojibase-data');
  const dataFile = join(baseDir, 'en', 'data.json');
  const data = readJson(dataFile);
  if (!Array.isArray(data)) throw new FdtFormatError(`${dataFile}: expected an array of emoji, found ${typeof data}`);
  const groupsFile = join(baseDir, 'meta', 'groups.json');
  const meta = readJson(groupsFile) as { groups?: Record<string, string>; subgroups?: Record<string, string> };
  if (!meta || typeof meta.groups !== 'object' || typeof meta.subgroups !== 'object') {
    throw new FdtFormatError(`${groupsFile}: expected objects "groups" and "subgroups", found ${JSON.stringify(Object.keys(meta ?? {}))}`);
  }
  const lib = readJson(require.resolve('emojilib')) as Record<string, string[]>;
  const libByKey = new Map<string, string[]>();
  for (const [ch, kw] of Object.entries(lib)) if (Array.isArray(kw)) libByKey.set(stripVs(ch), kw.map(String));

  const out: EmojiConcept[] = [];
  const seen = new Set<string>();
  data.forEach((raw: RawEmoji, i: number) => {
    if (typeof raw?.hexcode !== 'string' || typeof raw.label !== 'string' || typeof raw.emoji !== 'string') {
      throw new FdtFormatError(`${dataFile}[${i}]: expected string hexcode, label and emoji, found ${JSON.stringify(raw).slice(0, 120)}`);
    }
    if (seen.has(raw.hexcode)) return;
    seen.add(raw.hexcode);
    const groupId = typeof raw.group === 'number' ? raw.group : null;
    const subgroupId = typeof raw.subgroup === 'number' ? raw.subgroup : null;
    out.push({
      hexcode: raw.hexcode,
      emoji: raw.emoji,
      label: raw.label,
      tags: Array.isArray(raw.tags) ? raw.tags.map(String) : [],
      keywords: libByKey.get(stripVs(raw.emoji)) ?? [],
      group: groupId === null ? null : (meta.groups![String(groupId)] ?? null),
      subgroup: subgroupId === null ? null : (meta.subgroups![String(subgroupId)] ?? null),
      groupId,
      subgroupId,
      order: typeof raw.order === 'number' ? raw.order : Number.POSITIVE_INFINITY,
    });
  });
  conceptsMemo = out;
  return out;
}

/** Names of the installed `@iconify-json/*` packages that are emoji sets (they ship chars.json), sorted. */
export function listInstalledEmojiSets(): string[] {
  const names = new Set<string>();
  for (const p of require.resolve.paths('@iconify-json/noto') ?? []) {
    const scope = join(p, '@iconify-json');
    if (!existsSync(scope)) continue;
    for (const n of readdirSync(scope)) {
      if (existsSync(join(scope, n, 'chars.json')) && existsSync(join(scope, n, 'icons.json'))) names.add(n);
    }
  }
  return [...names].sort();
}

/**
 * Resolves an icon name of an Iconify set through `aliases[name].parent`, merging transforms as Iconify does (flips
 * toggle, quarter turns add up, the nearest view box field wins, then the set defaults). `file` names the set in errors.
 */
export function resolveIcon(set: IconifyIconSet, name: string, file: string): ResolvedIcon {
  let hFlip = false;
  let vFlip = false;
  let rotate = 0;
  let left: number | undefined;
  let top: number | undefined;
  let width: number | undefined;
  let height: number | undefined;
  let cur = name;
  for (let depth = 0; depth < 32; depth++) {
    const node = set.icons[cur] ?? set.aliases?.[cur];
    if (!node) throw new FdtFormatError(`${file}: expected icon or alias "${cur}" (reached from "${name}"), found none`);
    if (node.hFlip) hFlip = !hFlip;
    if (node.vFlip) vFlip = !vFlip;
    if (node.rotate) rotate += node.rotate;
    left ??= node.left;
    top ??= node.top;
    width ??= node.width;
    height ??= node.height;
    if (set.icons[cur]) {
      if (typeof node.body !== 'string') throw new FdtFormatError(`${file}: expected icon "${cur}" to have a string body, found ${typeof node.body}`);
      return {
        body: node.body,
        left: left ?? set.left ?? 0,
        top: top ?? set.top ?? 0,
        width: width ?? set.width ?? 16,
        height: height ?? set.height ?? 16,
        hFlip,
        vFlip,
        rotate: ((rotate % 4) + 4) % 4,
      };
    }
    if (typeof node.parent !== 'string') throw new FdtFormatError(`${file}: expected alias "${cur}" to have a string parent, found ${typeof node.parent}`);
    cur = node.parent;
  }
  throw new FdtFormatError(`${file}: expected the alias chain of "${name}" to end within 32 steps, found a longer chain or a cycle`);
}

const setMemo = new Map<string, EmojiSet>();

/**
 * Loads an installed emoji set by name ("noto", "twemoji", "fluent-emoji-flat", "openmoji", or any other installed
 * `@iconify-json/<name>` with chars.json). Pairs: every base concept whose hexcode (with or without -fe0f) is in
 * chars.json, in emojibase order. Memoised; do not mutate the result.
 */
export function loadEmojiSet(name: string): EmojiSet {
  const memo = setMemo.get(name);
  if (memo) return memo;
  const installed = listInstalledEmojiSets();
  if (typeof name !== 'string' || !installed.includes(name)) {
    throw new FdtValueError(
      `emoji set: expected one of the installed @iconify-json emoji sets [${installed.join(', ')}], found ${JSON.stringify(name)}`,
    );
  }
  const packageName = `@iconify-json/${name}`;
  const dir = packageDir(packageName);
  const iconsFile = join(dir, 'icons.json');
  const charsFile = join(dir, 'chars.json');
  const icons = readJson(iconsFile) as IconifyIconSet;
  if (!icons || typeof icons.icons !== 'object') throw new FdtFormatError(`${iconsFile}: expected an object with "icons", found ${typeof icons}`);
  const chars = readJson(charsFile) as Record<string, string>;
  if (!chars || typeof chars !== 'object') throw new FdtFormatError(`${charsFile}: expected an object, found ${typeof chars}`);
  let license = 'unknown';
  const infoFile = join(dir, 'info.json');
  if (existsSync(infoFile)) {
    const info = readJson(infoFile) as { license?: { spdx?: string } };
    license = info?.license?.spdx ?? license;
  }
  const pairs: EmojiPair[] = [];
  for (const concept of loadEmojiConcepts()) {
    const h = concept.hexcode.toLowerCase();
    const stripped = h.replace(/-fe0f/g, '');
    let iconName: string | undefined;
    for (const cand of [h, stripped, `${stripped}-fe0f`]) {
      if (typeof chars[cand] === 'string') {
        iconName = chars[cand];
        break;
      }
    }
    if (iconName === undefined) continue;
    pairs.push({ set: name, hexcode: concept.hexcode, iconName, icon: resolveIcon(icons, iconName, iconsFile), concept });
  }
  const set: EmojiSet = { name, packageName, version: packageVersion(packageName), license, pairs };
  setMemo.set(name, set);
  return set;
}

/** The image-text pairs of an installed emoji set (see loadEmojiSet). */
export function listEmojiPairs(setName: string): EmojiPair[] {
  return loadEmojiSet(setName).pairs;
}

const fmt = (x: number): string => String(Math.round(x * 1e6) / 1e6);

/**
 * A standalone SVG document of an icon, `size` x `size` pixels:
 * `<svg xmlns=... xmlns:xlink=... width=S height=S viewBox="left top width height">body</svg>`, with flips and
 * quarter-turn rotations applied as transforms (the view box is rotated with the picture).
 */
export function emojiSvg(icon: ResolvedIcon, size: number): string {
  if (!Number.isInteger(size) || size < 1) throw new FdtValueError(`size: expected a positive integer, found ${size}`);
  const { left, top, width, height } = icon;
  let body = icon.body;
  if (icon.hFlip) body = `<g transform="translate(${fmt(2 * left + width)} 0) scale(-1 1)">${body}</g>`;
  if (icon.vFlip) body = `<g transform="translate(0 ${fmt(2 * top + height)}) scale(1 -1)">${body}</g>`;
  let box = [left, top, width, height];
  if (icon.rotate === 1) box = [-(top + height), left, height, width];
  else if (icon.rotate === 2) box = [-(left + width), -(top + height), width, height];
  else if (icon.rotate === 3) box = [top, -(left + width), height, width];
  if (icon.rotate) body = `<g transform="rotate(${90 * icon.rotate})">${body}</g>`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${size}" height="${size}" ` +
    `viewBox="${box.map(fmt).join(' ')}">${body}</svg>`
  );
}

/** The SVG of a pair at `size` px. */
export function pairSvg(pair: EmojiPair, size: number): string {
  return emojiSvg(pair.icon, size);
}

/** Lower-case word tokens of a text: maximal runs of Unicode letters/digits. */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/**
 * The caption of a concept. "label": the CLDR label; "label+tags": the label, then each tag that adds a token not
 * already present; "label+tags+keywords": the same, then emojilib keywords (underscores read as spaces).
 */
export function conceptCaption(concept: EmojiConcept, mode: CaptionMode = 'label'): string {
  if (!CAPTION_MODES.includes(mode)) {
    throw new FdtValueError(`caption mode: expected one of ${CAPTION_MODES.join(', ')}, found ${JSON.stringify(mode)}`);
  }
  const parts = [concept.label];
  if (mode === 'label') return concept.label;
  const seen = new Set(tokenize(concept.label));
  const extra = mode === 'label+tags' ? concept.tags : [...concept.tags, ...concept.keywords.map((k) => k.replace(/_/g, ' '))];
  for (const t of extra) {
    const toks = tokenize(t);
    if (toks.some((w) => !seen.has(w))) {
      parts.push(t);
      for (const w of toks) seen.add(w);
    }
  }
  return parts.join(', ');
}
