/**
 * @module The audit ledger: append-only, hash-chained, signed (see aggregator/ledger/entry.ts for
 * exactly what is hashed). `seq` is assigned under the lock on `ledger_head`, never by a sequence,
 * so a rolled-back transaction leaves no gap.
 */
import { bigint, index, integer, jsonb, pgTable, text } from 'drizzle-orm/pg-core';

export const auditEvents = pgTable(
  'audit_events',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey(),
    time: bigint('time', { mode: 'number' }).notNull(),
    kind: text('kind').notNull(),
    actor: text('actor').notNull(),
    federationId: text('federation_id'),
    payload: jsonb('payload').notNull(),
    /** Hex BLAKE2b-256 of the previous entry (64 zeros before the first). */
    prevHash: text('prev_hash').notNull(),
    /** Hex BLAKE2b-256(prev_hash bytes || canonical JSON of the entry). */
    hash: text('hash').notNull(),
    /** Ed25519 signature of the 32 hash bytes by the ledger key, URL-safe base64. */
    signature: text('signature').notNull(),
  },
  (t) => [index('audit_events_federation_kind').on(t.federationId, t.kind)],
);

/** One row (id 1): the chain's last seq and hash. Appends lock it, so there is one chain. */
export const ledgerHead = pgTable('ledger_head', {
  id: integer('id').primaryKey(),
  seq: bigint('seq', { mode: 'number' }).notNull(),
  hash: text('hash').notNull(),
});
