/** @module Federations, their members, invitations and the operator/auditor credentials. */
import { bigint, index, jsonb, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';

/** A federation: its validated config (model, strategy, training, rounds, deadlines). */
export const federations = pgTable('federations', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  config: jsonb('config').notNull(),
  status: text('status').notNull().default('active'),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
});

/** One-time invitations; only the token's hash is stored. */
export const invitations = pgTable(
  'invitations',
  {
    id: text('id').primaryKey(),
    federationId: text('federation_id').notNull().references(() => federations.id),
    memberName: text('member_name').notNull(),
    tokenHash: text('token_hash').notNull(),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    expiresAt: bigint('expires_at', { mode: 'number' }).notNull(),
    usedAt: bigint('used_at', { mode: 'number' }),
    usedBy: text('used_by'),
  },
  (t) => [uniqueIndex('invitations_token_hash').on(t.tokenHash)],
);

/** Enrolled members, identified by the Ed25519 public key they generated themselves. */
export const members = pgTable(
  'members',
  {
    id: text('id').primaryKey(),
    federationId: text('federation_id').notNull().references(() => federations.id),
    name: text('name').notNull(),
    publicKey: text('public_key').notNull(),
    status: text('status').notNull().default('active'),
    enrolledAt: bigint('enrolled_at', { mode: 'number' }).notNull(),
  },
  (t) => [uniqueIndex('members_federation_name').on(t.federationId, t.name), index('members_federation').on(t.federationId)],
);

/** Operator and auditor bearer credentials; only hashes are stored. */
export const credentials = pgTable('credentials', {
  id: text('id').primaryKey(),
  role: text('role').notNull(),
  label: text('label').notNull(),
  tokenHash: text('token_hash').notNull().unique(),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  revokedAt: bigint('revoked_at', { mode: 'number' }),
});

/** Nonces of signed member requests, kept for the clock-skew window to refuse replays. */
export const requestNonces = pgTable(
  'request_nonces',
  {
    memberId: text('member_id').notNull(),
    nonce: text('nonce').notNull(),
    expiresAt: bigint('expires_at', { mode: 'number' }).notNull(),
  },
  (t) => [uniqueIndex('request_nonces_pk').on(t.memberId, t.nonce), index('request_nonces_expiry').on(t.expiresAt)],
);

