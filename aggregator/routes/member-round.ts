/**
 * @module The member's view of the current round (GET /:fid/members/:mid/round), cheap to poll
 * by many members: every answer carries an ETag naming what the member acts on (round, stage,
 * status, its own status; not progress, nor its own answers); a request with
 * `If-None-Match` of the current tag and `?wait=<ms>` is held until that changes or the wait
 * ends (304). While held it costs one shared read of the federation and its round per recheck, not a
 * read of every member's slot, so a thousand waiting members cost the aggregator little, and the
 * polls it wakes answer from that read (each reads only its own slot). When a
 * stage changes and every member asks at once, each answer costs a handful of single-row reads:
 * status counts are one query shared by concurrent views, a secure round's progress comes from
 * the protocol state, and the round configuration (O(members) bytes) is left out for members that
 * name the one they hold (`?have=<configHash>`).
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Context } from 'hono';
import { contentHash } from '../../core/hash.ts';
import type { MemberRoundStatus, RoundAnnouncement, RoundAnnouncementWire, Stage } from '../../core/rounds.ts';
import { isSecAggStage } from '../../core/rounds.ts';
import { modelVersions, roundMembers } from '../../schema/index.ts';
import { assertMemberSelf } from '../auth.ts';
import type { AppEnv } from '../context.ts';
import type { Db } from '../db/database.ts';
import { perDatabase } from '../db/database.ts';
import { artifactRef } from '../replication/artifacts.ts';
import type { Federation, RoundRow, Snapshot } from './round-snapshot.ts';
import { RECHECK_MS, currentSnapshot, readSnapshot, sharedSnapshot } from './round-snapshot.ts';

/** Longest a member's poll is held, ms (a larger `wait` is cut to this). */
export const MAX_WAIT_MS = 30_000;

/** What of the round a held poll watches: the latest round's identity, status and stage. */
const roundKey = (r: RoundRow | undefined): string => (r ? `${r.id}/${r.status}/${r.stage}/${r.stageDeadline}/${r.committedVersion}` : 'none');

/**
 * The member's state in the round: what would make its runtime act. Progress is not part of it,
 * nor whether it answered the open secure stage: only its own message changes that, and having
 * sent it the member waits for the next stage.
 */
async function memberTag(db: Db, f: Federation, memberId: string, round: RoundRow | undefined): Promise<{ tag: string; slot: typeof roundMembers.$inferSelect | undefined }> {
  const [slot] = round ? await db.select().from(roundMembers).where(and(eq(roundMembers.roundId, round.id), eq(roundMembers.memberId, memberId))) : [];
  const state = [f.status, JSON.stringify(f.config.privacy ?? null), roundKey(round), round?.failureReason, slot?.status, slot?.reason !== null && slot?.reason !== undefined].join('/');
  return { tag: `"${contentHash(new TextEncoder().encode(state)).slice(0, 32)}"`, slot };
}

// Model versions never change once committed: their hashes are read once per process (one read
// shared by the views that ask at once: a thousand members ask for a new version together).
const modelHashes = perDatabase<string, Promise<string | undefined>>();
function modelHash(db: Db, federationId: string, version: number): Promise<string | undefined> {
  const known = modelHashes(db);
  const key = `${federationId}/${version}`;
  let read = known.get(key);
  if (!read) {
    read = db.select({ hash: modelVersions.hash }).from(modelVersions).where(and(eq(modelVersions.federationId, federationId), eq(modelVersions.version, version))).then(([m]) => m?.hash);
    known.set(key, read);
    // Not committed yet (or the read failed): asked again next time.
    const forget = () => known.get(key) === read && known.delete(key);
    void read.then((h) => h === undefined && forget(), forget);
  }
  return read;
}

// The round's status counts, one query shared by the views that ask while it runs (when a stage
// changes every member asks at once, and each counting all the round's slots made that wave
// O(members²)). A shared answer is at most one query old; nothing a member acts on comes from it.
const countsInFlight = perDatabase<number, Promise<Map<string, number>>>();
function statusCounts(db: Db, roundId: number): Promise<Map<string, number>> {
  const byRound = countsInFlight(db);
  const running = byRound.get(roundId);
  if (running) return running;
  const counts = db
    .select({ status: roundMembers.status, n: sql<number>`count(*)::int` }).from(roundMembers).where(eq(roundMembers.roundId, roundId)).groupBy(roundMembers.status)
    .then((rows) => new Map(rows.map((r) => [r.status, Number(r.n)])))
    .finally(() => byRound.delete(roundId));
  byRound.set(roundId, counts);
  return counts;
}

/** The full announcement (done once per change the member sees). */
async function announcement(c: Context<AppEnv>, f: Federation, memberId: string, round: RoundRow, mine: typeof roundMembers.$inferSelect | undefined): Promise<RoundAnnouncementWire> {
  const db = c.var.db;
  // Secure stages: the protocol state says who is in the stage; other stages count slots.
  const secure = round.status === 'open' && isSecAggStage(round.stage) && mine ? await c.var.orchestrator.secure.view(round, f.config, memberId) : null;
  const counts = secure ? null : await statusCounts(db, round.id);
  const count = (status: string) => counts?.get(status) ?? 0;
  const waitingStatus: MemberRoundStatus = round.stage === 'evaluate' ? 'submitted' : 'selected';
  const inStage = secure ? secure.cohort : [...(counts?.values() ?? [])].reduce((n, x) => n + x, 0) - count('dropped') - count('declined');
  const out: RoundAnnouncement = {
    federationId: f.id,
    round: round.number,
    status: round.status as RoundAnnouncement['status'],
    stage: round.stage as Stage | null,
    modelVersion: round.baseVersion,
    modelHash: (await modelHash(db, f.id, round.baseVersion))!,
    deadline: round.stageDeadline,
    memberStatus: (mine?.status as MemberRoundStatus | undefined) ?? null,
    progress: { done: inStage - count(waitingStatus), of: inStage },
    cohort: inStage,
    privacy: f.config.privacy ?? null,
    failureReason: round.failureReason,
  };
  const artifact = await artifactRef(db, f.id, f.config, round.baseVersion);
  if (artifact) out.modelArtifact = artifact;
  // Secure rounds: the public round configuration and this member's request for the open stage.
  if (secure) {
    out.secagg = secure.secagg;
    out.progress = secure.progress;
  }
  // The member already holds this round's configuration: spare it the O(members) bytes.
  if (out.secagg && c.req.query('have') === out.secagg.configHash) {
    const { config: _held, ...rest } = out.secagg;
    return { ...out, secagg: rest };
  }
  if (round.committedVersion !== null) {
    const next = await modelHash(db, f.id, round.committedVersion);
    const nextArtifact = await artifactRef(db, f.id, f.config, round.committedVersion);
    if (next) out.evaluateModel = { version: round.committedVersion, hash: next, ...(nextArtifact ? { artifact: nextArtifact } : {}) };
  }
  return out;
}

/** Parses `?wait=<ms>`: absent or 0 answers at once; at most MAX_WAIT_MS. */
function waitOf(c: Context<AppEnv>): number {
  const raw = c.req.query('wait');
  if (raw === undefined || !/^\d{1,9}$/.test(raw)) return 0;
  return Math.min(Number(raw), MAX_WAIT_MS);
}

export async function memberRoundView(c: Context<AppEnv>): Promise<Response> {
  const fid = c.req.param('fid')!;
  const memberId = c.req.param('mid')!;
  const db = c.var.db;
  const seen = c.req.header('if-none-match');
  const wait = waitOf(c);
  // A poll that may be held compares its tag with the shared read the held polls use, when that
  // read is newer than this process's last change to the federation (and at most RECHECK_MS old,
  // as while held); any other request reads for itself.
  let { f, round } = seen && wait > 0 ? await currentSnapshot(c, fid) : await readSnapshot(db, fid);
  assertMemberSelf(c.var.principal!, f.id, memberId);
  let { tag, slot } = await memberTag(db, f, memberId, round);
  if (seen === tag && wait > 0) {
    // Held until the round moves (this process says so at once; another process's change is
    // read within RECHECK_MS), the wait ends, or the member goes away.
    const end = performance.now() + wait;
    const watched = roundKey(round);
    const signal = c.req.raw.signal;
    let last: Snapshot | null = null;
    while (!signal.aborted) {
      const left = end - performance.now();
      if (left <= 0) break;
      const notifiedAt = await c.var.orchestrator.changed(f.id, Math.min(left, RECHECK_MS), signal);
      last = await sharedSnapshot(db, f.id, notifiedAt ?? performance.now() - RECHECK_MS);
      if (roundKey(last.round) !== watched) break;
    }
    // The answer comes from the shared read that ended the wait (read after the change, or at most
    // RECHECK_MS before the wait ended); only the member's own slot is read for it alone.
    ({ f, round } = last ?? (await readSnapshot(db, fid)));
    ({ tag, slot } = await memberTag(db, f, memberId, round));
  }
  c.header('etag', tag);
  if (seen === tag) return c.body(null, 304);
  const federation = { id: f.id, status: f.status, rounds: f.config.rounds };
  if (!round) return c.json({ federation, round: null });
  return c.json({ federation, round: await announcement(c, f, memberId, round, slot) });
}
