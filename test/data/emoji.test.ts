import { describe, expect, it } from 'vitest';
import { FdtFormatError, FdtValueError } from '../../src/errors.js';
import {
  conceptCaption,
  emojiSvg,
  listEmojiPairs,
  listInstalledEmojiSets,
  loadEmojiConcepts,
  loadEmojiSet,
  pairSvg,
  resolveIcon,
  tokenize,
} from '../../src/data/emoji.js';

const EXPECTED: Record<string, number> = { noto: 1678, twemoji: 1940, 'fluent-emoji-flat': 1594, openmoji: 1940 };

describe('emoji pairs', () => {
  it('lists the installed emoji sets', () => {
    expect(listInstalledEmojiSets()).toEqual(expect.arrayContaining(Object.keys(EXPECTED)));
  });

  it.each(Object.entries(EXPECTED))('lists the pairs of %s (%i base emoji)', (set, count) => {
    const pairs = listEmojiPairs(set);
    expect(pairs.length).toBe(count);
    expect(new Set(pairs.map((p) => p.hexcode)).size).toBe(count);
    const truck = pairs.find((p) => p.concept.label === 'pickup truck');
    expect(truck?.hexcode).toBe('1F6FB');
    expect(truck?.concept.tags).toContain('flatbed');
    expect(truck?.concept.keywords.length).toBeGreaterThan(0);
    expect(truck?.concept.group).toBe('travel-places');
    expect(truck?.concept.subgroup).toBe('transport-ground');
    for (const p of pairs) {
      expect(p.set).toBe(set);
      expect(p.icon.body.length).toBeGreaterThan(0);
      expect(p.hexcode).not.toMatch(/1F3F[B-F]/); // no skin-tone variants
    }
    const svg = pairSvg(truck!, 32);
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" xmlns:xlink="http:\/\/www\.w3\.org\/1999\/xlink" width="32" height="32" viewBox="0 0 \d+ \d+">/);
    expect(svg.endsWith('</svg>')).toBe(true);
    const set_ = loadEmojiSet(set);
    expect(set_.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(set_.license).not.toBe('unknown');
  });

  it('concepts: base emoji only, with ids, captions and group names', () => {
    const cs = loadEmojiConcepts();
    expect(cs.length).toBe(1949);
    expect(new Set(cs.map((c) => c.group).filter((g) => g !== null)).size).toBe(10);
    expect(new Set(cs.map((c) => c.subgroup).filter((g) => g !== null)).size).toBe(100);
  });

  it('rejects an unknown set, listing the installed ones', () => {
    expect(() => listEmojiPairs('no-such-set')).toThrow(FdtValueError);
    expect(() => listEmojiPairs('no-such-set')).toThrow(/installed.*noto.*"no-such-set"/);
  });

  it('follows aliases and merges transforms', () => {
    const set = {
      width: 24,
      height: 24,
      icons: { base: { body: '<path d="M0 0h1v1z"/>', width: 32 } },
      aliases: { mid: { parent: 'base', hFlip: true, rotate: 1 }, top: { parent: 'mid', hFlip: true, rotate: 1 }, loop: { parent: 'loop' } },
    };
    expect(resolveIcon(set, 'mid', 't')).toMatchObject({ left: 0, top: 0, width: 32, height: 24, hFlip: true, rotate: 1 });
    expect(resolveIcon(set, 'top', 't')).toMatchObject({ hFlip: false, rotate: 2 });
    expect(() => resolveIcon(set, 'loop', 't')).toThrow(FdtFormatError);
    expect(() => resolveIcon(set, 'missing', 't')).toThrow(/expected icon or alias "missing"/);
    const svg = emojiSvg(resolveIcon(set, 'mid', 't'), 16);
    expect(svg).toContain('viewBox="-24 0 24 32"');
    expect(svg).toContain('scale(-1 1)');
    expect(svg).toContain('rotate(90)');
  });

  it('builds captions and tokens', () => {
    const truck = loadEmojiConcepts().find((c) => c.hexcode === '1F6FB')!;
    expect(conceptCaption(truck, 'label')).toBe('pickup truck');
    expect(conceptCaption(truck, 'label+tags')).toBe('pickup truck, automobile, car, flatbed, pick-up, transportation');
    expect(conceptCaption(truck, 'label+tags+keywords').startsWith('pickup truck, automobile')).toBe(true);
    expect(tokenize('Flag: Côte d’Ivoire, pick-up 1st_place')).toEqual(['flag', 'côte', 'd', 'ivoire', 'pick', 'up', '1st', 'place']);
    expect(() => conceptCaption(truck, 'bogus' as never)).toThrow(FdtValueError);
  });
});
