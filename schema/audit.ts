/** @module The audit events: append-only (the hash-chained, signed ledger builds on this table). */
import { bigint, bigserial, jsonb, pgTable, text } from 'drizzle-orm/pg-core';

export const auditEvents = pgTable('audit_events', {
  seq: bigserial('seq', { mode: 'number' }).primaryKey(),
  time: bigint('time', { mode: 'number' }).notNull(),
  kind: text('kind').notNull(),
  actor: text('actor').notNull(),
  federationId: text('federation_id'),
  payload: jsonb('payload').notNull(),
});
