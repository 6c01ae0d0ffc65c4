/**
 * @module Rényi-DP accountant for the sampled Gaussian mechanism (Mironov, Talwar, Zhang 2019,
 * "Rényi Differential Privacy of the Sampled Gaussian Mechanism"): RDP at integer orders by the
 * binomial sum, at fractional orders by the two-sided erfc series (the same formulas as
 * TF-Privacy's and Opacus' compute_rdp), composition by adding RDP vectors, and conversion to
 * (epsilon, delta) with the standard bound or the improved one (Balle et al. 2020, Canonne et
 * al. 2020). Add-or-remove-one adjacency; sensitivity is the clip norm, so sigma is the noise
 * multiplier. Pure: no Node APIs.
 */
import { TesseraError } from '../errors.ts';

/** The orders TF-Privacy's and Opacus' accountants use by default. */
export const DEFAULT_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10),
  ...Array.from({ length: 53 }, (_, x) => 11 + x),
  128, 256, 512,
]);

export type Conversion = 'improved' | 'standard';

/** log(exp(a) + exp(b)), stable. */
function logAdd(a: number, b: number): number {
  const lo = Math.min(a, b), hi = Math.max(a, b);
  if (lo === -Infinity) return hi;
  return Math.log1p(Math.exp(lo - hi)) + hi;
}

/** log(exp(a) - exp(b)) for a >= b. */
function logSub(a: number, b: number): number {
  if (b === -Infinity) return a;
  if (a <= b) return -Infinity;
  const d = a - b;
  return d > 700 ? a : Math.log(Math.expm1(d)) + b;
}

/** log(erfc(x)), accurate in the far right tail (series below 2, continued fraction above). */
export function logErfc(x: number): number {
  if (x < 0) return Math.log(2 - Math.exp(logErfc(-x)));
  if (x < 2) {
    // erf by its Maclaurin series; at x < 2 the cancellation costs about two digits.
    let term = x, sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.log(1 - (2 / Math.sqrt(Math.PI)) * sum);
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated bottom-up.
  let f = x;
  for (let k = 120; k >= 1; k--) f = x + k / 2 / f;
  return -x * x - 0.5 * Math.log(Math.PI) - Math.log(f);
}

/** log A_alpha for integer alpha (Mironov et al. 2019, Section 3.3). */
function logAInt(q: number, sigma: number, alpha: number): number {
  let logA = -Infinity;
  let logBinom = 0;
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log(alpha - i + 1) - Math.log(i);
    const s = logBinom + i * Math.log(q) + (alpha - i) * Math.log1p(-q) + (i * i - i) / (2 * sigma * sigma);
    logA = logAdd(logA, s);
  }
  return logA;
}

/** log A_alpha for fractional alpha (Mironov et al. 2019, Section 3.3, the z0 split). */
function logAFrac(q: number, sigma: number, alpha: number): number {
  let logA0 = -Infinity, logA1 = -Infinity;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  let logAbsBinom = 0;
  let sign = 1;
  for (let i = 0; i < 100_000; i++) {
    if (i > 0) {
      const factor = (alpha - i + 1) / i;
      if (factor < 0) sign = -sign;
      logAbsBinom += Math.log(Math.abs(factor));
    }
    const j = alpha - i;
    const logT0 = logAbsBinom + i * Math.log(q) + j * Math.log1p(-q);
    const logT1 = logAbsBinom + j * Math.log(q) + i * Math.log1p(-q);
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma));
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma));
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
    if (sign > 0) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
    }
    if (Math.max(logS0, logS1) < -30) break;
  }
  return logAdd(logA0, logA1);
}

/** RDP of one step of the sampled Gaussian mechanism at one order. */
function rdpOneStep(q: number, sigma: number, alpha: number): number {
  if (q === 0) return 0;
  if (sigma === 0) return Infinity;
  if (q === 1) return alpha / (2 * sigma * sigma);
  if (!Number.isFinite(alpha)) return Infinity;
  const logA = Number.isInteger(alpha) ? logAInt(q, sigma, alpha) : logAFrac(q, sigma, alpha);
  return logA / (alpha - 1);
}

function check(cond: boolean, field: string, expected: string): void {
  if (!cond) throw new TesseraError('BAD_REQUEST', `${field}: expected ${expected}`, { field });
}

/** RDP of `steps` compositions of the sampled Gaussian mechanism (rate q, noise multiplier sigma), per order. */
export function computeRdp(q: number, sigma: number, steps: number, orders: readonly number[] = DEFAULT_ORDERS): number[] {
  check(q >= 0 && q <= 1, 'sampleRate', 'a number in [0, 1]');
  check(sigma >= 0 && Number.isFinite(sigma), 'noiseMultiplier', 'a finite number >= 0');
  check(Number.isInteger(steps) && steps >= 0, 'steps', 'a non-negative integer');
  return orders.map((a) => {
    check(a > 1, 'orders', 'orders above 1');
    return steps === 0 ? 0 : rdpOneStep(q, sigma, a) * steps;
  });
}

/** Composition: the element-wise sum of RDP vectors over the same orders. */
export function composeRdp(...vectors: readonly (readonly number[])[]): number[] {
  const n = vectors[0]?.length ?? 0;
  return Array.from({ length: n }, (_, i) => vectors.reduce((s, v) => s + v[i], 0));
}

/**
 * The smallest epsilon over the orders at which the RDP curve gives (epsilon, delta)-DP.
 * `standard`: eps = rdp - log(delta)/(alpha-1) (Mironov 2017, Prop. 3).
 * `improved`: eps = rdp + log1p(-1/alpha) - log(delta*alpha)/(alpha-1) (Balle et al. 2020, Thm 21;
 * as TF-Privacy and Opacus compute it).
 */
export function epsilonFromRdp(rdp: readonly number[], delta: number, orders: readonly number[] = DEFAULT_ORDERS, conversion: Conversion = 'improved'): { epsilon: number; order: number } {
  check(delta > 0 && delta < 1, 'delta', 'a number in (0, 1)');
  check(rdp.length === orders.length, 'rdp', `${orders.length} values, one per order`);
  let best = Infinity, order = orders[0];
  rdp.forEach((r, i) => {
    const a = orders[i];
    let eps: number;
    if (Number.isNaN(r) || r < 0) eps = Infinity;
    else if (conversion === 'standard') eps = r - Math.log(delta) / (a - 1);
    else if (delta * delta + Math.expm1(-r) >= 0) eps = 0;
    else if (a > 1.01) eps = r + Math.log1p(-1 / a) - Math.log(delta * a) / (a - 1);
    else eps = Infinity;
    if (eps < best) { best = eps; order = a; }
  });
  return { epsilon: Math.max(0, best), order };
}

/** Epsilon of `steps` steps of DP-SGD at rate q and noise multiplier sigma. */
export function dpSgdEpsilon(p: { sampleRate: number; noiseMultiplier: number; steps: number; delta: number; orders?: readonly number[]; conversion?: Conversion }): number {
  const orders = p.orders ?? DEFAULT_ORDERS;
  return epsilonFromRdp(computeRdp(p.sampleRate, p.noiseMultiplier, p.steps, orders), p.delta, orders, p.conversion).epsilon;
}

/**
 * The smallest noise multiplier (to 0.1% relative) at which `steps` steps at rate q stay within
 * (targetEpsilon, delta), by bisection; epsilon decreases as sigma grows. Returns the upper end
 * of the final bracket, so the guarantee holds.
 */
export function calibrateNoise(p: { targetEpsilon: number; delta: number; sampleRate: number; steps: number; orders?: readonly number[]; conversion?: Conversion }): number {
  check(p.targetEpsilon > 0 && Number.isFinite(p.targetEpsilon), 'targetEpsilon', 'a positive number');
  const eps = (sigma: number) => dpSgdEpsilon({ ...p, noiseMultiplier: sigma });
  let lo = 0.05, hi = 1;
  while (eps(hi) > p.targetEpsilon) {
    lo = hi;
    hi *= 2;
    if (hi > 1e6) throw new TesseraError('BAD_REQUEST', `targetEpsilon: ${p.targetEpsilon} is out of reach for ${p.steps} steps at sampling rate ${p.sampleRate}`, { field: 'targetEpsilon' });
  }
  if (eps(lo) <= p.targetEpsilon) return lo;
  while ((hi - lo) / hi > 1e-3) {
    const mid = (lo + hi) / 2;
    if (eps(mid) > p.targetEpsilon) lo = mid;
    else hi = mid;
  }
  return hi;
}
