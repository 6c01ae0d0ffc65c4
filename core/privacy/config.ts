/** @module The federation's record-level DP settings (`privacy` in the federation config), validated naming the field. */
import { TesseraError } from '../errors.ts';

/** DP-SGD the members apply to their own records: per-example clipping, Gaussian noise, sampling. */
export interface RecordPrivacyConfig {
  mechanism: 'dp-sgd';
  /** Noise standard deviation over the clip norm; null when `targetEpsilon` sets it. */
  noiseMultiplier: number | null;
  /** Each member calibrates its noise so that the whole federation (all rounds) spends this much; null with `noiseMultiplier`. */
  targetEpsilon: number | null;
  delta: number;
  /** L2 bound of every per-example gradient. */
  clipNorm: number;
  /** `poisson`: each record joins a step with probability batchSize/n; `fixed`: batchSize records drawn without replacement. */
  sampling: 'poisson' | 'fixed';
}

function bad(field: string, expected: string): never {
  throw new TesseraError('BAD_REQUEST', `${field}: expected ${expected}`, { field });
}

const positive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

/** Validates `privacy` (absent or null: no record-level DP). */
export function parsePrivacyConfig(input: unknown, path = 'privacy'): RecordPrivacyConfig | null {
  if (input === undefined || input === null) return null;
  if (typeof input !== 'object' || Array.isArray(input)) bad(path, 'an object or null');
  const o = input as Record<string, unknown>;
  const mechanism = o.mechanism ?? 'dp-sgd';
  if (mechanism !== 'dp-sgd') bad(`${path}.mechanism`, '"dp-sgd"');
  const noise = o.noiseMultiplier ?? null;
  const target = o.targetEpsilon ?? null;
  if ((noise === null) === (target === null)) bad(`${path}.noiseMultiplier`, 'exactly one of noiseMultiplier and targetEpsilon');
  if (noise !== null && !(positive(noise) && noise <= 1000)) bad(`${path}.noiseMultiplier`, 'a number in (0, 1000]');
  if (target !== null && !(positive(target) && target <= 1000)) bad(`${path}.targetEpsilon`, 'a number in (0, 1000]');
  const delta = o.delta;
  if (!(positive(delta) && delta < 1)) bad(`${path}.delta`, 'a number in (0, 1), e.g. 1e-5 (below 1 / the number of records)');
  const clipNorm = o.clipNorm ?? 1;
  if (!(positive(clipNorm) && clipNorm <= 1e6)) bad(`${path}.clipNorm`, 'a number in (0, 1e6]');
  const sampling = o.sampling ?? 'poisson';
  if (sampling !== 'poisson' && sampling !== 'fixed') bad(`${path}.sampling`, '"poisson" or "fixed"');
  return { mechanism, noiseMultiplier: noise as number | null, targetEpsilon: target as number | null, delta, clipNorm, sampling };
}
