/**
 * @module What a member saw while fetching a model: every attempt (which store, what went wrong)
 * and where the bytes finally came from. Members send it signed; the aggregator validates it here
 * and records it in the audit ledger, so an operator can see a stale or altered replica.
 */
import { TesseraError } from './errors.ts';
import { isContentHash } from './hash.ts';

/** How one attempt ended. `stale`: a valid artifact of another version; `torn`: truncated;
 *  `altered`: bytes or signature do not verify; `missing`: not there; `unavailable`: store error;
 *  `forbidden`: sealed under a key this member does not hold. */
export const FETCH_OUTCOMES = ['ok', 'missing', 'stale', 'torn', 'altered', 'unavailable', 'forbidden'] as const;
export type FetchOutcome = (typeof FETCH_OUTCOMES)[number];

export interface FetchAttempt {
  /** A store URL, or `aggregator` for the HTTP fallback. */
  source: string;
  outcome: FetchOutcome;
  /** The error code and message when not ok. */
  code?: string;
  message?: string;
  ms: number;
}

export interface FetchReport {
  modelVersion: number;
  modelHash: string;
  /** Where the bytes that were used came from (`aggregator` or a store URL); null: none worked. */
  usedSource: string | null;
  attempts: FetchAttempt[];
}

const MAX_ATTEMPTS = 32;

function bad(field: string, expected: string): never {
  throw new TesseraError('BAD_REQUEST', `${field}: expected ${expected}`, { field });
}

const shortString = (v: unknown, field: string, max: number): string => {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) bad(field, `a string of 1-${max} characters`);
  return v;
};

/** Validates an untrusted fetch report (bounded: at most 32 attempts, short strings). */
export function parseFetchReport(input: unknown): FetchReport {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) bad('body', 'a JSON object');
  const o = input as Record<string, unknown>;
  if (!Number.isInteger(o.modelVersion) || (o.modelVersion as number) < 0) bad('modelVersion', 'a non-negative integer');
  if (!isContentHash(o.modelHash)) bad('modelHash', '64 lowercase hex characters');
  const usedSource = o.usedSource === null ? null : shortString(o.usedSource, 'usedSource', 600);
  if (!Array.isArray(o.attempts) || o.attempts.length === 0 || o.attempts.length > MAX_ATTEMPTS) bad('attempts', `a list of 1-${MAX_ATTEMPTS} attempts`);
  const attempts = o.attempts.map((a: unknown, i): FetchAttempt => {
    if (typeof a !== 'object' || a === null) bad(`attempts[${i}]`, 'an object');
    const r = a as Record<string, unknown>;
    if (!FETCH_OUTCOMES.includes(r.outcome as FetchOutcome)) bad(`attempts[${i}].outcome`, `one of ${FETCH_OUTCOMES.join(', ')}`);
    if (typeof r.ms !== 'number' || !Number.isFinite(r.ms) || r.ms < 0) bad(`attempts[${i}].ms`, 'a duration in ms');
    return {
      source: shortString(r.source, `attempts[${i}].source`, 600),
      outcome: r.outcome as FetchOutcome,
      ...(r.code === undefined ? {} : { code: shortString(r.code, `attempts[${i}].code`, 40) }),
      ...(r.message === undefined ? {} : { message: shortString(r.message, `attempts[${i}].message`, 500) }),
      ms: Math.round(r.ms),
    };
  });
  return { modelVersion: o.modelVersion as number, modelHash: o.modelHash as string, usedSource, attempts };
}
