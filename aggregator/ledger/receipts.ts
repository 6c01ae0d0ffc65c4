/**
 * @module Receipts: the aggregator's signed statement that a member's contribution is in the
 * ledger at a given seq. A receipt is derived from its `contribution.accepted` entry and signed
 * with the ledger key (Ed25519 is deterministic, so the same contribution always gets the same
 * receipt). A member proves inclusion by finding that entry, with that hash, in a verified export.
 */
import { and, asc, eq, sql } from 'drizzle-orm';
import type { JsonValue } from '../../core/canonical-json.ts';
import { toBase64 } from '../../crypto/identity.ts';
import { auditEvents } from '../../schema/index.ts';
import type { Db } from '../db/database.ts';
import type { LedgerEntry, LedgerKey } from './entry.ts';
import { documentSignatureValid, signDocument } from './entry.ts';
import { toEntry } from './store.ts';

export const RECEIPT_TAG = 'TESSERA-RECEIPT-V1';

export interface Receipt {
  type: 'tessera.receipt/1';
  federationId: string;
  round: number;
  memberId: string;
  stage: string;
  /** BLAKE2b-256 of the contribution's bytes. */
  contributionHash: string;
  /** The ledger entry that records the contribution, and its hash. */
  seq: number;
  entryHash: string;
  time: number;
  publicKey: string;
  signature: string;
}

const field = (p: JsonValue, k: string): JsonValue | undefined => (p && typeof p === 'object' && !Array.isArray(p) ? p[k] : undefined);

/** The receipt for a `contribution.accepted` entry. */
export function receiptFor(entry: LedgerEntry, key: LedgerKey): Receipt {
  const doc = {
    type: 'tessera.receipt/1' as const,
    federationId: entry.federationId ?? '',
    round: Number(field(entry.payload, 'round')),
    memberId: String(field(entry.payload, 'memberId')),
    stage: String(field(entry.payload, 'stage') ?? 'fit'),
    contributionHash: String(field(entry.payload, 'hash')),
    seq: entry.seq,
    entryHash: entry.hash,
    time: entry.time,
    publicKey: toBase64(key.publicKey),
  };
  return { ...doc, signature: signDocument(RECEIPT_TAG, doc, key) };
}

export function receiptSignatureValid(r: Receipt, publicKey: Uint8Array): boolean {
  const { signature, ...doc } = r;
  return documentSignatureValid(RECEIPT_TAG, { ...doc }, signature, publicKey);
}

/**
 * Checks one receipt against verified entries: signed by the key, and the entry at its seq has
 * its hash and records this member's contribution with this content hash.
 */
export function checkReceipt(r: Receipt, bySeq: ReadonlyMap<number, LedgerEntry>, publicKey: Uint8Array): { ok: boolean; message: string } {
  if (!receiptSignatureValid(r, publicKey)) return { ok: false, message: 'the receipt is not signed by this ledger key' };
  const e = bySeq.get(r.seq);
  if (!e) return { ok: false, message: `the ledger has no verified entry ${r.seq}` };
  if (e.hash !== r.entryHash) return { ok: false, message: `entry ${r.seq} has hash ${e.hash.slice(0, 16)}…, the receipt names ${r.entryHash.slice(0, 16)}…` };
  const ok = e.kind === 'contribution.accepted' && e.federationId === r.federationId && field(e.payload, 'memberId') === r.memberId && field(e.payload, 'round') === r.round && field(e.payload, 'hash') === r.contributionHash;
  return ok ? { ok, message: `included at seq ${r.seq}` } : { ok, message: `entry ${r.seq} does not record this contribution` };
}

/** A member's receipts (optionally for one round), in ledger order. */
export async function memberReceipts(db: Db, key: LedgerKey, federationId: string, memberId: string, round?: number): Promise<Receipt[]> {
  const rows = await db
    .select()
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.federationId, federationId),
        eq(auditEvents.kind, 'contribution.accepted'),
        sql`${auditEvents.payload}->>'memberId' = ${memberId}`,
        round === undefined ? undefined : sql`(${auditEvents.payload}->>'round')::int = ${round}`,
      ),
    )
    .orderBy(asc(auditEvents.seq));
  return rows.map((r) => receiptFor(toEntry(r), key));
}
