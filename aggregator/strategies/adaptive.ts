/**
 * @module FedAdagrad, FedAdam and FedYogi: Algorithm 2 of Reddi et al., "Adaptive Federated
 * Optimization", ICLR 2021, with the mean delta as the pseudo-gradient Delta_t:
 *   m_t = beta1 * m_{t-1} + (1 - beta1) * Delta_t
 *   v_t = v_{t-1} + Delta_t^2                                              (Adagrad)
 *   v_t = beta2 * v_{t-1} + (1 - beta2) * Delta_t^2                        (Adam)
 *   v_t = v_{t-1} - (1 - beta2) * Delta_t^2 * sign(v_{t-1} - Delta_t^2)    (Yogi)
 *   w_{t+1} = w_t + eta * m_t / (sqrt(v_t) + tau)
 * Initial values as in the paper: m_{-1} = 0, v_{-1} = tau^2 (the paper asks v_{-1} >= tau^2;
 * Flower starts v at 0 instead). No bias correction, as in the paper. m and v are float64.
 */
import type { StrategyConfig } from '../../core/federation.ts';
import type { StrategyResult, StrategyState, StrategyStep } from './state.ts';

/** Updates v in place from the squared delta; one call per round, so no per-element closure. */
type SecondMoment = (v: Float64Array, delta: Float32Array, beta2: number) => void;

function adaptiveStep(
  config: StrategyConfig,
  global: Float32Array,
  delta: Float32Array,
  state: StrategyState | null,
  secondMoment: SecondMoment,
): StrategyResult {
  const { beta1, beta2, tau, serverLearningRate: eta } = config;
  const n = global.length;
  const m = new Float64Array(n);
  const previousM = state?.buffers.m;
  if (previousM) for (let i = 0; i < n; i++) m[i] = beta1 * previousM[i] + (1 - beta1) * delta[i];
  else for (let i = 0; i < n; i++) m[i] = (1 - beta1) * delta[i];
  const v = state?.buffers.v ? Float64Array.from(state.buffers.v) : new Float64Array(n).fill(tau * tau);
  secondMoment(v, delta, beta2);
  const weights = new Float32Array(n);
  for (let i = 0; i < n; i++) weights[i] = global[i] + (eta * m[i]) / (Math.sqrt(v[i]) + tau);
  return { weights, state: { strategy: config.name, steps: (state?.steps ?? 0) + 1, buffers: { m, v } } };
}

const adagradMoment: SecondMoment = (v, delta) => {
  for (let i = 0; i < v.length; i++) v[i] += delta[i] * delta[i];
};

const adamMoment: SecondMoment = (v, delta, beta2) => {
  for (let i = 0; i < v.length; i++) v[i] = beta2 * v[i] + (1 - beta2) * delta[i] * delta[i];
};

const yogiMoment: SecondMoment = (v, delta, beta2) => {
  for (let i = 0; i < v.length; i++) {
    const d2 = delta[i] * delta[i];
    v[i] -= (1 - beta2) * d2 * Math.sign(v[i] - d2);
  }
};

/** FedAdagrad: v accumulates every squared delta, so steps shrink where deltas were large. */
export const fedAdagrad: StrategyStep = (config, global, delta, state) => adaptiveStep(config, global, delta, state, adagradMoment);

/** FedAdam: v is an exponential moving average of squared deltas. */
export const fedAdam: StrategyStep = (config, global, delta, state) => adaptiveStep(config, global, delta, state, adamMoment);

/** FedYogi: v moves toward the squared delta by an additive step, so it grows slower than Adam's. */
export const fedYogi: StrategyStep = (config, global, delta, state) => adaptiveStep(config, global, delta, state, yogiMoment);
