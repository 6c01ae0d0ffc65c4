/** @module What a member tells the aggregator about the privacy it spent in a round (recorded in the ledger, never used to enforce anything: members enforce their own budget). */
import { TesseraError } from '../errors.ts';

/** Header carrying a PrivacySpend (JSON) with an update uploaded as the request body. */
export const PRIVACY_HEADER = 'x-tessera-privacy';

export interface PrivacySpend {
  mechanism: 'dp-sgd';
  /** This round alone, at `delta`. */
  epsilon: number;
  /** The member's total in this federation after this round, at `delta`. */
  cumulativeEpsilon: number;
  delta: number;
  noiseMultiplier: number;
  clipNorm: number;
  sampleRate: number;
  steps: number;
}

const FIELDS = ['epsilon', 'cumulativeEpsilon', 'delta', 'noiseMultiplier', 'clipNorm', 'sampleRate', 'steps'] as const;

/** Validates an untrusted spend report, naming the bad field (`privacy.<field>`). */
export function parsePrivacySpend(input: unknown): PrivacySpend {
  const o = (typeof input === 'object' && input !== null && !Array.isArray(input) ? input : null) as Record<string, unknown> | null;
  if (!o) throw new TesseraError('BAD_REQUEST', 'privacy: expected an object', { field: 'privacy' });
  if (o.mechanism !== 'dp-sgd') throw new TesseraError('BAD_REQUEST', 'privacy.mechanism: expected "dp-sgd"', { field: 'privacy.mechanism' });
  const out: Record<string, unknown> = { mechanism: 'dp-sgd' };
  for (const k of FIELDS) {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TesseraError('BAD_REQUEST', `privacy.${k}: expected a finite non-negative number`, { field: `privacy.${k}` });
    out[k] = v;
  }
  return out as unknown as PrivacySpend;
}

/** Parses the header's JSON; absent header: null. */
export function parsePrivacyHeader(raw: string | undefined): PrivacySpend | null {
  if (raw === undefined || raw === '') return null;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new TesseraError('BAD_REQUEST', `${PRIVACY_HEADER}: expected JSON`, { field: PRIVACY_HEADER });
  }
  return parsePrivacySpend(v);
}

/**
 * What a member tells the aggregator about the member-level distributed DP it spent in a secure
 * round: the noise it added and the epsilon it records, for the sum over `members` members' noise
 * (the round's minimum survivors: the worst case its own client allows).
 */
export interface MemberPrivacySpend {
  mechanism: 'discrete-gaussian' | 'skellam';
  /** This round alone, at `delta`. */
  epsilon: number;
  /** The member's member-level total in this federation after this round, at `delta`. */
  cumulativeEpsilon: number;
  delta: number;
  /** Per-member noise variance per coordinate, squared quantization steps. */
  variance: number;
  /** Members whose noise the epsilon assumes in the sum. */
  members: number;
  /** L2 sensitivity of the member's quantized vector, steps. */
  l2Sensitivity: number;
}

const MEMBER_FIELDS = ['epsilon', 'cumulativeEpsilon', 'delta', 'variance', 'members', 'l2Sensitivity'] as const;

/** Validates an untrusted member-level spend report, naming the bad field (`memberPrivacy.<field>`). */
export function parseMemberPrivacySpend(input: unknown): MemberPrivacySpend {
  const o = (typeof input === 'object' && input !== null && !Array.isArray(input) ? input : null) as Record<string, unknown> | null;
  if (!o) throw new TesseraError('BAD_REQUEST', 'memberPrivacy: expected an object', { field: 'memberPrivacy' });
  if (o.mechanism !== 'discrete-gaussian' && o.mechanism !== 'skellam') throw new TesseraError('BAD_REQUEST', 'memberPrivacy.mechanism: expected "discrete-gaussian" or "skellam"', { field: 'memberPrivacy.mechanism' });
  const out: Record<string, unknown> = { mechanism: o.mechanism };
  for (const k of MEMBER_FIELDS) {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TesseraError('BAD_REQUEST', `memberPrivacy.${k}: expected a finite non-negative number`, { field: `memberPrivacy.${k}` });
    out[k] = v;
  }
  return out as unknown as MemberPrivacySpend;
}
