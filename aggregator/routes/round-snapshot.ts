/**
 * @module A federation and its latest round as read at one moment, shared by the requests that
 * ask together: the members' held polls check it for a change and answer from it, and secure
 * messages take their early checks from it (made again under the round's lock where it matters).
 * One read per federation per RECHECK_MS, or per change this process makes, however many ask.
 */
import { desc, eq } from 'drizzle-orm';
import type { Context } from 'hono';
import { rounds } from '../../schema/index.ts';
import type { AppEnv } from '../context.ts';
import type { Db } from '../db/database.ts';
import { perDatabase } from '../db/database.ts';
import { federationRow } from './federations.ts';

/** How often a held poll re-reads the round (changes made by another aggregator process). */
export const RECHECK_MS = 250;

export type Federation = Awaited<ReturnType<typeof federationRow>>;
export type RoundRow = typeof rounds.$inferSelect;
export type Snapshot = { f: Federation; round: RoundRow | undefined };

const latestRound = async (db: Db, federationId: string): Promise<RoundRow | undefined> =>
  (await db.select().from(rounds).where(eq(rounds.federationId, federationId)).orderBy(desc(rounds.number)).limit(1))[0];

/** A fresh read of the federation (NOT_FOUND when there is none) and its latest round. */
export async function readSnapshot(db: Db, federationId: string): Promise<Snapshot> {
  return { f: await federationRow(db, federationId), round: await latestRound(db, federationId) };
}

const shared = perDatabase<string, { at: number; read: Promise<Snapshot> }>();

/** The shared read begun at or after `notOlderThan` (performance.now()), else a new one that the next callers share. */
export function sharedSnapshot(db: Db, federationId: string, notOlderThan: number): Promise<Snapshot> {
  const byFederation = shared(db);
  const cached = byFederation.get(federationId);
  if (cached && cached.at >= notOlderThan) return cached.read;
  const read = readSnapshot(db, federationId);
  byFederation.set(federationId, { at: performance.now(), read });
  read.catch(() => byFederation.delete(federationId));
  return read;
}

/**
 * The shared read taken after this process's last change to the federation and at most
 * RECHECK_MS ago (another process's change shows within that), else a new one.
 */
export function currentSnapshot(c: Context<AppEnv>, federationId: string): Promise<Snapshot> {
  return sharedSnapshot(c.var.db, federationId, Math.max(c.var.orchestrator.changedAt(federationId), performance.now() - RECHECK_MS));
}
