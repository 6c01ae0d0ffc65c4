import { describe, expect, it } from 'vitest';
import { sodium } from '../core/sodium.ts';
import { addPrgInto, applyPrgInto, expandWords, prgBytes, subtractPrgInto } from './prg.ts';

/** The definition of the mask PRG, through libsodium. */
const prgBytesReference = (s: Uint8Array, len: number): Uint8Array => sodium.randombytes_buf_deterministic(len, s);
const seed = (fill: number): Uint8Array => new Uint8Array(32).fill(fill);
// toEqual walks typed arrays element by element (seconds at 100K); compare bytes instead.
const sameWords = (a: Uint32Array, b: Uint32Array): boolean => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));

describe('mask PRG', () => {
  it('the chacha20 fast path equals randombytes_buf_deterministic on 8 MB', () => {
    const s = sodium.randombytes_buf(32);
    const len = 8 * 1024 * 1024;
    expect(Buffer.compare(Buffer.from(prgBytes(s, len)), Buffer.from(prgBytesReference(s, len)))).toBe(0);
  });

  it('matches on odd lengths and across chunk boundaries', () => {
    const s = sodium.randombytes_buf(32);
    for (const len of [0, 1, 3, 63, 64, 65, 131_071, 131_072, 131_073, 1_000_003]) {
      expect(Buffer.from(prgBytes(s, len)).equals(Buffer.from(prgBytesReference(s, len)))).toBe(true);
    }
  });

  it('expands words as the little-endian reading of the keystream', () => {
    const s = seed(7);
    const words = expandWords(s, 70_001);
    const bytes = prgBytesReference(s, 70_001 * 4);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (const i of [0, 1, 32_767, 32_768, 65_536, 70_000]) expect(words[i]).toBe(view.getUint32(i * 4, true));
    expect(words.length).toBe(70_001);
  });

  it('adds and subtracts in place modulo 2^32', () => {
    const m = 100_003;
    const acc = new Uint32Array(m);
    for (let i = 0; i < m; i++) acc[i] = (i * 2654435761) >>> 0;
    const original = acc.slice();
    addPrgInto(acc, seed(1));
    const mask = expandWords(seed(1), m);
    for (const i of [0, 5, 50_000, m - 1]) expect(acc[i]).toBe((original[i] + mask[i]) >>> 0);
    let same = 0;
    for (let i = 0; i < m; i++) if (acc[i] === original[i]) same++;
    expect(same).toBeLessThan(5);
    subtractPrgInto(acc, seed(1));
    expect(sameWords(acc, original)).toBe(true);
    applyPrgInto(acc, seed(2), -1);
    applyPrgInto(acc, seed(2), 1);
    expect(sameWords(acc, original)).toBe(true);
  });

  it('different seeds give different streams, and a short seed is refused', () => {
    expect(expandWords(seed(1), 8)).not.toEqual(expandWords(seed(2), 8));
    expect(() => expandWords(new Uint8Array(16), 8)).toThrow(/32 bytes/);
  });
});
