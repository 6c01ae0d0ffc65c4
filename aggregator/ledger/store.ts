/**
 * @module Reading the ledger from the database, exporting it as JSON Lines with a signed head, and
 * verifying either. An export is one entry per line (seq order), then one line holding the signed
 * head: {type: "tessera.ledger-head/1", seq, hash, time, publicKey, signature}.
 */
import { and, asc, eq, gte, lte, sql } from 'drizzle-orm';
import type { JsonValue } from '../../core/canonical-json.ts';
import { TesseraError } from '../../core/errors.ts';
import { toBase64 } from '../../crypto/identity.ts';
import { auditEvents, ledgerHead } from '../../schema/index.ts';
import type { Db } from '../db/database.ts';
import type { LedgerEntry, LedgerKey, SignedHead } from './entry.ts';
import { GENESIS_HASH, headSignatureValid, signHead } from './entry.ts';
import type { VerifyResult } from './verify.ts';
import { verifyLedger } from './verify.ts';

type Row = typeof auditEvents.$inferSelect;

export const toEntry = (r: Row): LedgerEntry => ({
  seq: r.seq,
  time: r.time,
  kind: r.kind,
  actor: r.actor,
  federationId: r.federationId,
  payload: r.payload as JsonValue,
  prevHash: r.prevHash,
  hash: r.hash,
  signature: r.signature,
});

/** A page of entries in seq order. */
export async function readEntries(db: Db, opts: { from?: number; through?: number; limit?: number } = {}): Promise<LedgerEntry[]> {
  const where = and(gte(auditEvents.seq, opts.from ?? 1), opts.through === undefined ? undefined : lte(auditEvents.seq, opts.through));
  const q = db.select().from(auditEvents).where(where).orderBy(asc(auditEvents.seq));
  return (await (opts.limit === undefined ? q : q.limit(opts.limit))).map(toEntry);
}

/** Every entry and the head row, read in one snapshot (so appends meanwhile do not look like tampering). */
export async function readSnapshot(db: Db): Promise<{ entries: LedgerEntry[]; head: { seq: number; hash: string } }> {
  return db.transaction(
    async (tx) => {
      const [head] = await tx.select().from(ledgerHead).where(eq(ledgerHead.id, 1));
      const rows = await tx.select().from(auditEvents).orderBy(asc(auditEvents.seq));
      return { entries: rows.map(toEntry), head: head ? { seq: head.seq, hash: head.hash } : { seq: 0, hash: GENESIS_HASH } };
    },
    { isolationLevel: 'repeatable read' },
  );
}

/** Verifies the live ledger against its head row. */
export async function verifyDatabase(db: Db, publicKey: Uint8Array): Promise<VerifyResult & { head: { seq: number; hash: string } }> {
  const { entries, head } = await readSnapshot(db);
  return { ...verifyLedger(entries, publicKey, { head }), head };
}

/** The export text: the entries as JSON Lines, then the signed head (of the last exported entry). */
export async function exportLedger(db: Db, key: LedgerKey, time: number): Promise<{ text: string; head: SignedHead; entries: number }> {
  const { entries, head } = await readSnapshot(db);
  const signed = signHead({ seq: head.seq, hash: head.hash, time }, key);
  const lines = entries.map((e) => JSON.stringify(e));
  lines.push(JSON.stringify(signed));
  return { text: lines.join('\n') + '\n', head: signed, entries: entries.length };
}

/** Splits an export into its entries and its head; throws BAD_REQUEST naming the line that is not JSON. */
export function parseExport(text: string): { entries: LedgerEntry[]; head: SignedHead | null } {
  const entries: LedgerEntry[] = [];
  let head: SignedHead | null = null;
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new TesseraError('BAD_REQUEST', `export line ${i + 1}: not JSON`, { field: 'file' });
    }
    const o = v as Record<string, unknown>;
    if (o?.type === 'tessera.ledger-head/1') head = o as unknown as SignedHead;
    else if (typeof o?.seq === 'number' && typeof o.hash === 'string') entries.push(o as unknown as LedgerEntry);
    else throw new TesseraError('BAD_REQUEST', `export line ${i + 1}: neither a ledger entry nor a signed head`, { field: 'file' });
  });
  return { entries, head };
}

/** Verifies an export offline with only the public key: the head's signature, then the chain up to it. */
export function verifyExport(text: string, publicKey: Uint8Array): VerifyResult & { head: SignedHead | null } {
  const { entries, head } = parseExport(text);
  if (!head || head.publicKey !== toBase64(publicKey) || !headSignatureValid(head, publicKey)) {
    const r = verifyLedger(entries, publicKey);
    return { ...r, ok: false, head, problem: { kind: 'bad-signature', seq: head?.seq ?? 0, message: head ? 'the export head is not signed by this public key' : 'the export has no signed head line' } };
  }
  return { ...verifyLedger(entries, publicKey, { head }), head };
}

/** Counts entries (used by the start-up key check). */
export async function lastEntry(db: Db): Promise<LedgerEntry | null> {
  const [row] = await db.select().from(auditEvents).orderBy(sql`${auditEvents.seq} desc`).limit(1);
  return row ? toEntry(row) : null;
}
