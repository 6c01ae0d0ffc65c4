/**
 * @module Appends to the audit ledger. Every state change calls `appendAudit` inside its own
 * transaction: the entry is numbered, chained and signed there, so it commits or rolls back with
 * the change it records. Appends lock the one `ledger_head` row (SELECT ... FOR UPDATE), so
 * concurrent writers, in this process or another, form one chain without gaps or forks.
 */
import { eq } from 'drizzle-orm';
import { normalizeJson } from '../core/canonical-json.ts';
import { TesseraError } from '../core/errors.ts';
import { auditEvents, ledgerHead } from '../schema/index.ts';
import type { Db } from './db/database.ts';
import type { LedgerEntry, LedgerKey } from './ledger/entry.ts';
import { sealEntry } from './ledger/entry.ts';

export type AuditKind =
  | 'federation.created'
  | 'invitation.created'
  | 'member.enrolled'
  | 'round.opened'
  | 'round.stage'
  | 'round.failed'
  | 'round.completed'
  | 'contribution.accepted'
  | 'contribution.refused'
  | 'request.refused'
  | 'member.dropped'
  | 'member.declined'
  | 'evaluation.accepted'
  | 'model.committed'
  | 'credential.created'
  | 'credential.revoked'
  | 'audit.read'
  | 'model.fetch-report'
  | 'content-key.rotated'
  | 'member.revoked';

/** A transaction handle or the database itself. */
export type Tx = Pick<Db, 'insert' | 'select' | 'update' | 'delete' | 'execute'>;

// One aggregator per process, one ledger key: createApp (and so startAggregator) installs it.
let signer: LedgerKey | null = null;

/** Installs the key that signs every entry appended by this process. */
export function useLedgerKey(key: LedgerKey): void {
  signer = key;
}

/** The installed ledger key, if any. */
export function currentLedgerKey(): LedgerKey | null {
  return signer;
}

// The payload as JSON records it (undefined fields dropped, dates as strings), then checked canonical.
const recorded = (payload: Record<string, unknown>) => normalizeJson(JSON.parse(JSON.stringify(payload)));

export type AuditEvent = { kind: AuditKind; actor: string; federationId?: string | null; payload: Record<string, unknown>; time: number };

export async function appendAudit(tx: Tx, event: AuditEvent): Promise<LedgerEntry> {
  return (await appendAuditMany(tx, [event]))[0];
}

/**
 * Appends events in order as consecutive entries: one lock of the head, one insert, one update
 * of the head, however many (a batch of accepted messages costs the ledger what one does). The
 * head stays locked until the transaction ends, so callers append last, just before committing.
 */
export async function appendAuditMany(tx: Tx, events: AuditEvent[]): Promise<LedgerEntry[]> {
  if (!signer) throw new TesseraError('INTERNAL', 'no ledger key installed: createApp() installs it before anything is appended');
  if (events.length === 0) return [];
  const [head] = await tx.select().from(ledgerHead).where(eq(ledgerHead.id, 1)).for('update');
  if (!head) throw new TesseraError('INTERNAL', 'the ledger_head row is missing; the database was not migrated or was altered');
  const entries: LedgerEntry[] = [];
  let prev = { seq: head.seq, hash: head.hash };
  for (const event of events) {
    const entry = sealEntry(prev.hash, { seq: prev.seq + 1, time: event.time, kind: event.kind, actor: event.actor, federationId: event.federationId ?? null, payload: recorded(event.payload) }, signer);
    entries.push(entry);
    prev = entry;
  }
  await tx.insert(auditEvents).values(entries);
  await tx.update(ledgerHead).set({ seq: prev.seq, hash: prev.hash }).where(eq(ledgerHead.id, 1));
  return entries;
}
