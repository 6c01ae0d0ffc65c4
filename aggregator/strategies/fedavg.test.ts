import { describe, expect, it } from 'vitest';
import type { StrategyConfig, StrategyName } from '../../core/federation.ts';
import { parseStrategy } from '../../core/federation.ts';
import { applyStrategy } from './index.ts';
import type { StrategyState } from './index.ts';

const f32 = (xs: number[]): Float32Array => Float32Array.from(xs);
const config = (name: StrategyName, over: Partial<StrategyConfig> = {}): StrategyConfig => ({ ...parseStrategy(name), ...over });

/** Runs rounds from `start`, returning the weights after each one. */
function run(cfg: StrategyConfig, start: number[], deltas: number[][]): { weights: number[][]; state: StrategyState } {
  let w = f32(start);
  let state: StrategyState | null = null;
  const weights: number[][] = [];
  for (const d of deltas) {
    ({ weights: w, state } = applyStrategy(cfg, w, f32(d), state));
    weights.push(Array.from(w));
  }
  return { weights, state: state! };
}

describe('fedavg', () => {
  it('adds the mean delta with eta = 1 (plain weighted averaging of local models)', () => {
    // w0 = [1, 2, -1]
    // r1: + [0.5, -1, 0.25]  -> [1.5, 1, -0.75]
    // r2: + [-0.5, 0.5, 1]   -> [1, 1.5, 0.25]
    const { weights, state } = run(config('fedavg'), [1, 2, -1], [
      [0.5, -1, 0.25],
      [-0.5, 0.5, 1],
    ]);
    expect(weights).toEqual([
      [1.5, 1, -0.75],
      [1, 1.5, 0.25],
    ]);
    expect(state).toEqual({ strategy: 'fedavg', steps: 2, buffers: {} });
  });

  it('scales the step by the server learning rate', () => {
    // eta = 0.5, w0 = [1, 2, -1]
    // r1: + 0.5 * [0.5, -1, 0.25] = [0.25, -0.5, 0.125]  -> [1.25, 1.5, -0.875]
    // r2: + 0.5 * [-0.5, 0.5, 1]  = [-0.25, 0.25, 0.5]   -> [1, 1.75, -0.375]
    // r3: + 0.5 * [2, 0, -0.75]   = [1, 0, -0.375]       -> [2, 1.75, -0.75]
    const { weights } = run(config('fedavg', { serverLearningRate: 0.5 }), [1, 2, -1], [
      [0.5, -1, 0.25],
      [-0.5, 0.5, 1],
      [2, 0, -0.75],
    ]);
    expect(weights).toEqual([
      [1.25, 1.5, -0.875],
      [1, 1.75, -0.375],
      [2, 1.75, -0.75],
    ]);
  });
});

describe('fedprox', () => {
  it('is FedAvg on the server (the proximal term is in the client loss), whatever mu is', () => {
    const deltas = [
      [0.5, -1, 0.25],
      [-0.5, 0.5, 1],
    ];
    const prox = run(config('fedprox', { proximalMu: 1 }), [1, 2, -1], deltas);
    expect(prox.weights).toEqual(run(config('fedavg'), [1, 2, -1], deltas).weights);
    expect(prox.state).toEqual({ strategy: 'fedprox', steps: 2, buffers: {} });
  });
});
