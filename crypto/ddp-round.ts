/**
 * @module Distributed DP for one secure-aggregation round: the sensitivity of a member's
 * quantized vector, the per-member noise variance that makes the secure sum over the minimum
 * number of survivors (epsilon, delta)-DP towards the aggregator, the modulus headroom that noise
 * needs, and the member's RDP for a round (its accountant). Adjacency: adding or removing one
 * whole member's contribution. Both sides compute the same numbers from the same public settings,
 * so a member never relies on the variance the aggregator announces.
 *
 * Calibration: the released sum carries the noise of s >= minSurvivors members, each with
 * variance v per coordinate, so its noise has variance s * v. v is the smallest value (to 0.1%)
 * at which the accountant of the sum over exactly minSurvivors members gives epsilon at delta;
 * with more survivors the same v gives a smaller epsilon, with fewer a larger one (members refuse
 * to sign a smaller survivor set, so a sum over fewer is never released by honest members).
 */
import { TesseraError } from '../core/errors.ts';
import { DEFAULT_ORDERS, epsilonFromRdp } from '../core/privacy/rdp.ts';
import type { DistributedNoiseRound, SecAggRoundConfig } from '../core/secagg-wire.ts';
import type { DistributedDpParams } from './ddp-noise.ts';
import { discreteGaussianSumRdp, roundedL2Sensitivity, skellamSumRdp } from './ddp-noise.ts';
import type { QuantizationConfig } from './quantization.ts';
import { levels, maxBitsFor, quantizationStep } from './quantization.ts';

/**
 * The failure probability of the randomized-rounding norm bound (Kairouz et al. 2021 use
 * exp(-0.5)): the member re-rounds until its vector's norm is within the bound, so the bound
 * always holds and beta only sets how often it re-rounds (1 / (1 - beta) ~ 2.5 times on average at worst).
 */
export const ROUNDING_BETA = Math.exp(-0.5);

/** Overflow probability allowed per round over all coordinates, for the noise tail (2^-40). */
export const HEADROOM_FAILURE = 2 ** -40;

const INT32_MAX = 2 ** 31 - 1;

/** The distributed-DP settings a round is built from (the federation's `secure.distributedNoise`). */
export type DistributedNoiseSettings = Omit<DistributedNoiseRound, 'variance'>;

function bad(field: string, message: string): never {
  throw new TesseraError('BAD_REQUEST', `${field}: ${message}`, { field });
}

/** The member's L2 clip in quantization steps (its weight factor is 1 under distributed DP). */
export const clipInSteps = (l2Clip: number, q: QuantizationConfig): number => l2Clip / quantizationStep(q);

/** The L2 sensitivity, in steps, of one member's quantized vector: the conditional-rounding bound. */
export const memberSensitivity = (l2Clip: number, q: QuantizationConfig, params: number): number => roundedL2Sensitivity(clipInSteps(l2Clip, q), params, ROUNDING_BETA);

/**
 * RDP of one released sum at `orders` (DEFAULT_ORDERS for the member's ledger). The Skellam bound
 * holds at integer orders; at a fractional order it is read at the next integer (RDP grows with the order).
 */
export function distributedRdp(mechanism: DistributedNoiseRound['mechanism'], p: DistributedDpParams, orders: readonly number[] = DEFAULT_ORDERS): number[] {
  if (mechanism === 'discrete-gaussian') return discreteGaussianSumRdp(p, orders);
  return skellamSumRdp(p, orders.map((a) => Math.ceil(a)));
}

/** Epsilon at `delta` of one released sum. */
export const distributedEpsilon = (mechanism: DistributedNoiseRound['mechanism'], p: DistributedDpParams, delta: number): number =>
  epsilonFromRdp(distributedRdp(mechanism, p), delta, DEFAULT_ORDERS).epsilon;

/**
 * The smallest per-member variance (to 0.1%, rounded up) at which the sum over `members`
 * members is (epsilon, delta)-DP, by bisection (epsilon falls as the variance grows).
 */
export function calibrateVariance(p: { mechanism: DistributedNoiseRound['mechanism']; epsilon: number; delta: number; members: number; dimension: number; l2Sensitivity: number }): number {
  const eps = (variance: number) => distributedEpsilon(p.mechanism, { members: p.members, variance, dimension: p.dimension, l2Sensitivity: p.l2Sensitivity }, p.delta);
  let lo = 0, hi = Math.max(1, p.l2Sensitivity ** 2 / p.members);
  while (eps(hi) > p.epsilon) {
    lo = hi;
    hi *= 2;
    if (hi > 1e30) bad('secure.distributedNoise.epsilon', `${p.epsilon} is out of reach at delta ${p.delta}`);
  }
  while (hi - lo > 1e-3 * hi) {
    const mid = (lo + hi) / 2;
    if (eps(mid) > p.epsilon) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * A bound t with P(|summed noise| > t in any of `dimension` coordinates) <= HEADROOM_FAILURE:
 * Bernstein's inequality for a sum of unit-step variables of total variance `variance`, which
 * holds for the (sub-Gaussian) discrete Gaussian and for Skellam noise alike.
 */
export function noiseTail(variance: number, dimension: number): number {
  const c = Math.log((2 * dimension) / HEADROOM_FAILURE);
  return c / 3 + Math.sqrt((c * c) / 9 + 2 * c * variance);
}

/**
 * The headroom rule with noise: n members' values and their summed noise must not wrap mod 2^32,
 * n * (2^(bits-1) - 1) + noiseTail(n * variance) <= 2^31 - 1. Throws naming `quantization.bits`.
 */
export function checkNoiseHeadroom(n: number, q: QuantizationConfig, variance: number, dimension: number): void {
  const need = n * levels(q) + noiseTail(n * variance, dimension);
  if (need > INT32_MAX) bad('quantization.bits', `${n} members x ${q.bits}-bit values plus their noise (variance ${variance.toExponential(3)} each) may overflow the 32-bit sum; use fewer bits or a larger epsilon`);
}

/** The per-member variance for a round's quantization (what members add and check). */
export function roundVariance(s: DistributedNoiseSettings, q: QuantizationConfig, params: number): number {
  return calibrateVariance({ mechanism: s.mechanism, epsilon: s.epsilon, delta: s.delta, members: s.minSurvivors, dimension: params, l2Sensitivity: memberSensitivity(s.l2Clip, q, params) });
}

/**
 * Picks the bits for a round of n members with distributed noise: `bits` when given, else the
 * most (up to 24) for which values plus noise fit the modulus. Returns the bits and the round's noise.
 */
export function planDistributedNoise(p: { members: number; params: number; clip: number; bits?: number; settings: DistributedNoiseSettings }): { bits: number; noise: DistributedNoiseRound } {
  if (!(p.settings.l2Clip > 0 && p.settings.l2Clip <= p.clip)) bad('secure.distributedNoise.l2Clip', `expected a number in (0, ${p.clip}] (secure.clip), got ${p.settings.l2Clip}`);
  const candidates = p.bits !== undefined ? [p.bits] : Array.from({ length: Math.min(24, maxBitsFor(p.members)) - 1 }, (_, i) => Math.min(24, maxBitsFor(p.members)) - i);
  let last: unknown = null;
  for (const bits of candidates) {
    const q = { clip: p.clip, bits };
    const variance = roundVariance(p.settings, q, p.params);
    try {
      checkNoiseHeadroom(p.members, q, variance, p.params);
      return { bits, noise: { ...p.settings, variance } };
    } catch (e) {
      last = e;
    }
  }
  if (p.bits !== undefined) throw last;
  return bad('secure.distributedNoise.epsilon', `no quantization width fits ${p.members} members' values and noise for epsilon ${p.settings.epsilon} in the 32-bit sum; raise epsilon or lower l2Clip's ratio to clip`);
}

/**
 * What a member checks before adding noise: the announced settings are sane, the announced
 * variance is at least what the member computes itself, and values plus noise fit the modulus.
 */
export function checkRoundNoise(config: SecAggRoundConfig): DistributedNoiseRound | null {
  const noise = config.distributedNoise;
  if (!noise) return null;
  const f = 'distributedNoise';
  if (noise.mechanism !== 'discrete-gaussian' && noise.mechanism !== 'skellam') bad(`${f}.mechanism`, 'expected "discrete-gaussian" or "skellam"');
  if (!(noise.epsilon > 0 && Number.isFinite(noise.epsilon))) bad(`${f}.epsilon`, 'expected a positive number');
  if (!(noise.delta > 0 && noise.delta < 1)) bad(`${f}.delta`, 'expected a number in (0, 1)');
  if (!(noise.l2Clip > 0 && noise.l2Clip <= config.quantization.clip)) bad(`${f}.l2Clip`, `expected a number in (0, ${config.quantization.clip}] (the quantization clip)`);
  if (!Number.isInteger(noise.minSurvivors) || noise.minSurvivors < 1) bad(`${f}.minSurvivors`, 'expected a positive integer');
  if (!(noise.variance > 0 && Number.isFinite(noise.variance))) bad(`${f}.variance`, 'expected a positive finite number');
  const own = roundVariance(noise, config.quantization, config.params);
  if (noise.variance < own * (1 - 1e-9)) bad(`${f}.variance`, `announced ${noise.variance}, below the ${own} this member computes for epsilon ${noise.epsilon} over ${noise.minSurvivors} members; refusing too little noise`);
  checkNoiseHeadroom(config.members.length, config.quantization, noise.variance, config.params);
  return noise;
}

/** The member's RDP (DEFAULT_ORDERS) and epsilon at `delta` for a round whose sum holds `members` members' noise. */
export function roundSpend(config: SecAggRoundConfig, members: number, delta: number): { rdp: number[]; epsilon: number; l2Sensitivity: number; variance: number; mechanism: DistributedNoiseRound['mechanism'] } {
  const noise = config.distributedNoise;
  if (!noise) return bad('distributedNoise', 'this round adds no distributed noise');
  const l2Sensitivity = memberSensitivity(noise.l2Clip, config.quantization, config.params);
  const rdp = distributedRdp(noise.mechanism, { members, variance: noise.variance, dimension: config.params, l2Sensitivity });
  return { rdp, epsilon: epsilonFromRdp(rdp, delta, DEFAULT_ORDERS).epsilon, l2Sensitivity, variance: noise.variance, mechanism: noise.mechanism };
}
