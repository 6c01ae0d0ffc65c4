import { describe, expect, it } from 'vitest';
import type { StrategyConfig } from '../../core/federation.ts';
import { parseStrategy } from '../../core/federation.ts';
import { applyStrategy } from './index.ts';
import type { StrategyState } from './index.ts';

const f32 = (xs: number[]): Float32Array => Float32Array.from(xs);
const config = (over: Partial<StrategyConfig>): StrategyConfig => ({ ...parseStrategy('fedavgm'), ...over });

function run(cfg: StrategyConfig, start: number[], deltas: number[][]): { weights: number[][]; states: StrategyState[] } {
  let w = f32(start);
  let state: StrategyState | null = null;
  const weights: number[][] = [];
  const states: StrategyState[] = [];
  for (const d of deltas) {
    ({ weights: w, state } = applyStrategy(cfg, w, f32(d), state));
    weights.push(Array.from(w));
    states.push(state);
  }
  return { weights, states };
}

describe('fedavgm', () => {
  it('keeps a velocity v = momentum * v + meanDelta and steps w + eta * v', () => {
    // momentum 0.5, eta 1, w0 = [0, 1], v0 = [0, 0]
    // r1: d = [1, -2]: v = 0.5*[0, 0] + [1, -2]   = [1, -2]       w = [0, 1] + [1, -2]     = [1, -1]
    // r2: d = [1, 2]:  v = 0.5*[1, -2] + [1, 2]   = [1.5, 1]      w = [1, -1] + [1.5, 1]   = [2.5, 0]
    // r3: d = [0, 0]:  v = 0.5*[1.5, 1] + [0, 0]  = [0.75, 0.5]   w = [2.5, 0] + [0.75, 0.5] = [3.25, 0.5]
    // (r3: the model still moves with a zero mean delta: that is the momentum.)
    const { weights, states } = run(config({ momentum: 0.5, serverLearningRate: 1 }), [0, 1], [
      [1, -2],
      [1, 2],
      [0, 0],
    ]);
    expect(weights).toEqual([
      [1, -1],
      [2.5, 0],
      [3.25, 0.5],
    ]);
    expect(states.map((s) => Array.from(s.buffers.velocity))).toEqual([
      [1, -2],
      [1.5, 1],
      [0.75, 0.5],
    ]);
    expect(states[2].steps).toBe(3);
  });

  it('scales the velocity (not the delta) by eta', () => {
    // momentum 0.5, eta 0.5, w0 = [0, 1]
    // r1: v = [1, -2]    w = [0, 1] + 0.5*[1, -2]  = [0.5, 0]
    // r2: v = [1.5, 1]   w = [0.5, 0] + 0.5*[1.5, 1] = [1.25, 0.5]
    const { weights } = run(config({ momentum: 0.5, serverLearningRate: 0.5 }), [0, 1], [
      [1, -2],
      [1, 2],
    ]);
    expect(weights).toEqual([
      [0.5, 0],
      [1.25, 0.5],
    ]);
  });

  it('with momentum 0 is FedAvg with the same eta', () => {
    // eta 2, w0 = [0, 1]: r1 + 2*[1, -2] -> [2, -3]; r2 + 2*[1, 2] -> [4, 1]
    const { weights } = run(config({ momentum: 0, serverLearningRate: 2 }), [0, 1], [
      [1, -2],
      [1, 2],
    ]);
    expect(weights).toEqual([
      [2, -3],
      [4, 1],
    ]);
  });
});
