import { describe, expect, it } from 'vitest';
import { createRng } from '../core/random.ts';
import { checkHeadroom, dequantizeSum, maxBitsFor, quantizationStep, quantize, sumErrorBound } from './quantization.ts';

const config = { clip: 2, bits: 16 };

describe('quantization', () => {
  it('keeps every member value within one step and in range', () => {
    const rng = createRng(1);
    const values = Float64Array.from({ length: 1000 }, () => (rng.next() * 2 - 1) * 2);
    const { quantized, clipped } = quantize(values, config, { random: () => rng.next() });
    expect(clipped).toBe(0);
    const back = dequantizeSum(quantized, 1, config);
    for (let i = 0; i < values.length; i++) expect(Math.abs(back[i] - values[i])).toBeLessThan(quantizationStep(config));
  });

  it('counts clipped coordinates and clips them to the bound', () => {
    const { quantized, clipped } = quantize([5, -7, 1, 2, -2.0000001], config, { random: () => 0.5 });
    expect(clipped).toBe(3);
    const back = dequantizeSum(quantized, 1, config);
    expect(back[0]).toBeCloseTo(2, 10);
    expect(back[1]).toBeCloseTo(-2, 10);
  });

  it('a sum of n members dequantizes within n * step of the true sum (negative sums included)', () => {
    const rng = createRng(7);
    const n = 50;
    const m = 2000;
    const cfg = { clip: 1, bits: maxBitsFor(n) };
    checkHeadroom(n, cfg);
    const acc = new Uint32Array(m);
    const truth = new Float64Array(m);
    for (let u = 0; u < n; u++) {
      const v = Float64Array.from({ length: m }, () => -0.9 + rng.next() * 1.5);
      const scale = rng.next();
      const { quantized } = quantize(v, cfg, { scale, random: () => rng.next() });
      for (let i = 0; i < m; i++) {
        acc[i] = (acc[i] + quantized[i]) >>> 0;
        truth[i] += v[i] * scale;
      }
    }
    const back = dequantizeSum(acc, n, cfg);
    let worst = 0;
    for (let i = 0; i < m; i++) worst = Math.max(worst, Math.abs(back[i] - truth[i]));
    expect(worst).toBeLessThanOrEqual(sumErrorBound(n, cfg));
    expect(worst).toBeGreaterThan(0);
  });

  it('stochastic rounding is unbiased', () => {
    const rng = createRng(3);
    const step = quantizationStep(config);
    const v = new Float64Array(20_000).fill(step * 0.25);
    const { quantized } = quantize(v, config, { random: () => rng.next() });
    let ones = 0;
    for (const q of quantized) ones += q;
    expect(ones / v.length).toBeGreaterThan(0.22);
    expect(ones / v.length).toBeLessThan(0.28);
  });

  it('the headroom rule names the field and the largest allowed bits', () => {
    expect(() => checkHeadroom(1000, { clip: 1, bits: 24 })).toThrow(/quantization\.bits.*at most 22 bits/);
    try {
      checkHeadroom(3, { clip: 1, bits: 32 });
      expect.unreachable();
    } catch (e) {
      expect((e as { field: string }).field).toBe('quantization.bits');
    }
    expect(() => checkHeadroom(1000, { clip: 1, bits: 22 })).not.toThrow();
    expect(maxBitsFor(1)).toBe(32);
    expect(maxBitsFor(2)).toBe(31);
    expect(() => checkHeadroom(2, { clip: 0, bits: 8 })).toThrow(/quantization\.clip/);
  });

  it('refuses non-finite values and bad scales', () => {
    expect(() => quantize([1, Number.NaN], config)).toThrow(/values\[1\]/);
    expect(() => quantize([1], config, { scale: 2 })).toThrow(/scale/);
  });
});
