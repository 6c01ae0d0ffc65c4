/**
 * @module Member-level distributed DP under secure aggregation: each member adds integer noise
 * to its quantized delta (mod 2^32) so that the secure sum carries noise of the target variance
 * and is private even towards the aggregator. Two mechanisms, both closed (or nearly) under
 * summation across members:
 * - discrete Gaussian N_Z(0, s^2), the exact sampler of Canonne, Kamath, Steinke 2020
 *   (Algorithms 1-3, rational arithmetic on BigInt, no floating point in the acceptance tests),
 *   accounted with Kairouz, Liu, Steinke 2021 (distributed discrete Gaussian, Prop. 14 / Thm. 1);
 * - Skellam Pois(mu/2) - Pois(mu/2), variance mu, accounted with Agarwal, Kairouz, Liu 2021 (Thm 3.5).
 * Noise comes from a CSPRNG by default; the secure-aggregation client uses `keyedNoiseSource` on
 * a secret seed it keeps (so a retry after a restart sends identical bytes); `seededNoiseSource`
 * (a public seed) is for tests only. Calibration and headroom: crypto/ddp-round.ts.
 */
import { randomFillSync } from 'node:crypto';
import { TesseraError } from '../core/errors.ts';
import { DEFAULT_ORDERS } from '../core/privacy/rdp.ts';
import { sodium } from '../core/sodium.ts';

/** Uniform 32-bit words. */
export interface NoiseSource {
  uint32(): number;
}

/** A CSPRNG (node:crypto), buffered. */
export function secureNoiseSource(): NoiseSource {
  const buf = new Uint32Array(2048);
  let at = buf.length;
  return {
    uint32() {
      if (at === buf.length) { randomFillSync(buf); at = 0; }
      return buf[at++];
    },
  };
}

/**
 * A stream keyed by a secret 32-byte key: libsodium's ChaCha20 DRG, reseeded per 64 KiB block
 * from BLAKE2b(key, block). With a secret key it is a CSPRNG, and the same key gives the same
 * stream (a member recomputes identical noise after a restart).
 */
export function keyedNoiseSource(key: Uint8Array): NoiseSource {
  let block = 0, at = 0;
  let words: Uint32Array = new Uint32Array(0);
  return {
    uint32() {
      if (at === words.length) {
        const blockSeed = sodium.crypto_generichash(32, new Uint8Array([...key, ...new Uint8Array(new Uint32Array([block++]).buffer)]), null);
        words = new Uint32Array(sodium.randombytes_buf_deterministic(65536, blockSeed).buffer);
        at = 0;
      }
      return words[at++];
    },
  };
}

/** A deterministic stream from a public seed; tests only. */
export const seededNoiseSource = (seed: string | number): NoiseSource =>
  keyedNoiseSource(sodium.crypto_generichash(32, new TextEncoder().encode(`tessera-ddp-noise:${seed}`), null));

/** Uniform BigInt in [0, n), by rejection on the smallest covering bit length. */
function uniformBelow(n: bigint, src: NoiseSource): bigint {
  const bits = n.toString(2).length;
  const words = Math.ceil(bits / 32);
  const excess = BigInt(words * 32 - bits);
  for (;;) {
    let v = 0n;
    for (let i = 0; i < words; i++) v = (v << 32n) | BigInt(src.uint32());
    v >>= excess;
    if (v < n) return v;
  }
}

/** Bernoulli(num/den), exact. */
const bernoulli = (num: bigint, den: bigint, src: NoiseSource): boolean => uniformBelow(den, src) < num;

/** Bernoulli(exp(-num/den)) for num/den >= 0, exact (CKS 2020, Algorithm 1). */
function bernoulliExp(num: bigint, den: bigint, src: NoiseSource): boolean {
  while (num > den) {
    if (!bernoulliExp(1n, 1n, src)) return false;
    num -= den;
  }
  let k = 1n;
  for (;;) {
    if (!bernoulli(num, den * k, src)) break;
    k++;
  }
  return k % 2n === 1n;
}

/** The exact rational value of a finite double. */
function rational(x: number): { num: bigint; den: bigint } {
  let den = 1n;
  while (!Number.isInteger(x)) { x *= 2; den *= 2n; }
  return { num: BigInt(x), den };
}

/** One sample of the discrete Gaussian N_Z(0, variance) (CKS 2020, Algorithm 3). */
export function sampleDiscreteGaussian(variance: number, src: NoiseSource): number {
  if (!(variance > 0 && Number.isFinite(variance))) throw new TesseraError('BAD_REQUEST', 'variance: expected a positive finite number', { field: 'variance' });
  const { num: a, den: b } = rational(variance); // sigma^2 = a / b
  const t = BigInt(Math.floor(Math.sqrt(variance))) + 1n;
  for (;;) {
    const u = uniformBelow(t, src);
    if (!bernoulliExp(u, t, src)) continue;
    let v = 0n;
    while (bernoulliExp(1n, 1n, src)) v++;
    const x = u + t * v;
    const negative = (src.uint32() & 1) === 1;
    if (negative && x === 0n) continue;
    // Accept with probability exp(-(|z| - sigma^2/t)^2 / (2 sigma^2)) = exp(-(x t b - a)^2 / (2 a t^2 b)).
    const d = x * t * b - a;
    if (bernoulliExp(d * d, 2n * a * t * t * b, src)) return Number(negative ? -x : x);
  }
}

const LOG_FACT = [0];
for (let k = 1; k <= 256; k++) LOG_FACT.push(LOG_FACT[k - 1] + Math.log(k));
/** log(k!) by table, then Stirling's series (error below 1e-15 past 256). */
function logFactorial(k: number): number {
  if (k <= 256) return LOG_FACT[k];
  const x = k + 1;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x ** 3) + 1 / (1260 * x ** 5);
}

const uniform = (src: NoiseSource): number => ((src.uint32() >>> 5) * 67108864 + (src.uint32() >>> 6)) / 9007199254740992;

/** One Poisson(lambda) sample: multiplication below 10, else Hörmann's PTRS (1993). */
export function samplePoisson(lambda: number, src: NoiseSource): number {
  if (lambda === 0) return 0;
  if (lambda < 10) {
    const limit = Math.exp(-lambda);
    let k = 0, p = uniform(src);
    while (p > limit) { k++; p *= uniform(src); }
    return k;
  }
  const slam = Math.sqrt(lambda), loglam = Math.log(lambda);
  const b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b, invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = uniform(src) - 0.5, v = uniform(src), us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -lambda + k * loglam - logFactorial(k)) return k;
  }
}

/** One Skellam sample of variance mu: Pois(mu/2) - Pois(mu/2). */
export const sampleSkellam = (mu: number, src: NoiseSource): number => samplePoisson(mu / 2, src) - samplePoisson(mu / 2, src);

/** Each member's share of the noise: `variance` per coordinate, in quantization steps. */
export interface DistributedNoiseParams {
  mechanism: 'discrete-gaussian' | 'skellam';
  variance: number;
}

/** Adds one member's noise to its quantized vector in place (mod 2^32, as secure aggregation sums). */
export function addDistributedNoise(quantized: Uint32Array, params: DistributedNoiseParams, rng: NoiseSource = secureNoiseSource()): Uint32Array {
  if (!(params.variance > 0 && Number.isFinite(params.variance))) throw new TesseraError('BAD_REQUEST', 'variance: expected a positive finite number of squared quantization steps', { field: 'variance' });
  const draw = params.mechanism === 'skellam' ? sampleSkellam : params.mechanism === 'discrete-gaussian' ? sampleDiscreteGaussian : null;
  if (!draw) throw new TesseraError('BAD_REQUEST', 'mechanism: expected "discrete-gaussian" or "skellam"', { field: 'mechanism' });
  for (let i = 0; i < quantized.length; i++) quantized[i] = (quantized[i] + draw(params.variance, rng)) >>> 0;
  return quantized;
}

/**
 * L2 sensitivity (in steps) of one member's vector after clipping to `clip` steps and randomized
 * rounding in `dimension` coordinates, holding except with probability `beta` (Kairouz et al. 2021, Thm 1).
 */
export function roundedL2Sensitivity(clip: number, dimension: number, beta: number): number {
  const worst = (clip + Math.sqrt(dimension)) ** 2;
  if (beta <= 0) return Math.sqrt(worst);
  const likely = clip ** 2 + dimension / 4 + Math.sqrt(2 * Math.log(1 / beta)) * (clip + Math.sqrt(dimension) / 2);
  return Math.sqrt(Math.min(worst, likely));
}

/** What the distributed accountant needs; sensitivities in quantization steps. */
export interface DistributedDpParams {
  /** Members whose noise is in the sum (survivors of the round). */
  members: number;
  /** Per-member noise variance per coordinate. */
  variance: number;
  dimension: number;
  l2Sensitivity: number;
  /** Default: l2Sensitivity * sqrt(dimension). */
  l1Sensitivity?: number;
}

/** RDP of one release of the summed discrete Gaussian noise (Kairouz, Liu, Steinke 2021, Prop. 14), per order. */
export function discreteGaussianSumRdp(p: DistributedDpParams, orders: readonly number[] = DEFAULT_ORDERS): number[] {
  const scale = p.l2Sensitivity / Math.sqrt(p.members * p.variance);
  let tau = 0;
  for (let k = 1; k < p.members; k++) tau += Math.exp(-2 * Math.PI ** 2 * p.variance * (k / (k + 1)));
  tau *= 10;
  return orders.map((a) => Math.min((a * scale ** 2) / 2 + tau * p.dimension, (a / 2) * (scale + Math.sqrt(p.dimension) * tau) ** 2));
}

/** RDP of one release of the summed Skellam noise, variance members x variance (Agarwal, Kairouz, Liu 2021, Thm 3.5); integer orders. */
export function skellamSumRdp(p: DistributedDpParams, orders: readonly number[] = DEFAULT_ORDERS.filter(Number.isInteger)): number[] {
  const mu = p.members * p.variance, d2 = p.l2Sensitivity, d1 = p.l1Sensitivity ?? d2 * Math.sqrt(p.dimension);
  return orders.map((a) => {
    if (!Number.isInteger(a)) throw new TesseraError('BAD_REQUEST', 'orders: the Skellam bound holds at integer orders', { field: 'orders' });
    return (a * d2 * d2) / (2 * mu) + Math.min(((2 * a - 1) * d2 * d2 + 6 * d1) / (4 * mu * mu), (3 * d1) / (2 * mu));
  });
}
