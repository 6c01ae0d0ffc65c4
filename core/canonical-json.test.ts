import { describe, expect, it } from 'vitest';
import { canonicalJson, normalizeJson } from './canonical-json.ts';

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
  });

  it('gives the same text for equal values built in any key order', () => {
    expect(canonicalJson({ x: 1, y: 2 })).toBe(canonicalJson({ y: 2, x: 1 }));
  });

  it('writes numbers and strings as JSON.stringify does, -0 as 0', () => {
    expect(canonicalJson([0.1, 1e21, 5e-7, -0, 'é"\n'])).toBe('[0.1,1e+21,5e-7,0,"é\\"\\n"]');
  });

  it('refuses values that are not JSON instead of dropping them', () => {
    expect(() => canonicalJson({ a: undefined })).toThrow(/\$\.a/);
    expect(() => canonicalJson([Number.NaN])).toThrow(/\$\[0\]/);
    expect(() => canonicalJson({ d: new Date(0) })).toThrow(/Date/);
    expect(() => canonicalJson(1n)).toThrow(/bigint/);
  });

  it('round-trips through its own text', () => {
    const v = { k: [1, 'two', { three: 3.5 }], e: {} };
    expect(canonicalJson(normalizeJson(v))).toBe(canonicalJson(v));
  });
});
