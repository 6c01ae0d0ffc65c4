/** @module Rounds, per-round member status, contributions and model versions. */
import { bigint, customType, index, integer, jsonb, pgTable, serial, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';
import { federations, members } from './federations.ts';

/** Raw bytes (bytea) as Uint8Array on both PGlite and postgres.js. */
export const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (v) => (v instanceof Uint8Array ? v : new Uint8Array(v as ArrayBuffer)),
});

/** A round: a state machine persisted here; `stage` moves only by compare-and-set. */
export const rounds = pgTable(
  'rounds',
  {
    id: serial('id').primaryKey(),
    federationId: text('federation_id').notNull().references(() => federations.id),
    number: integer('number').notNull(),
    status: text('status').notNull(),
    stage: text('stage'),
    stageDeadline: bigint('stage_deadline', { mode: 'number' }),
    baseVersion: integer('base_version').notNull(),
    committedVersion: integer('committed_version'),
    failureReason: text('failure_reason'),
    metrics: jsonb('metrics'),
    openedAt: bigint('opened_at', { mode: 'number' }).notNull(),
    closedAt: bigint('closed_at', { mode: 'number' }),
    /** Secure rounds: how many secure-aggregation messages are stored (raised with each insert under the round's lock), so a process can tell its cached protocol state is current without counting rows. */
    secaggMessages: integer('secagg_messages').notNull().default(0),
  },
  (t) => [uniqueIndex('rounds_federation_number').on(t.federationId, t.number)],
);

/**
 * A slot out of the round's protocol: dropped or declined, or marked with the reason it left
 * (after masked_input the status stays `submitted`). Written out as SQL, not with parameters, so
 * the planner can use the partial index below (a prepared statement's parameters would hide it).
 */
export const LEFT_ROUND = sql`(status in ('dropped', 'declined') or reason is not null)`;

/** Where each selected member stands in a round, and its evaluation report. */
export const roundMembers = pgTable(
  'round_members',
  {
    roundId: integer('round_id').notNull().references(() => rounds.id),
    memberId: text('member_id').notNull().references(() => members.id),
    status: text('status').notNull(),
    reason: text('reason'),
    evaluation: jsonb('evaluation'),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
  },
  (t) => [
    uniqueIndex('round_members_pk').on(t.roundId, t.memberId),
    // "Is anyone still at this status?" (evaluate, fit) without reading every slot of the round.
    index('round_members_status').on(t.roundId, t.status),
    // The few members that left a round (secure stages read them per message and per view).
    index('round_members_left').on(t.roundId).where(LEFT_ROUND),
  ],
);

/** Accepted contributions, one per (round, member, stage), identified by content hash. */
export const contributions = pgTable(
  'contributions',
  {
    id: serial('id').primaryKey(),
    roundId: integer('round_id').notNull().references(() => rounds.id),
    memberId: text('member_id').notNull().references(() => members.id),
    stage: text('stage').notNull(),
    hash: text('hash').notNull(),
    size: integer('size').notNull(),
    weight: integer('weight').notNull(),
    body: bytea('body').notNull(),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  },
  (t) => [uniqueIndex('contributions_slot').on(t.roundId, t.memberId, t.stage), index('contributions_round').on(t.roundId)],
);

/** Model versions: version 0 is the seeded initial model; each committed round adds one. */
export const modelVersions = pgTable(
  'model_versions',
  {
    federationId: text('federation_id').notNull().references(() => federations.id),
    version: integer('version').notNull(),
    hash: text('hash').notNull(),
    parentHash: text('parent_hash'),
    round: integer('round'),
    body: bytea('body').notNull(),
    strategyState: jsonb('strategy_state'),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  },
  (t) => [uniqueIndex('model_versions_pk').on(t.federationId, t.version)],
);
