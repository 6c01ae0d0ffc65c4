/**
 * @module Privacy spend as the ledger records it: what each member reported with its update
 * (record-level DP-SGD, `privacy`) or with its evaluation in a secure round (`privacy`, and
 * member-level distributed DP, `memberPrivacy`). Pure, read from entries, so the dashboard and the
 * evidence pack show the same figures. These are the members' own reports: they enforce their
 * budgets on their side; the aggregator only records.
 */
import type { JsonValue } from '../../core/canonical-json.ts';
import type { LedgerEntry } from './entry.ts';

/** One member's reported spend in one round, for one unit of privacy. */
export interface PrivacySpendRow {
  federationId: string;
  round: number;
  memberId: string;
  /** `record`: one record of the member's data (DP-SGD); `member`: the member's whole data (distributed noise). */
  unit: 'record' | 'member';
  mechanism: string;
  /** This round alone, at `delta`. */
  epsilon: number;
  /** The member's total in the federation after this round, at `delta`. */
  cumulativeEpsilon: number;
  delta: number;
  /** The ledger entry it comes from. */
  seq: number;
}

type Obj = Record<string, JsonValue>;
const isObj = (v: JsonValue | undefined): v is Obj => v !== null && v !== undefined && typeof v === 'object' && !Array.isArray(v);
const num = (v: JsonValue | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The spend rows one entry carries (none for other kinds). */
export function privacySpendOf(e: LedgerEntry): PrivacySpendRow[] {
  if (e.kind !== 'contribution.accepted' && e.kind !== 'evaluation.accepted') return [];
  const p = e.payload;
  if (!isObj(p)) return [];
  const rows: PrivacySpendRow[] = [];
  for (const [key, unit] of [['privacy', 'record'], ['memberPrivacy', 'member']] as const) {
    const s = p[key];
    if (!isObj(s)) continue;
    const epsilon = num(s.epsilon), cumulativeEpsilon = num(s.cumulativeEpsilon), delta = num(s.delta);
    if (epsilon === null || cumulativeEpsilon === null || delta === null) continue;
    rows.push({ federationId: e.federationId ?? '', round: Number(p.round), memberId: String(p.memberId), unit, mechanism: String(s.mechanism), epsilon, cumulativeEpsilon, delta, seq: e.seq });
  }
  return rows;
}

/** Every spend row in `entries`, by seq. */
export const privacySpends = (entries: readonly LedgerEntry[]): PrivacySpendRow[] => entries.flatMap(privacySpendOf);

/** Per member and unit, the latest cumulative epsilon (the row of its highest round). */
export function latestSpend<T extends PrivacySpendRow>(rows: readonly T[]): T[] {
  const last = new Map<string, T>();
  for (const r of rows) {
    const k = `${r.federationId}\n${r.memberId}\n${r.unit}`;
    const prev = last.get(k);
    if (!prev || r.round > prev.round || (r.round === prev.round && r.seq > prev.seq)) last.set(k, r);
  }
  return [...last.values()];
}
