/**
 * @module Server-side strategies: each turns the weighted mean of the members' deltas into the
 * next global model. They see only that mean, never a single member's update, which is exactly
 * what secure aggregation reveals, so every strategy works unchanged under it.
 */
import { TesseraError } from '../../core/errors.ts';
import type { StrategyConfig, StrategyName } from '../../core/federation.ts';
import { allFinite } from '../../core/tensors.ts';
import { fedAdagrad, fedAdam, fedYogi } from './adaptive.ts';
import { assertStrategyConfig } from './config.ts';
import { fedAvg } from './fedavg.ts';
import { fedAvgM } from './fedavgm.ts';
import type { StrategyResult, StrategyState, StrategyStep } from './state.ts';

export { assertStrategyConfig } from './config.ts';
export type { StrategyResult, StrategyState, StrategyStateJSON, StrategyStep } from './state.ts';
export { decodeStrategyState, encodeStrategyState, strategyStateFromJSON, strategyStateToJSON } from './state.ts';
export { WeightedSum, weightedMean } from './weighted-mean.ts';
export type { WeightedUpdate } from './weighted-mean.ts';

/** Each strategy's step and the per-parameter buffers its state must hold. */
export const STRATEGIES: Readonly<Record<StrategyName, { step: StrategyStep; buffers: readonly string[] }>> = {
  fedavg: { step: fedAvg, buffers: [] },
  fedprox: { step: fedAvg, buffers: [] },
  fedavgm: { step: fedAvgM, buffers: ['velocity'] },
  fedadagrad: { step: fedAdagrad, buffers: ['m', 'v'] },
  fedadam: { step: fedAdam, buffers: ['m', 'v'] },
  fedyogi: { step: fedYogi, buffers: ['m', 'v'] },
};

function assertStateFits(config: StrategyConfig, n: number, state: StrategyState): void {
  const fail = (why: string): never => {
    throw new TesseraError('ROUND_STATE', `strategy state does not fit this federation: ${why}; restore the state saved with the current model`, {
      field: 'strategyState',
    });
  };
  if (state.strategy !== config.name) fail(`it was written by ${state.strategy}, the federation uses ${config.name}`);
  const want = STRATEGIES[config.name].buffers;
  const have = Object.keys(state.buffers);
  if (have.length !== want.length || !want.every((b) => have.includes(b))) fail(`buffers [${have}] instead of [${want}]`);
  for (const b of want) if (state.buffers[b].length !== n) fail(`buffer "${b}" has ${state.buffers[b].length} values, the model ${n}`);
}

/**
 * One server step: validates the config, the vectors and the state, then applies the strategy.
 * `state` is null on the first round; persist the returned state with the new model so a restarted
 * aggregator continues bit for bit. Throws BAD_REQUEST (config), BAD_TENSORS (length, NaN or
 * Infinity in the mean delta) or ROUND_STATE (a state from another strategy or model).
 */
export function applyStrategy(
  config: StrategyConfig,
  global: Float32Array,
  meanDelta: Float32Array,
  state: StrategyState | null,
): StrategyResult {
  assertStrategyConfig(config);
  if (global.length !== meanDelta.length) {
    throw new TesseraError('BAD_TENSORS', `mean delta has ${meanDelta.length} values, the model ${global.length}`, { field: 'meanDelta' });
  }
  if (!allFinite(meanDelta)) {
    throw new TesseraError('BAD_TENSORS', 'mean delta contains NaN or Infinity; the model was not changed', { field: 'meanDelta' });
  }
  if (state !== null) assertStateFits(config, global.length, state);
  return STRATEGIES[config.name].step(config, global, meanDelta, state);
}
