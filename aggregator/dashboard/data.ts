/**
 * @module What the dashboard reads: federations with their counts, rounds, a round's participants
 * and its ledger events, members with their participation. Read-only queries; never model bytes.
 */
import { and, asc, count, eq, inArray, max, sql } from 'drizzle-orm';
import type { JsonValue } from '../../core/canonical-json.ts';
import { TesseraError } from '../../core/errors.ts';
import type { EvaluationReport, EvaluationSummary } from '../../core/evaluation.ts';
import type { FederationConfig } from '../../core/federation.ts';
import { auditEvents, contributions, federations, members, roundMembers, rounds } from '../../schema/index.ts';
import type { Db } from '../db/database.ts';
import type { LedgerEntry } from '../ledger/entry.ts';
import { toEntry } from '../ledger/store.ts';
import type { PrivacySpendRow } from '../ledger/privacy.ts';
import { privacySpends } from '../ledger/privacy.ts';

export type FederationRow = typeof federations.$inferSelect & { config: FederationConfig };
export type RoundRow = Omit<typeof rounds.$inferSelect, 'metrics'> & { metrics: EvaluationSummary | null };

export interface FederationSummary {
  federation: FederationRow;
  members: number;
  committed: number;
  failed: number;
  open: number;
  lastRound: number | null;
}

export async function federationSummaries(db: Db): Promise<FederationSummary[]> {
  const feds = (await db.select().from(federations).orderBy(asc(federations.createdAt))) as FederationRow[];
  const memberCounts = await db.select({ fid: members.federationId, n: count() }).from(members).groupBy(members.federationId);
  const roundCounts = await db.select({ fid: rounds.federationId, status: rounds.status, n: count(), last: max(rounds.number) }).from(rounds).groupBy(rounds.federationId, rounds.status);
  return feds.map((f) => {
    const mine = roundCounts.filter((r) => r.fid === f.id);
    const n = (status: string) => mine.find((r) => r.status === status)?.n ?? 0;
    const last = mine.reduce<number | null>((m, r) => (r.last !== null && (m === null || r.last > m) ? r.last : m), null);
    return { federation: f, members: memberCounts.find((m) => m.fid === f.id)?.n ?? 0, committed: n('committed'), failed: n('failed'), open: n('open'), lastRound: last };
  });
}

export async function federationById(db: Db, id: string): Promise<FederationRow> {
  const [f] = await db.select().from(federations).where(eq(federations.id, id));
  if (!f) throw new TesseraError('NOT_FOUND', `no federation ${id}`, { field: 'federationId' });
  return f as FederationRow;
}

export interface RoundListItem extends RoundRow {
  selected: number;
  contributed: number;
  dropped: number;
  declined: number;
}

/** Every round of a federation, oldest first, with per-status member counts. */
export async function roundsOf(db: Db, federationId: string): Promise<RoundListItem[]> {
  const rows = (await db.select().from(rounds).where(eq(rounds.federationId, federationId)).orderBy(asc(rounds.number))) as RoundRow[];
  if (rows.length === 0) return [];
  const counts = await db
    .select({ roundId: roundMembers.roundId, status: roundMembers.status, n: count() })
    .from(roundMembers)
    .where(inArray(roundMembers.roundId, rows.map((r) => r.id)))
    .groupBy(roundMembers.roundId, roundMembers.status);
  return rows.map((r) => {
    const n = (...s: string[]) => counts.filter((x) => x.roundId === r.id && s.includes(x.status)).reduce((a, x) => a + x.n, 0);
    return { ...r, selected: n('selected', 'submitted', 'evaluated', 'dropped', 'declined'), contributed: n('submitted', 'evaluated'), dropped: n('dropped'), declined: n('declined') };
  });
}

export interface Participant {
  memberId: string;
  name: string;
  status: string;
  reason: string | null;
  updatedAt: number;
  evaluation: EvaluationReport | null;
  update: { hash: string; size: number; weight: number; createdAt: number } | null;
}

export interface RoundDetail {
  round: RoundRow;
  participants: Participant[];
  /** The round's ledger entries (opened, stages, contributions, dropouts, commit, outcome), by seq. */
  events: LedgerEntry[];
  names: Map<string, string>;
}

const ROUND_EVENT_KINDS = ['round.opened', 'round.stage', 'contribution.accepted', 'contribution.refused', 'member.dropped', 'evaluation.accepted', 'model.committed', 'round.completed', 'round.failed'];

export async function roundDetail(db: Db, federationId: string, number: number): Promise<RoundDetail> {
  const [round] = (await db.select().from(rounds).where(and(eq(rounds.federationId, federationId), eq(rounds.number, number)))) as RoundRow[];
  if (!round) throw new TesseraError('NOT_FOUND', `no round ${number} in federation ${federationId}`, { field: 'round' });
  const names = await memberNames(db, federationId);
  const slots = await db.select().from(roundMembers).where(eq(roundMembers.roundId, round.id));
  const ups = await db
    .select({ memberId: contributions.memberId, hash: contributions.hash, size: contributions.size, weight: contributions.weight, createdAt: contributions.createdAt })
    .from(contributions)
    .where(and(eq(contributions.roundId, round.id), eq(contributions.stage, 'fit')));
  const participants = slots
    .map((s) => {
      const u = ups.find((x) => x.memberId === s.memberId);
      return { memberId: s.memberId, name: names.get(s.memberId) ?? s.memberId, status: s.status, reason: s.reason, updatedAt: s.updatedAt, evaluation: (s.evaluation as EvaluationReport | null) ?? null, update: u ?? null };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
  const rows = await db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.federationId, federationId), inArray(auditEvents.kind, ROUND_EVENT_KINDS), sql`${auditEvents.payload}->>'round' = ${String(number)}`))
    .orderBy(asc(auditEvents.seq));
  return { round, participants, events: rows.map(toEntry), names };
}

/** Every privacy spend the federation's members reported, from the ledger entries that recorded it (by seq). */
export async function privacyOf(db: Db, federationId: string): Promise<PrivacySpendRow[]> {
  const rows = await db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.federationId, federationId), inArray(auditEvents.kind, ['contribution.accepted', 'evaluation.accepted'])))
    .orderBy(asc(auditEvents.seq));
  return privacySpends(rows.map(toEntry));
}

/** Member names by id, of one federation or of all. */
export async function memberNames(db: Db, federationId?: string): Promise<Map<string, string>> {
  const rows = await db.select({ id: members.id, name: members.name }).from(members).where(federationId === undefined ? undefined : eq(members.federationId, federationId));
  return new Map(rows.map((r) => [r.id, r.name]));
}

export interface MemberSummary {
  member: typeof members.$inferSelect;
  /** Rounds per status this member ended in (selected, submitted, evaluated, dropped, declined). */
  rounds: Record<string, number>;
  lastReason: string | null;
}

export async function membersOf(db: Db, federationId: string): Promise<MemberSummary[]> {
  const rows = await db.select().from(members).where(eq(members.federationId, federationId)).orderBy(asc(members.name));
  const stats = await db
    .select({ memberId: roundMembers.memberId, status: roundMembers.status, n: count(), reason: max(roundMembers.reason) })
    .from(roundMembers)
    .innerJoin(rounds, eq(rounds.id, roundMembers.roundId))
    .where(eq(rounds.federationId, federationId))
    .groupBy(roundMembers.memberId, roundMembers.status);
  return rows.map((m) => {
    const mine = stats.filter((s) => s.memberId === m.id);
    return { member: m, rounds: Object.fromEntries(mine.map((s) => [s.status, s.n])), lastReason: mine.find((s) => s.status === 'dropped')?.reason ?? null };
  });
}

/** A short, human description of a ledger payload (the full JSON stays one click away). */
export function describePayload(e: LedgerEntry, names?: Map<string, string>): string {
  const p = (e.payload ?? {}) as Record<string, JsonValue>;
  const who = (id: JsonValue | undefined) => (typeof id === 'string' ? (names?.get(id) ?? id.slice(0, 8)) : '?');
  switch (e.kind) {
    case 'round.opened':
      return `round ${p.round} opened from model v${p.baseVersion}, ${Array.isArray(p.members) ? p.members.length : 0} members selected`;
    case 'round.stage':
      return `round ${p.round}: ${p.from} → ${p.to}`;
    case 'contribution.accepted':
      return `update from ${who(p.memberId)}: ${p.size} bytes, weight ${p.weight}`;
    case 'contribution.refused':
      return `update from ${who(p.memberId)} refused: ${p.reason}`;
    case 'member.dropped':
      return `${who(p.memberId)} dropped in ${p.stage}: ${p.reason}`;
    case 'evaluation.accepted':
      return `evaluation from ${who(p.memberId)}: ${p.correct}/${p.examples} correct`;
    case 'model.committed':
      return `model v${p.version} committed from ${p.updates} updates`;
    case 'round.completed':
      return `round ${p.round} completed`;
    case 'round.failed':
      return `round ${p.round} failed: ${p.reason}`;
    case 'member.enrolled':
      return `${p.name} enrolled`;
    case 'invitation.created':
      return `invitation for ${p.memberName}`;
    case 'federation.created':
      return `federation ${(p.config as Record<string, JsonValue> | null)?.name ?? ''} created`;
    case 'credential.created':
    case 'credential.revoked':
      return `${p.role} credential “${p.label}”`;
    case 'audit.read':
      return `auditor ${p.label ?? ''} read: ${p.what}`;
    default:
      return '';
  }
}
