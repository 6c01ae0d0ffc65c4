import { describe, expect, it } from 'vitest';
import { accuracy, aggregateEvaluations, auc, scoreProbabilities } from './metrics.ts';

describe('metrics', () => {
  it('accuracy', () => {
    expect(accuracy([1, 0, 1, 1], [1, 1, 1, 0])).toBe(0.5);
    expect(accuracy([], [])).toBe(0);
  });

  it('auc by ranks, ties counting one half', () => {
    expect(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75);
    expect(auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBeCloseTo(0.5);
    expect(auc([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1])).toBeCloseTo((1 + 1 + 0.5 + 1) / 4);
    expect(auc([0.9, 0.1], [0, 1])).toBe(0);
    expect(auc([0.1, 0.2], [1, 1])).toBeNaN();
  });

  it('scores sigmoid and softmax outputs', () => {
    const bin = scoreProbabilities(Float32Array.from([0.9, 0.2, 0.6, 0.4]), [1, 0, 0, 1], 1);
    expect(bin.examples).toBe(4);
    expect(bin.correct).toBe(2);
    expect(bin.lossSum).toBeCloseTo(-(Math.log(0.9) + Math.log(0.8) + Math.log(0.4) + Math.log(0.4)), 5);
    expect(bin.auc).toBeCloseTo(0.75);
    const multi = scoreProbabilities(Float32Array.from([0.7, 0.2, 0.1, 0.1, 0.1, 0.8]), [0, 1], 3);
    expect(multi.correct).toBe(1);
    expect(multi.auc).toBeUndefined();
    expect(multi.lossSum).toBeCloseTo(-(Math.log(0.7) + Math.log(0.1)), 5);
  });

  it('aggregates members example-weighted, and the plain mean of their accuracies', () => {
    const m = aggregateEvaluations([
      { examples: 100, correct: 80, lossSum: 40, auc: 0.9 },
      { examples: 10, correct: 5, lossSum: 10, auc: 0.6 },
      { examples: 0, correct: 0, lossSum: 0 },
    ]);
    expect(m.examples).toBe(110);
    expect(m.accuracy).toBeCloseTo(85 / 110);
    expect(m.loss).toBeCloseTo(50 / 110);
    expect(m.meanMemberAccuracy).toBeCloseTo((0.8 + 0.5) / 2);
    expect(m.auc).toBeCloseTo((0.9 * 100 + 0.6 * 10) / 110);
    expect(aggregateEvaluations([])).toEqual({ examples: 0, accuracy: 0, loss: 0, meanMemberAccuracy: 0 });
  });
});
