/**
 * @module FedAvgM (Hsu et al., 2019): server momentum over the mean delta.
 * Same form as Flower's FedAvgM (PyTorch SGD convention, no dampening, no Nesterov):
 * v_t = momentum * v_{t-1} + meanDelta, v_0 = 0 (so v_1 = meanDelta); w_{t+1} = w_t + eta * v_t.
 */
import type { StrategyStep } from './state.ts';

/** Server momentum; the steady-state step for a constant delta is eta / (1 - momentum) times it. */
export const fedAvgM: StrategyStep = (config, global, meanDelta, state) => {
  const { momentum, serverLearningRate: eta } = config;
  const n = global.length;
  const previous = state?.buffers.velocity ?? new Float64Array(n);
  const velocity = new Float64Array(n);
  const weights = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = momentum * previous[i] + meanDelta[i];
    velocity[i] = v;
    weights[i] = global[i] + eta * v;
  }
  return { weights, state: { strategy: config.name, steps: (state?.steps ?? 0) + 1, buffers: { velocity } } };
};
