/**
 * @module Fixed-point quantization of real vectors into Z_2^32, so masked sums are exact.
 *
 * Each coordinate v is clipped to [-clip, clip] (the number of clipped coordinates is counted and
 * reported, never hidden), divided by step = clip / L with L = 2^(bits-1) - 1, and rounded
 * stochastically (up with probability equal to the fractional part, so rounding is unbiased).
 * The integer q in [-L, L] is stored as its two's complement in a u32 word. A sum of n such words
 * mod 2^32 read back as a signed int32 is the exact integer sum provided n * L <= 2^31 - 1: the
 * headroom rule, checked when a round is configured.
 *
 * Error bound: each member's rounding error is below one step per coordinate, so
 * |dequantize(sum of n quantized) - sum of n clipped values| < n * step, per coordinate.
 */
import { getRandomValues } from 'node:crypto';
import { TesseraError } from '../core/errors.ts';

/** How real values become integers. */
export interface QuantizationConfig {
  /** Values are clipped to [-clip, clip] before quantization. */
  clip: number;
  /** Bits per member value, sign included: values become integers in [-(2^(bits-1) - 1), 2^(bits-1) - 1]. */
  bits: number;
}

/** The largest per-member integer magnitude, L = 2^(bits-1) - 1. */
export const levels = (config: QuantizationConfig): number => 2 ** (config.bits - 1) - 1;

/** The value of one integer unit: clip / L. */
export const quantizationStep = (config: QuantizationConfig): number => config.clip / levels(config);

const INT32_MAX = 2 ** 31 - 1;

function bad(field: string, message: string): never {
  throw new TesseraError('BAD_REQUEST', `${field}: ${message}`, { field });
}

/** Validates a config on its own (positive finite clip, bits in [2, 32]). */
export function checkQuantization(config: QuantizationConfig): void {
  if (!Number.isFinite(config.clip) || config.clip <= 0) bad('quantization.clip', `expected a positive finite number, got ${config.clip}`);
  if (!Number.isInteger(config.bits) || config.bits < 2 || config.bits > 32) bad('quantization.bits', `expected an integer in [2, 32], got ${config.bits}`);
}

/**
 * The headroom rule: the sum of n members' values must not wrap modulo 2^32, i.e.
 * n * (2^(bits-1) - 1) <= 2^31 - 1. Throws naming the field to change.
 */
export function checkHeadroom(n: number, config: QuantizationConfig): void {
  checkQuantization(config);
  if (!Number.isInteger(n) || n < 1) bad('members', `expected a positive integer, got ${n}`);
  if (n * levels(config) > INT32_MAX) {
    bad('quantization.bits', `${n} members x ${config.bits}-bit values overflow the 32-bit sum; use at most ${maxBitsFor(n)} bits for ${n} members`);
  }
}

/** The most bits per value for which n members fit the modulus. */
export function maxBitsFor(n: number): number {
  let bits = 32;
  while (bits > 2 && n * (2 ** (bits - 1) - 1) > INT32_MAX) bits--;
  return bits;
}

/** A uniform [0, 1) source backed by the OS CSPRNG, drawn in batches. */
export function secureUniform(): () => number {
  const buf = new Uint32Array(4096);
  let i = buf.length;
  return () => {
    if (i === buf.length) {
      getRandomValues(buf);
      i = 0;
    }
    return buf[i++] / 4294967296;
  };
}

export interface QuantizeOptions {
  /** Multiplies every (clipped) value first: the member's weight factor in [0, 1]. */
  scale?: number;
  /** Uniform [0, 1) source for stochastic rounding; a seeded one in tests. */
  random?: () => number;
  /** Write into this vector (length >= values.length) instead of allocating. */
  out?: Uint32Array;
}

/**
 * Clips, scales and quantizes. Returns the u32 words and how many coordinates were clipped.
 * Non-finite values are refused: a NaN would silently become 0.
 */
export function quantize(values: ArrayLike<number>, config: QuantizationConfig, options: QuantizeOptions = {}): { quantized: Uint32Array; clipped: number } {
  checkQuantization(config);
  const scale = options.scale ?? 1;
  if (!Number.isFinite(scale) || scale < 0 || scale > 1) bad('scale', `expected a number in [0, 1], got ${scale}`);
  const random = options.random ?? secureUniform();
  const out = options.out ?? new Uint32Array(values.length);
  if (out.length < values.length) bad('out', `needs ${values.length} words, has ${out.length}`);
  const L = levels(config);
  const inv = scale / quantizationStep(config);
  const c = config.clip;
  let clipped = 0;
  for (let i = 0; i < values.length; i++) {
    let v = values[i];
    if (!Number.isFinite(v)) bad(`values[${i}]`, `expected a finite number, got ${v}`);
    if (v > c) { v = c; clipped++; } else if (v < -c) { v = -c; clipped++; }
    const x = v * inv;
    const f = Math.floor(x);
    let q = random() < x - f ? f + 1 : f;
    if (q > L) q = L; else if (q < -L) q = -L;
    out[i] = q >>> 0;
  }
  return { quantized: out, clipped };
}

/**
 * Reads a sum of `n` members' quantized vectors back as real values (the first `length` words).
 * Each word is read as a signed int32, which is exact under the headroom rule.
 */
export function dequantizeSum(sum: Uint32Array, n: number, config: QuantizationConfig, length = sum.length): Float64Array {
  checkHeadroom(n, config);
  const step = quantizationStep(config);
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) out[i] = (sum[i] | 0) * step;
  return out;
}

/** The documented error bound per coordinate for a sum of n members: n * step. */
export const sumErrorBound = (n: number, config: QuantizationConfig): number => n * quantizationStep(config);
