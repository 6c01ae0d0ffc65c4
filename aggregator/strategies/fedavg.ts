/**
 * @module FedAvg (McMahan et al., 2017) as a server step: w + eta * meanDelta.
 * FedProx (Li et al., 2020) uses the same server step; its proximal term lives in the client's loss.
 */
import type { StrategyStep } from './state.ts';

/** w_{t+1} = w_t + eta * meanDelta; eta = 1 is plain weighted averaging of the local models. */
export const fedAvg: StrategyStep = (config, global, meanDelta, state) => {
  const eta = config.serverLearningRate;
  const weights = new Float32Array(global.length);
  for (let i = 0; i < global.length; i++) weights[i] = global[i] + eta * meanDelta[i];
  return { weights, state: { strategy: config.name, steps: (state?.steps ?? 0) + 1, buffers: {} } };
};
