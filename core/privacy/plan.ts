/**
 * @module What DP-SGD costs one member in one round, worked out before it trains: the sampling
 * rate and steps from its own example count and the federation's training settings, the noise
 * multiplier (given, or calibrated so that all the federation's rounds spend `targetEpsilon`),
 * and the round's RDP curve, which the member adds to its own ledger.
 */
import type { RecordPrivacyConfig } from './config.ts';
import { DEFAULT_ORDERS, calibrateNoise, computeRdp, epsilonFromRdp } from './rdp.ts';

/** The training settings the plan depends on (a subset of core's TrainingConfig). */
export interface PlannedTraining {
  batchSize: number;
  localEpochs: number;
  localSteps: number | null;
}

export interface DpSgdPlan {
  noiseMultiplier: number;
  clipNorm: number;
  sampling: 'poisson' | 'fixed';
  /** Expected records per step over the member's records. */
  sampleRate: number;
  /** Expected batch size (the divisor of the noisy gradient sum). */
  batchSize: number;
  stepsPerRound: number;
  delta: number;
  /** RDP of one round at DEFAULT_ORDERS. */
  roundRdp: number[];
  /** Epsilon of one round alone, at `delta`. */
  roundEpsilon: number;
}

/** Steps per round exactly as the trainer takes them: localSteps, else epochs x ceil(n / batch). */
export function stepsPerRound(training: PlannedTraining, examples: number): number {
  const batch = Math.min(training.batchSize, examples);
  return training.localSteps ?? training.localEpochs * Math.ceil(examples / batch);
}

/**
 * The member's DP-SGD plan for one round of a federation of `rounds` rounds. Fixed-size
 * sampling is accounted as Poisson at the same rate, as TF-Privacy and Opacus do (see docs/privacy.md).
 */
export function planDpSgd(privacy: RecordPrivacyConfig, training: PlannedTraining, examples: number, rounds: number): DpSgdPlan {
  const batchSize = Math.min(training.batchSize, examples);
  const sampleRate = batchSize / examples;
  const steps = stepsPerRound(training, examples);
  const noiseMultiplier = privacy.noiseMultiplier ?? calibrateNoise({ targetEpsilon: privacy.targetEpsilon!, delta: privacy.delta, sampleRate, steps: steps * rounds });
  const roundRdp = computeRdp(sampleRate, noiseMultiplier, steps);
  return {
    noiseMultiplier,
    clipNorm: privacy.clipNorm,
    sampling: privacy.sampling,
    sampleRate,
    batchSize,
    stepsPerRound: steps,
    delta: privacy.delta,
    roundRdp,
    roundEpsilon: epsilonFromRdp(roundRdp, privacy.delta, DEFAULT_ORDERS).epsilon,
  };
}
