/** @module Sealed model artifacts, their replicas in the federation's stores, and the federation's content keys. */
import { bigint, index, integer, pgTable, serial, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { federations } from './federations.ts';
import { bytea } from './rounds.ts';

/** A federation's content keys (`k1`, `k2`, ...), wrapped under the aggregator's signing key. */
export const contentKeys = pgTable(
  'content_keys',
  {
    federationId: text('federation_id').notNull().references(() => federations.id),
    keyId: text('key_id').notNull(),
    /** nonce || secretbox(key), base64url; never served, only sealed per member. */
    wrapped: text('wrapped').notNull(),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    /** Set when a newer key replaced it: later models are sealed under the newer one. */
    retiredAt: bigint('retired_at', { mode: 'number' }),
  },
  (t) => [uniqueIndex('content_keys_pk').on(t.federationId, t.keyId)],
);

/** The sealed, signed artifact of a model version: sealed once, so every store holds the same bytes and hash. */
export const modelArtifacts = pgTable(
  'model_artifacts',
  {
    federationId: text('federation_id').notNull().references(() => federations.id),
    version: integer('version').notNull(),
    keyId: text('key_id').notNull(),
    sealedHash: text('sealed_hash').notNull(),
    sealedSize: integer('sealed_size').notNull(),
    body: bytea('body').notNull(),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  },
  (t) => [uniqueIndex('model_artifacts_pk').on(t.federationId, t.version)],
);

/** One row per (model version, store): pending until published; failures are kept and retried. */
export const modelReplicas = pgTable(
  'model_replicas',
  {
    id: serial('id').primaryKey(),
    federationId: text('federation_id').notNull().references(() => federations.id),
    version: integer('version').notNull(),
    store: text('store').notNull(),
    status: text('status').notNull(),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
    publishedAt: bigint('published_at', { mode: 'number' }),
  },
  (t) => [uniqueIndex('model_replicas_slot').on(t.federationId, t.version, t.store), index('model_replicas_status').on(t.status)],
);
