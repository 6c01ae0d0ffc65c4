import { describe, expect, it } from 'vitest';
import type { StrategyConfig, StrategyName } from '../../core/federation.ts';
import { parseStrategy } from '../../core/federation.ts';
import { applyStrategy } from './index.ts';
import type { StrategyState } from './index.ts';

const f32 = (xs: number[]): Float32Array => Float32Array.from(xs);
const config = (name: StrategyName, over: Partial<StrategyConfig>): StrategyConfig => ({ ...parseStrategy(name), ...over });

function run(cfg: StrategyConfig, start: number[], deltas: number[][]): { weights: Float32Array[]; states: StrategyState[] } {
  let w = f32(start);
  let state: StrategyState | null = null;
  const weights: Float32Array[] = [];
  const states: StrategyState[] = [];
  for (const d of deltas) {
    ({ weights: w, state } = applyStrategy(cfg, w, f32(d), state));
    weights.push(w);
    states.push(state);
  }
  return { weights, states };
}

/** Weights are float32 and rounded once per round, so fractions like 7/12 match to ~1e-7. */
function expectClose(actual: Float32Array, expected: number[]): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(Math.abs(actual[i] - e)).toBeLessThan(1e-6));
}

describe('fedadam', () => {
  it('matches Reddi et al. Algorithm 2 over three rounds, v starting at tau^2', () => {
    // beta1 = 0.5, beta2 = 0.5, tau = 1, eta = 1; m0 = [0, 0], v0 = tau^2 = [1, 1]; w0 = [0.5, -1]
    // r1: d = [1, -7]
    //   m = 0.5*0 + 0.5*[1, -7]            = [0.5, -3.5]
    //   v = 0.5*[1, 1] + 0.5*[1, 49]       = [1, 25]        sqrt(v) + tau = [2, 6]
    //   w = [0.5, -1] + [0.5/2, -3.5/6]    = [0.75, -19/12]
    // r2: d = [-1, 5]
    //   m = 0.5*[0.5, -3.5] + 0.5*[-1, 5]  = [-0.25, 0.75]
    //   v = 0.5*[1, 25] + 0.5*[1, 25]      = [1, 25]        sqrt(v) + tau = [2, 6]
    //   w = [0.75, -19/12] + [-0.125, 0.125] = [0.625, -35/24]
    // r3: d = [7, -5]
    //   m = 0.5*[-0.25, 0.75] + 0.5*[7, -5] = [3.375, -2.125]
    //   v = 0.5*[1, 25] + 0.5*[49, 25]     = [25, 25]       sqrt(v) + tau = [6, 6]
    //   w = [0.625, -35/24] + [9/16, -17/48] = [1.1875, -87/48]
    const { weights, states } = run(config('fedadam', { beta1: 0.5, beta2: 0.5, tau: 1, serverLearningRate: 1 }), [0.5, -1], [
      [1, -7],
      [-1, 5],
      [7, -5],
    ]);
    expectClose(weights[0], [0.75, -19 / 12]);
    expectClose(weights[1], [0.625, -35 / 24]);
    expectClose(weights[2], [1.1875, -87 / 48]);
    expect(Array.from(states[0].buffers.m)).toEqual([0.5, -3.5]);
    expect(Array.from(states[0].buffers.v)).toEqual([1, 25]);
    expect(Array.from(states[2].buffers.m)).toEqual([3.375, -2.125]);
    expect(Array.from(states[2].buffers.v)).toEqual([25, 25]);
    expect(states[2].steps).toBe(3);
  });

  it('scales the step by eta', () => {
    // As r1 above with eta = 0.1: w = [0.5, -1] + 0.1*[0.25, -7/12] = [0.525, -1.058333...]
    const { weights } = run(config('fedadam', { beta1: 0.5, beta2: 0.5, tau: 1, serverLearningRate: 0.1 }), [0.5, -1], [[1, -7]]);
    expectClose(weights[0], [0.525, -1 - 0.7 / 12]);
  });
});

describe('fedyogi', () => {
  it('moves v by (1 - beta2) * d^2 toward d^2, in each sign case, over three rounds', () => {
    // beta1 = 0.5, beta2 = 0.5 (so (1 - beta2) * d^2 = d^2 / 2), tau = 7 (v0 = 49), eta = 2; w0 = [0, 0]
    // v = v - 0.5 * d^2 * sign(v - d^2)
    // r1: d = [8, -7], d^2 = [64, 49]
    //   v = [49 + 32 (49 < 64), 49 (49 = 49, sign 0)]  = [81, 49]   sqrt(v) + tau = [16, 14]
    //   m = 0.5*[8, -7]                                 = [4, -3.5]
    //   w = [0, 0] + 2*[4/16, -3.5/14]                  = [0.5, -0.5]
    // r2: d = [8, -8], d^2 = [64, 64]
    //   v = [81 - 32 (81 > 64), 49 + 32 (49 < 64)]      = [49, 81]   sqrt(v) + tau = [14, 16]
    //   m = 0.5*[4, -3.5] + 0.5*[8, -8]                 = [6, -5.75]
    //   w = [0.5, -0.5] + 2*[6/14, -5.75/16]            = [19/14, -1.21875]
    // r3: d = [-7, 8], d^2 = [49, 64]
    //   v = [49 (sign 0), 81 - 32 (81 > 64)]            = [49, 49]   sqrt(v) + tau = [14, 14]
    //   m = 0.5*[6, -5.75] + 0.5*[-7, 8]                = [-0.5, 1.125]
    //   w = [19/14, -1.21875] + 2*[-0.5/14, 1.125/14]   = [18/14, -1.21875 + 9/56]
    const { weights, states } = run(config('fedyogi', { beta1: 0.5, beta2: 0.5, tau: 7, serverLearningRate: 2 }), [0, 0], [
      [8, -7],
      [8, -8],
      [-7, 8],
    ]);
    expect(states.map((s) => Array.from(s.buffers.v))).toEqual([
      [81, 49],
      [49, 81],
      [49, 49],
    ]);
    expectClose(weights[0], [0.5, -0.5]);
    expectClose(weights[1], [19 / 14, -1.21875]);
    expectClose(weights[2], [18 / 14, -1.21875 + 9 / 56]);
  });

  it('differs from Adam where d^2 > v: Yogi adds (1 - beta2) * d^2, Adam averages', () => {
    // tau = 1, beta2 = 0.5, d = 4: Yogi v = 1 + 0.5*16 = 9; Adam v = 0.5*1 + 0.5*16 = 8.5
    const cfg = { beta1: 0.5, beta2: 0.5, tau: 1, serverLearningRate: 1 };
    expect(Array.from(run(config('fedyogi', cfg), [0], [[4]]).states[0].buffers.v)).toEqual([9]);
    expect(Array.from(run(config('fedadam', cfg), [0], [[4]]).states[0].buffers.v)).toEqual([8.5]);
  });
});

describe('fedadagrad', () => {
  it('accumulates v = v + d^2 with the default beta1 = 0 (m = d)', () => {
    // tau = 0.75 (v0 = 0.5625), eta = 1, beta1 = 0; w0 = [1, 1]
    // r1: d = [1, -1]:  v = 0.5625 + [1, 1]  = [1.5625, 1.5625]    sqrt(v) + tau = [2, 2]
    //     w = [1, 1] + [1/2, -1/2]           = [1.5, 0.5]
    // r2: d = [3, 0]:   v = [1.5625 + 9, 1.5625] = [10.5625, 1.5625]  sqrt(v) + tau = [4, 2]
    //     w = [1.5, 0.5] + [3/4, 0/2]        = [2.25, 0.5]
    // r3: d = [0, -3]:  v = [10.5625, 10.5625]   sqrt(v) + tau = [4, 4]
    //     w = [2.25, 0.5] + [0, -3/4]        = [2.25, -0.25]
    const cfg = config('fedadagrad', { tau: 0.75, serverLearningRate: 1 });
    expect(cfg.beta1).toBe(0);
    const { weights, states } = run(cfg, [1, 1], [
      [1, -1],
      [3, 0],
      [0, -3],
    ]);
    expect(weights.map((w) => Array.from(w))).toEqual([
      [1.5, 0.5],
      [2.25, 0.5],
      [2.25, -0.25],
    ]);
    expect(Array.from(states[2].buffers.v)).toEqual([10.5625, 10.5625]);
  });

  it('uses first-moment momentum when beta1 > 0, as in the paper', () => {
    // Same deltas, beta1 = 0.5: m1 = [0.5, -0.5], m2 = [0.25 + 1.5, -0.25 + 0] = [1.75, -0.25],
    //   m3 = [0.875 + 0, -0.125 - 1.5] = [0.875, -1.625]; denominators as above [2,2], [4,2], [4,4]
    // w1 = [1, 1] + [0.25, -0.25]                 = [1.25, 0.75]
    // w2 = [1.25, 0.75] + [1.75/4, -0.25/2]       = [1.6875, 0.625]
    // w3 = [1.6875, 0.625] + [0.875/4, -1.625/4]  = [1.90625, 0.21875]
    const { weights } = run(config('fedadagrad', { tau: 0.75, beta1: 0.5, serverLearningRate: 1 }), [1, 1], [
      [1, -1],
      [3, 0],
      [0, -3],
    ]);
    expect(weights.map((w) => Array.from(w))).toEqual([
      [1.25, 0.75],
      [1.6875, 0.625],
      [1.90625, 0.21875],
    ]);
  });
});
