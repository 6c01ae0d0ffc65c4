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

export async function appendAudit(
  tx: Tx,
  event: { kind: AuditKind; actor: string; federationId?: string | null; payload: Record<string, unknown>; time: number },
): Promise<LedgerEntry> {
  if (!signer) throw new TesseraError('INTERNAL', 'no ledger key installed: createApp() installs it before anything is appended');
  const [head] = await tx.select().from(ledgerHead).where(eq(ledgerHead.id, 1)).for('update');
  if (!head) throw new TesseraError('INTERNAL', 'the ledger_head row is missing; the database was not migrated or was altered');
  const entry = sealEntry(head.hash, { seq: head.seq + 1, time: event.time, kind: event.kind, actor: event.actor, federationId: event.federationId ?? null, payload: recorded(event.payload) }, signer);
  await tx.insert(auditEvents).values(entry);
  await tx.update(ledgerHead).set({ seq: entry.seq, hash: entry.hash }).where(eq(ledgerHead.id, 1));
  return entry;
}
