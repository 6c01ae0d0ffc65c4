import { describe, expect, it } from 'vitest';
import { TesseraError } from '../../core/errors.ts';
import { WeightedSum, weightedMean } from './weighted-mean.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof TesseraError) return e.code;
    throw e;
  }
  return 'no error';
}

describe('WeightedSum', () => {
  it('streams updates into the weighted mean', () => {
    // (1*[1, 2] + 3*[3, -2] + 4*[0, 0.5]) / (1 + 3 + 4) = ([1, 2] + [9, -6] + [0, 2]) / 8 = [10, -2] / 8
    const sum = new WeightedSum(2);
    sum.add(Float32Array.of(1, 2), 1);
    sum.add(Float32Array.of(3, -2), 3);
    sum.add(Float32Array.of(0, 0.5), 4);
    expect([sum.count, sum.totalWeight]).toEqual([3, 8]);
    expect(Array.from(sum.mean())).toEqual([1.25, -0.25]);
  });

  it('gives the same mean streamed, one-shot and in any order', () => {
    const updates = Array.from({ length: 9 }, (_, k) => ({
      vector: Float32Array.from({ length: 33 }, (_, i) => Math.sin(k * 33 + i) * 10 ** (k % 4)),
      weight: 1 + k * 7,
    }));
    const forward = weightedMean(updates);
    const backward = weightedMean([...updates].reverse());
    expect(backward).toEqual(forward);
    const sum = new WeightedSum(33);
    for (const u of updates) sum.add(u.vector, u.weight);
    expect(sum.mean()).toEqual(forward);
    // Checked against a direct float64 computation, rounded once to float32.
    const total = updates.reduce((t, u) => t + u.weight, 0);
    for (let i = 0; i < 33; i++) expect(forward[i]).toBe(Math.fround(updates.reduce((s, u) => s + u.weight * u.vector[i], 0) / total));
  });

  it('refuses a wrong length, a bad weight, an empty mean and a non-finite sum', () => {
    const sum = new WeightedSum(2);
    expect(codeOf(() => sum.add(Float32Array.of(1), 1))).toBe('BAD_TENSORS');
    for (const weight of [0, -1, Number.NaN, Infinity]) expect(codeOf(() => sum.add(Float32Array.of(1, 2), weight))).toBe('BAD_REQUEST');
    expect(sum.count).toBe(0);
    expect(codeOf(() => sum.mean())).toBe('ROUND_STATE');
    expect(codeOf(() => weightedMean([]))).toBe('ROUND_STATE');
    sum.add(Float32Array.of(Number.NaN, 1), 1);
    expect(codeOf(() => sum.mean())).toBe('BAD_TENSORS');
  });
});
