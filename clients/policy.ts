/**
 * @module Member-owned policy: a JSON file at the member saying what rounds it will take part in
 * (largest cumulative epsilon per federation at its own delta, smallest cohort, accepted
 * strategies and model kinds, rounds per day). The runtime checks every round against it before
 * training and declines, with the reason, when it says no. `maxEpsilon` caps record-level DP
 * (DP-SGD), `maxMemberEpsilon` member-level DP (distributed noise under secure aggregation); both
 * at `delta`. Example:
 * `{"maxEpsilon": 3, "maxMemberEpsilon": 8, "delta": 1e-5, "minCohort": 3, "strategies": ["fedavg"], "modelKinds": ["logistic"], "maxRoundsPerDay": 24}`
 */
import { readFileSync } from 'node:fs';
import { TesseraError } from '../core/errors.ts';
import type { FederationConfig, StrategyName } from '../core/federation.ts';
import { STRATEGY_NAMES } from '../core/federation.ts';
import type { DpSgdPlan } from '../core/privacy/plan.ts';
import type { BudgetLedger } from './budget.ts';

const MODEL_KINDS = ['logistic', 'mlp'] as const;

export interface MemberPolicy {
  /** Largest cumulative epsilon per federation, at `delta`; null: no cap. */
  maxEpsilon: number | null;
  /** Largest cumulative member-level epsilon per federation (distributed DP), at `delta`; null: no cap. */
  maxMemberEpsilon: number | null;
  /** The delta `maxEpsilon` and `maxMemberEpsilon` are stated at (required with either). */
  delta: number | null;
  /** Smallest cohort (members still in the round, this one included) it joins. */
  minCohort: number;
  /** Accepted strategies; null: any. */
  strategies: StrategyName[] | null;
  /** Accepted model kinds; null: any. */
  modelKinds: (typeof MODEL_KINDS)[number][] | null;
  /** Rounds trained per rolling 24 hours, over all federations; null: no cap. */
  maxRoundsPerDay: number | null;
}

const KEYS = ['maxEpsilon', 'maxMemberEpsilon', 'delta', 'minCohort', 'strategies', 'modelKinds', 'maxRoundsPerDay'];

function bad(field: string, expected: string): never {
  throw new TesseraError('BAD_REQUEST', `policy.${field}: expected ${expected}`, { field: `policy.${field}` });
}

function list<T extends string>(v: unknown, field: string, allowed: readonly T[]): T[] | null {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || v.length === 0) bad(field, `a non-empty list of ${allowed.join(', ')} (or null for any)`);
  v.forEach((s, i) => { if (!allowed.includes(s as T)) bad(`${field}[${i}]`, `one of ${allowed.join(', ')}`); });
  return [...new Set(v as T[])];
}

/** Validates a policy, naming the first bad field (`policy.<field>`). */
export function parseMemberPolicy(input: unknown): MemberPolicy {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new TesseraError('BAD_REQUEST', 'policy: expected a JSON object', { field: 'policy' });
  const o = input as Record<string, unknown>;
  const unknown = Object.keys(o).find((k) => !KEYS.includes(k));
  if (unknown) bad(unknown, `one of the keys ${KEYS.join(', ')} (a misspelt key would silently loosen the policy)`);
  const maxEpsilon = o.maxEpsilon ?? null;
  if (maxEpsilon !== null && !(typeof maxEpsilon === 'number' && Number.isFinite(maxEpsilon) && maxEpsilon > 0)) bad('maxEpsilon', 'a positive number or null');
  const delta = o.delta ?? null;
  if (delta !== null && !(typeof delta === 'number' && delta > 0 && delta < 1)) bad('delta', 'a number in (0, 1)');
  if (maxEpsilon !== null && delta === null) bad('delta', 'the delta maxEpsilon is stated at, e.g. 1e-5');
  const maxMemberEpsilon = o.maxMemberEpsilon ?? null;
  if (maxMemberEpsilon !== null && !(typeof maxMemberEpsilon === 'number' && Number.isFinite(maxMemberEpsilon) && maxMemberEpsilon > 0)) bad('maxMemberEpsilon', 'a positive number or null');
  if (maxMemberEpsilon !== null && delta === null) bad('delta', 'the delta maxMemberEpsilon is stated at, e.g. 1e-5');
  const minCohort = o.minCohort ?? 1;
  if (!Number.isInteger(minCohort) || (minCohort as number) < 1 || (minCohort as number) > 1_000_000) bad('minCohort', 'an integer in [1, 1000000]');
  const maxRoundsPerDay = o.maxRoundsPerDay ?? null;
  if (maxRoundsPerDay !== null && (!Number.isInteger(maxRoundsPerDay) || (maxRoundsPerDay as number) < 1)) bad('maxRoundsPerDay', 'a positive integer or null');
  return {
    maxEpsilon: maxEpsilon as number | null,
    maxMemberEpsilon: maxMemberEpsilon as number | null,
    delta: delta as number | null,
    minCohort: minCohort as number,
    strategies: list(o.strategies, 'strategies', STRATEGY_NAMES),
    modelKinds: list(o.modelKinds, 'modelKinds', MODEL_KINDS),
    maxRoundsPerDay: maxRoundsPerDay as number | null,
  };
}

/** Reads and validates a policy file. */
export function loadMemberPolicy(path: string): MemberPolicy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TesseraError('BAD_REQUEST', `--policy: cannot read ${path} (${(e as Error).message})`, { field: 'policy' });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new TesseraError('BAD_REQUEST', `policy file ${path}: not JSON (${(e as Error).message})`, { field: 'policy' });
  }
  return parseMemberPolicy(parsed);
}

/** What the member knows about a round when it decides. */
export interface RoundFacts {
  federationId: string;
  config: FederationConfig;
  /** Members still in the round (selected minus declined and dropped). */
  cohort: number;
  /** This round's DP-SGD cost for this member, or null when it trains without record-level DP. */
  plan: DpSgdPlan | null;
  /** This round's member-level RDP (DEFAULT_ORDERS) at its minimum survivors, from the noise the member will add; null: none. */
  memberRdp?: number[] | null;
  ledger: BudgetLedger;
  now: number;
}

/** null when the policy admits the round, else the reason to decline (said to the aggregator as is). */
export function checkRound(policy: MemberPolicy, f: RoundFacts): string | null {
  const { config } = f;
  if (policy.strategies && !policy.strategies.includes(config.strategy.name)) {
    return `strategy ${config.strategy.name} is not one this member accepts (${policy.strategies.join(', ')})`;
  }
  if (policy.modelKinds && !policy.modelKinds.includes(config.model.kind)) {
    return `model kind ${config.model.kind} is not one this member accepts (${policy.modelKinds.join(', ')})`;
  }
  if (f.cohort < policy.minCohort) return `cohort of ${f.cohort} members is below this member's minimum of ${policy.minCohort}`;
  if (policy.maxRoundsPerDay !== null) {
    const recent = f.ledger.roundsSince(f.now - 86_400_000);
    if (recent >= policy.maxRoundsPerDay) return `${recent} rounds trained in the last 24 hours; this member's policy allows ${policy.maxRoundsPerDay}`;
  }
  if (policy.maxEpsilon !== null) {
    const delta = policy.delta!;
    if (!f.plan) return `the round applies no record-level DP, and this member's policy caps epsilon at ${policy.maxEpsilon} (delta ${delta})`;
    const spent = f.ledger.spent(f.federationId, delta);
    const after = f.ledger.projected(f.federationId, f.plan, delta);
    if (after > policy.maxEpsilon) {
      return `privacy budget: this round would bring the cumulative epsilon to ${after.toFixed(3)} (delta ${delta}; spent so far ${spent.toFixed(3)}), above this member's cap of ${policy.maxEpsilon}`;
    }
  }
  if (policy.maxMemberEpsilon !== null) {
    const delta = policy.delta!;
    if (!f.memberRdp) return `the round adds no member-level distributed noise, and this member's policy caps member-level epsilon at ${policy.maxMemberEpsilon} (delta ${delta})`;
    const spent = f.ledger.memberSpent(f.federationId, delta);
    const after = f.ledger.memberProjected(f.federationId, f.memberRdp, delta);
    if (after > policy.maxMemberEpsilon) {
      return `member-level privacy budget: this round would bring the cumulative epsilon to ${after.toFixed(3)} (delta ${delta}; spent so far ${spent.toFixed(3)}), above this member's cap of ${policy.maxMemberEpsilon}`;
    }
  }
  return null;
}
