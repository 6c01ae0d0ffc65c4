import { describe, expect, it } from 'vitest';
import { sodium } from '../core/sodium.ts';
import type { Share } from './shamir.ts';
import { decodeShare, encodeShare, reconstruct, split } from './shamir.ts';

const hex = (b: Uint8Array): string => sodium.to_hex(b);

function subsets<T>(items: T[], size: number): T[][] {
  if (size === 0) return [[]];
  if (items.length < size) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, size - 1).map((s) => [first, ...s]), ...subsets(rest, size)];
}

describe('Shamir sharing', () => {
  const secret = sodium.randombytes_buf(32);
  const indices = [1, 2, 5, 9, 12, 40];
  const t = 3;
  const shares = split(secret, t, indices);

  it('any t shares reconstruct the secret, in any order', () => {
    for (const subset of subsets(shares, t)) {
      expect(hex(reconstruct(subset, t))).toBe(hex(secret));
      expect(hex(reconstruct([...subset].reverse(), t))).toBe(hex(secret));
    }
  });

  it('fewer than t shares are refused, and as a lower-degree interpolation reveal nothing', () => {
    expect(() => reconstruct(shares.slice(0, t - 1), t)).toThrow(/2 of 3 needed shares/);
    for (const subset of subsets(shares, t - 1)) {
      let got: string | null = null;
      try {
        got = hex(reconstruct(subset, t - 1));
      } catch {
        got = null;
      }
      expect(got).not.toBe(hex(secret));
    }
  });

  it('t - 1 shares are consistent with every secret (perfect hiding)', () => {
    // For two different secrets, the same t - 1 share values are reachable: split many times and
    // observe that the shares of a fixed holder are spread uniformly, independent of the secret.
    const other = sodium.randombytes_buf(32);
    const firstByte = (s: Uint8Array): number => split(s, t, indices)[0].value[16];
    const histogram = (s: Uint8Array): number => {
      let high = 0;
      for (let i = 0; i < 400; i++) if (firstByte(s) >= 128) high++;
      return high;
    };
    expect(Math.abs(histogram(secret) - 200)).toBeLessThan(60);
    expect(Math.abs(histogram(other) - 200)).toBeLessThan(60);
  });

  it('shares are bound to their indices', () => {
    const moved: Share[] = [{ ...shares[0], index: 3 }, shares[1], shares[2]];
    let got: string | null;
    try {
      got = hex(reconstruct(moved, t));
    } catch {
      got = null;
    }
    expect(got).not.toBe(hex(secret));
    const swapped: Share[] = [{ index: shares[1].index, value: shares[0].value }, { index: shares[0].index, value: shares[1].value }, shares[2]];
    let got2: string | null;
    try {
      got2 = hex(reconstruct(swapped, t));
    } catch {
      got2 = null;
    }
    expect(got2).not.toBe(hex(secret));
  });

  it('rejects duplicate and zero indices, and bad thresholds', () => {
    expect(() => reconstruct([shares[0], shares[0], shares[1]], t)).toThrow(/appears twice/);
    expect(() => split(secret, 2, [1, 1, 2])).toThrow(/appears twice/);
    expect(() => split(secret, 2, [0, 1, 2])).toThrow(/share index 0/);
    expect(() => split(secret, 4, [1, 2, 3])).toThrow(/threshold 4/);
    expect(() => split(new Uint8Array(31), 2, [1, 2])).toThrow(/32 bytes/);
  });

  it('reconstructs extreme secrets and round-trips the share encoding', () => {
    for (const s of [new Uint8Array(32), new Uint8Array(32).fill(255)]) {
      const sh = split(s, 4, [1, 2, 3, 4, 5]).map((x) => decodeShare(encodeShare(x)));
      expect(reconstruct(sh.slice(1), 4)).toEqual(s);
    }
    expect(() => decodeShare(new Uint8Array(10))).toThrow(/37 bytes/);
  });
});
