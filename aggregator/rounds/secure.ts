/**
 * @module Secure rounds: the persisted side of secure aggregation. The protocol itself is the pure
 * SecAggServer (crypto/); this file feeds it the members' messages, persists every accepted
 * message (in `contributions`, stage-named, before it is acknowledged), closes stages by
 * compare-and-set under the round's row lock, and rebuilds the server after a restart by replaying
 * the stored messages one at a time (the masked vectors are summed as they are read, never all
 * held at once). When unmask completes, weightedSum / totalWeight is the mean delta, committed
 * by the same commitModel as the plaintext path.
 *
 * The round's public configuration is derived, never stored: the cohort is the round's selected
 * members (fixed when it opened) with their enrolled identity keys, and the parameters come from
 * the federation's `secure` settings, so every process derives the same config and graph.
 */
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { TesseraError } from '../../core/errors.ts';
import type { FederationConfig } from '../../core/federation.ts';
import { secureOf } from '../../core/federation.ts';
import { contentHash } from '../../core/hash.ts';
import { modelLayout } from '../../core/model.ts';
import type { SecAggAnnouncement } from '../../core/rounds.ts';
import { pastDeadline } from '../../core/rounds.ts';
import { decodeSecAggMessage } from '../../core/secagg-body.ts';
import type { SecAggMessage, SecAggRoundConfig, SecAggStage } from '../../core/secagg-wire.ts';
import { SECAGG_STAGES } from '../../core/secagg-wire.ts';
import { parameterCount } from '../../core/tensors.ts';
import { createRoundConfig } from '../../crypto/secagg-config.ts';
import { planDistributedNoise, roundSpend } from '../../crypto/ddp-round.ts';
import type { SecAggResult } from '../../crypto/secagg-server.ts';
import { SecAggServer } from '../../crypto/secagg-server.ts';
import { LEFT_ROUND, contributions, members, roundMembers, rounds } from '../../schema/index.ts';
import { appendAudit, appendAuditMany } from '../audit.ts';
import type { Db } from '../db/database.ts';
import type { LedgerEntry } from '../ledger/entry.ts';
import { baseModel, commitModel } from './commit.ts';

type RoundRow = typeof rounds.$inferSelect;

const stageIndex = (stage: string | null): number => SECAGG_STAGES.indexOf(stage as SecAggStage);
const MASKED = SECAGG_STAGES.indexOf('masked_input');

/** Seconds the open stage of a secure round stays open: masked_input includes local training. */
export function secureDeadline(config: FederationConfig, stage: SecAggStage): number {
  return (stage === 'masked_input' ? config.deadlines.fit : (config.deadlines.keys ?? 120)) * 1000;
}

/** The round's public secure-aggregation configuration (throws BAD_REQUEST naming the field when the cohort or settings break a rule). */
export async function secureRoundConfig(db: Db, federationId: string, roundId: number, roundNo: number, config: FederationConfig): Promise<SecAggRoundConfig> {
  const s = secureOf(config);
  const cohort = await db
    .select({ id: roundMembers.memberId, identityKey: members.publicKey })
    .from(roundMembers)
    .innerJoin(members, eq(members.id, roundMembers.memberId))
    .where(eq(roundMembers.roundId, roundId))
    .orderBy(asc(roundMembers.memberId));
  try {
    const params = parameterCount(modelLayout(config.model));
    // Distributed DP: the bits leave headroom for the members' noise (crypto/ddp-round.ts).
    const dp = s.distributedNoise ? planDistributedNoise({ members: cohort.length, params, clip: s.clip, bits: s.bits ?? undefined, settings: s.distributedNoise }) : null;
    const rc = createRoundConfig({
      federationId,
      round: roundNo,
      members: cohort,
      params,
      clip: s.clip,
      bits: dp?.bits ?? s.bits ?? undefined,
      maxWeight: s.maxWeight,
      neighbours: s.neighbours ?? undefined,
      threshold: s.threshold ?? undefined,
      selfShares: s.selfShares ?? undefined,
    });
    return dp ? { ...rc, distributedNoise: dp.noise } : rc;
  } catch (e) {
    if (!(e instanceof TesseraError)) throw e;
    const field = e.field === 'quantization.bits' ? 'secure.bits' : e.field?.startsWith('secagg.') ? e.field.replace('secagg.', 'secure.') : e.field;
    throw new TesseraError(e.code, `secure aggregation for round ${roundNo}: ${e.message} (or run this federation with secure.enabled = false)`, { field, details: e.details });
  }
}

interface Cached {
  server: SecAggServer;
  config: SecAggRoundConfig;
  /** contentHash of the config's JSON, computed once (members echo it to be spared the config). */
  configHash?: string;
  stage: SecAggStage;
  /** Stored secure-aggregation messages the server has seen (compared with the round row's `secaggMessages`). */
  count: number;
  /** Who may answer the open stage before exclusions (the cohort, then each stage's completers), built once per stage. */
  eligible?: { stage: SecAggStage; ids: string[]; set: Set<string> };
  /**
   * The round's members that left it, as last read (members never come back, so this is a subset
   * of the truth: another process may have dropped more since). Lets an accepted message tell
   * whether its stage may close without reading them again.
   */
  left?: LeftRow[];
  /** The read of `left` that views share while it runs. */
  leftRead?: Promise<LeftRow[]>;
}

type LeftRow = { memberId: string; status: string; reason: string | null };

/** One member message handed to acceptMany. */
export interface IncomingMessage {
  memberId: string;
  stage: SecAggStage;
  body: Uint8Array;
}

/** A per-item outcome of a batch. */
export type Settled<T> = { value: T } | { error: unknown };

/** An incoming message as acceptMany works on it. */
interface Work {
  item: IncomingMessage;
  hash: string;
  message?: SecAggMessage;
  error?: unknown;
  duplicate?: boolean;
  entry?: LedgerEntry;
}

/** A member's view of the open secure stage. */
export interface SecureView {
  secagg: SecAggAnnouncement;
  progress: { done: number; of: number };
  cohort: number;
}

/** Where the open stage stands: who may still answer and who did. */
interface StageState {
  /** Eligible members that have not answered (and were not excluded); listed only when asked for. */
  waiting: string[];
  /** Eligible members still in the stage, and how many of them answered. */
  of: number;
  done: number;
  /** Members in the round (not dropped or declined). */
  cohort: number;
}

export interface SecureRoundsOptions {
  db: Db;
  now: () => number;
  log: (line: string) => void;
  onCommitted?: (federationId: string, version: number) => void;
}

export interface SecAggAck {
  round: number;
  memberId: string;
  stage: SecAggStage;
  hash: string;
  size: number;
  duplicate: boolean;
  /** The ledger entry that recorded the message (absent for a duplicate): its receipt is made from it. */
  entry?: LedgerEntry;
  /**
   * The stage may close now (every member still in it answered, or its deadline passed), as seen
   * under the round's lock with this message stored: the caller then advances the round. Not
   * sent to the member. Otherwise no advance is needed (a later message, a drop or the timer's
   * tick closes the stage), which spares the round's rows being read again per message.
   */
  closable: boolean;
}

/** The members that left the round (one probe of the partial index `round_members_left`). */
function readLeft(tx: Db, roundId: number): Promise<LeftRow[]> {
  return tx.select({ memberId: roundMembers.memberId, status: roundMembers.status, reason: roundMembers.reason }).from(roundMembers).where(and(eq(roundMembers.roundId, roundId), LEFT_ROUND));
}

/** Locks the round's row (SELECT ... FOR UPDATE) and returns it. */
async function lockRow(tx: Db, roundId: number): Promise<RoundRow | undefined> {
  return (await tx.select().from(rounds).where(eq(rounds.id, roundId)).for('update'))[0];
}

/** The aggregator's secure rounds: one cached SecAggServer per open round, rebuilt from the database when missing or stale. */
export function createSecureRounds({ db, now, log, onCommitted }: SecureRoundsOptions) {
  const cache = new Map<number, Cached>();

  /** Rebuilds the server by replaying the stored messages stage by stage, reading one body at a time. */
  async function rebuild(tx: Db, round: RoundRow, config: FederationConfig): Promise<Cached> {
    const rc = await secureRoundConfig(tx, round.federationId, round.id, round.number, config);
    const server = new SecAggServer(rc);
    const upTo = stageIndex(round.stage);
    let count = 0;
    for (let i = 0; i <= upTo; i++) {
      const stage = SECAGG_STAGES[i];
      const ids = await tx.select({ id: contributions.id }).from(contributions).where(and(eq(contributions.roundId, round.id), eq(contributions.stage, stage))).orderBy(asc(contributions.id));
      for (const { id } of ids) {
        const [row] = await tx.select({ body: contributions.body }).from(contributions).where(eq(contributions.id, id));
        server.receive(decodeSecAggMessage(row.body, stage));
        count++;
      }
      if (i < upTo) server.close();
    }
    return { server, config: rc, stage: round.stage as SecAggStage, count };
  }

  /**
   * The round's server, in step with the database (rebuilt after a restart or another process's
   * writes). Every stored message raises the round row's `secaggMessages` under the row's lock,
   * so comparing that count costs no query: under the lock (accept, close) the row is current and
   * the comparison exact; a row read without the lock may lag this process's own writes, so a
   * cache ahead of it is kept (a view or an advance at worst sees another process's newest
   * message a moment late; acting on a stage always re-reads under the lock).
   */
  async function serverFor(tx: Db, round: RoundRow, config: FederationConfig): Promise<Cached> {
    const cached = cache.get(round.id);
    if (cached && cached.stage === round.stage && cached.count >= round.secaggMessages) return cached;
    const fresh = await rebuild(tx, round, config);
    cache.set(round.id, fresh);
    return fresh;
  }

  /**
   * The open stage's state. Reads only the members that left the round (usually none), never
   * every slot: with a thousand members a full read per message and per view made a round
   * O(members²).
   */
  async function stageState(tx: Db, round: RoundRow, cached: Cached, opts: { waiting: boolean }): Promise<StageState> {
    const left = await readLeft(tx, round.id);
    cached.left = left;
    return tally(round, cached, left, opts);
  }

  /** The stage state given who left (stageState reads them; an accepted message uses the last read). */
  function tally(round: RoundRow, cached: Cached, left: LeftRow[], opts: { waiting: boolean }): StageState {
    const { server, config: rc } = cached;
    const stage = round.stage as SecAggStage;
    const i = stageIndex(stage);
    if (cached.eligible?.stage !== stage) {
      const ids = i === 0 ? rc.members.map((m) => m.id) : server.members(SECAGG_STAGES[i - 1]);
      cached.eligible = { stage, ids, set: new Set(ids) };
    }
    const eligible = cached.eligible;
    const gone = left.filter((s) => s.status === 'dropped' || s.status === 'declined').length;
    // Out of this stage: dropped or declined, or (after masked_input, where status stays
    // `submitted` because the input counts) marked with the reason it left the protocol.
    const out = new Set(left.filter((s) => s.status === 'dropped' || s.status === 'declined' || (i > MASKED && s.reason !== null)).map((s) => s.memberId));
    let of = eligible.ids.length;
    let done = server.sentCount(stage);
    for (const id of out) {
      if (!eligible.set.has(id)) continue;
      of--;
      if (server.sent(stage, id)) done--;
    }
    const waiting = opts.waiting ? eligible.ids.filter((id) => !out.has(id) && !server.sent(stage, id)) : [];
    return { waiting, of, done, cohort: rc.members.length - gone };
  }

  /**
   * Who left, for views: one query shared by the views that ask while it runs (when a stage opens
   * every member asks at once). A shared answer is at most one query old; what a member acts on
   * (its request, whether it answered) comes from the server, not from it.
   */
  function leftForViews(round: RoundRow, cached: Cached): Promise<LeftRow[]> {
    if (cached.leftRead) return cached.leftRead;
    const read = readLeft(db, round.id)
      .then((left) => (cached.left = left))
      .finally(() => (cached.leftRead = undefined));
    cached.leftRead = read;
    return read;
  }

  async function viewFrom(round: RoundRow, at: RoundRow, cached: Cached, memberId: string): Promise<SecureView> {
    const { server, config: rc } = cached;
    const { done, of, cohort } = tally(at, cached, await leftForViews(at, cached), { waiting: false });
    const answered = server.stage === at.stage && server.sent(at.stage as SecAggStage, memberId);
    const request = answered || server.stage !== round.stage ? null : server.requestFor(memberId);
    cached.configHash ??= contentHash(new TextEncoder().encode(JSON.stringify(rc)));
    return { secagg: { config: rc, configHash: cached.configHash, request, answered }, progress: { done, of }, cohort };
  }

  /** Marks a member out of the open stage (dropped before its input counts; reason only after). */
  async function dropFrom(tx: Db, round: RoundRow, stage: SecAggStage, memberId: string, reason: string, t: number): Promise<void> {
    if (stageIndex(stage) <= MASKED) {
      await tx.update(roundMembers).set({ status: 'dropped', reason, updatedAt: t }).where(and(eq(roundMembers.roundId, round.id), eq(roundMembers.memberId, memberId), eq(roundMembers.status, 'selected')));
    } else {
      await tx.update(roundMembers).set({ reason, updatedAt: t }).where(and(eq(roundMembers.roundId, round.id), eq(roundMembers.memberId, memberId)));
    }
    await appendAudit(tx, { kind: 'member.dropped', actor: 'aggregator', federationId: round.federationId, time: t, payload: { round: round.number, memberId, stage, reason } });
  }

  /** Locks the round row and returns it, or null when it is no longer open at `stage`. */
  async function lockRound(tx: Db, roundId: number, stage: SecAggStage): Promise<RoundRow | null> {
    const locked = await lockRow(tx, roundId);
    return locked && locked.status === 'open' && locked.stage === stage ? locked : null;
  }

  function summaryOf(rc: SecAggRoundConfig, r: Extract<SecAggResult, { status: 'completed' }>) {
    const coordinates = r.survivors.length * rc.params;
    const fraction = coordinates === 0 ? 0 : r.clipped / coordinates;
    return {
      protocol: rc.protocol,
      members: rc.members.length,
      neighbours: rc.neighbours,
      threshold: rc.threshold,
      clip: rc.quantization.clip,
      bits: rc.quantization.bits,
      maxWeight: rc.maxWeight,
      survivors: r.survivors.length,
      dropped: r.dropped,
      totalWeight: r.totalWeight,
      clipped: r.clipped,
      clippedFraction: fraction,
      clippedReport: `${(fraction * 100).toFixed(fraction > 0 && fraction < 0.0001 ? 4 : 2)}% of coordinates clipped (${r.clipped} of ${coordinates})`,
      /** Per-coordinate bound on the error of the mean delta (quantization). */
      meanErrorBound: r.totalWeight > 0 ? r.errorBound / r.totalWeight : null,
      // Member-level DP of this sum: stated for minSurvivors, and as it is over the actual survivors.
      ...(rc.distributedNoise ? { distributedNoise: { ...rc.distributedNoise, survivorEpsilon: roundSpend(rc, r.survivors.length, rc.distributedNoise.delta).epsilon } } : {}),
    };
  }

  /** Closes the open stage (everyone in, or the deadline passed); the transition is one transaction under the round's lock. */
  async function closeStage(round: RoundRow, config: FederationConfig, t: number): Promise<void> {
    const stage = round.stage as SecAggStage;
    let committed = false;
    try {
      await db.transaction(async (txRaw) => {
        const tx = txRaw as unknown as Db;
        const locked = await lockRound(tx, round.id, stage);
        if (!locked) return;
        const cached = await serverFor(tx, locked, config);
        const { server, config: rc } = cached;
        const { waiting } = await stageState(tx, locked, cached, { waiting: true });
        // At unmask the mask expansions run on the worker pool (crypto/unmask-pool.ts); the round's lock is held meanwhile.
        let outcome = await server.closeAsync();
        let reason: string | null = outcome === 'failed' ? (server.result() as { reason: string }).reason : null;
        if (stage === 'masked_input' && outcome !== 'failed' && server.members('masked_input').length < config.minMembers) {
          outcome = 'failed';
          reason = `${server.members('masked_input').length} of ${config.minMembers} required members sent a masked input before the deadline`;
        }
        const result = outcome === 'done' ? (server.result() as Extract<SecAggResult, { status: 'completed' }>) : null;
        if (result && result.totalWeight === 0) {
          outcome = 'failed';
          reason = 'the survivors\' total weight is 0 (no training examples)';
        }
        for (const id of waiting) await dropFrom(tx, locked, stage, id, `missed the ${stage} deadline`, t);
        const where = and(eq(rounds.id, locked.id), eq(rounds.status, 'open'), eq(rounds.stage, stage));
        if (outcome === 'failed') {
          const secure = result ? summaryOf(rc, result) : null;
          await tx.update(rounds).set({ status: 'failed', stage: null, stageDeadline: null, failureReason: reason, closedAt: t, ...(secure ? { metrics: { secure } } : {}) }).where(where);
          await appendAudit(tx, { kind: 'round.failed', actor: 'aggregator', federationId: locked.federationId, time: t, payload: { round: locked.number, stage, reason } });
          log(`round ${locked.number}: failed at ${stage}: ${reason}`);
          return;
        }
        if (outcome === 'done') {
          const secure = summaryOf(rc, result!);
          const mean = new Float32Array(rc.params);
          for (let i = 0; i < mean.length; i++) mean[i] = result!.weightedSum[i] / result!.totalWeight;
          await tx.update(rounds).set({ stage: 'evaluate', stageDeadline: t + config.deadlines.evaluate * 1000, committedVersion: locked.baseVersion + 1, metrics: { secure } }).where(where);
          await appendAudit(tx, { kind: 'round.stage', actor: 'aggregator', federationId: locked.federationId, time: t, payload: { round: locked.number, from: stage, to: 'evaluate', completed: server.members(stage).length, secure } });
          await commitModel(tx, locked, config, await baseModel(tx, locked), mean, t, { updates: result!.survivors.length, totalWeight: result!.totalWeight, secure });
          committed = true;
          log(`round ${locked.number}: committed model version ${locked.baseVersion + 1} from ${result!.survivors.length} masked inputs (${secure.clippedReport})`);
          return;
        }
        const next = outcome as SecAggStage;
        await tx.update(rounds).set({ stage: next, stageDeadline: t + secureDeadline(config, next) }).where(where);
        await appendAudit(tx, { kind: 'round.stage', actor: 'aggregator', federationId: locked.federationId, time: t, payload: { round: locked.number, from: stage, to: next, completed: server.members(stage).length, missing: waiting } });
        // The same server and config at the next stage: only the eligible set is per stage.
        cache.set(locked.id, { ...cached, stage: next, eligible: undefined });
      });
    } catch (e) {
      cache.delete(round.id);
      throw e;
    }
    // A closed server is no longer needed in memory once the round left its protocol stages.
    const [after] = await db.select({ stage: rounds.stage }).from(rounds).where(eq(rounds.id, round.id));
    if (stageIndex(after?.stage ?? null) < 0) cache.delete(round.id);
    if (committed) onCommitted?.(round.federationId, round.baseVersion + 1);
  }

  async function refusedAudit(round: RoundRow, memberId: string, stage: SecAggStage, e: TesseraError, by: 'aggregator' | 'member', dropReason: string | null): Promise<void> {
    const t = now();
    await db.transaction(async (txRaw) => {
      const tx = txRaw as unknown as Db;
      await appendAudit(tx, { kind: 'contribution.refused', actor: by === 'member' ? `member:${memberId}` : 'aggregator', federationId: round.federationId, time: t, payload: { round: round.number, memberId, stage, by, code: e.code, reason: e.message } });
      if (dropReason && (await lockRound(tx, round.id, stage))) await dropFrom(tx, round, stage, memberId, dropReason, t);
    });
  }

  return {
    /** Moves an open secure round on when its stage is complete or past its deadline. */
    async advance(round: RoundRow, config: FederationConfig): Promise<void> {
      const { done, of } = await stageState(db, round, await serverFor(db, round, config), { waiting: false });
      const t = now();
      if (done < of && !pastDeadline(round, t)) return;
      await closeStage(round, config, t);
    },

    /**
     * The answer to a message already stored for this slot (a retry, even after its stage closed):
     * the same bytes get the same answer, different bytes are refused; null when the slot is
     * empty. Only reads, so it needs no turn in the federation's chain; `accept` then stores.
     */
    async known(round: RoundRow, memberId: string, stage: SecAggStage, body: Uint8Array): Promise<SecAggAck | null> {
      const hash = contentHash(body);
      const [existing] = await db.select({ hash: contributions.hash }).from(contributions).where(and(eq(contributions.roundId, round.id), eq(contributions.memberId, memberId), eq(contributions.stage, stage)));
      if (!existing) return null;
      if (existing.hash === hash) return { round: round.number, memberId, stage, hash, size: body.length, duplicate: true, closable: false };
      const e = new TesseraError('CONFLICT', `member ${memberId} already sent a different ${stage} message in round ${round.number}`, { field: 'body', details: { acceptedHash: existing.hash } });
      await refusedAudit(round, memberId, stage, e, 'aggregator', null);
      throw e;
    },

    /**
     * Accepts member messages for the round (after `known` found their slots empty), as many as
     * arrived together, in one transaction that holds the round's lock: each is checked by the
     * SecAggServer, stored with its hash, audited (the ledger appended last, so its lock is held
     * only to the commit), then acknowledged. One message's refusal does not hold back the others;
     * a concurrent copy of the same bytes gets the same answer; different bytes are refused.
     * Per message it costs what one message alone costs in round trips divided by the batch: with
     * a thousand members sending at once, one per transaction made the round's lock the
     * bottleneck of every stage.
     */
    async acceptMany(round: RoundRow, config: FederationConfig, items: IncomingMessage[]): Promise<Settled<SecAggAck>[]> {
      const t = now();
      const work: Work[] = items.map((item) => ({ item, hash: contentHash(item.body) }));
      for (const w of work) {
        try {
          w.message = decodeSecAggMessage(w.item.body, w.item.stage);
          if (w.message.memberId !== w.item.memberId) throw new TesseraError('FORBIDDEN', `the message is signed as member ${w.message.memberId}; it was sent by ${w.item.memberId}`, { field: 'memberId' });
        } catch (e) {
          w.error = e;
        }
      }
      const todo = work.filter((w) => !w.error);
      let received = false;
      let closable = false;
      if (todo.length > 0) {
        try {
          await db.transaction(async (txRaw) => {
            const tx = txRaw as unknown as Db;
            const locked = await lockRow(tx, round.id);
            const isOpen = (stage: SecAggStage) => locked?.status === 'open' && locked.stage === stage;
            const stale = todo.filter((w) => !isOpen(w.item.stage));
            if (stale.length > 0) {
              // Copies of these bytes stored just before the stage closed (concurrent retries): the same answer.
              const stored = await tx.select({ memberId: contributions.memberId, stage: contributions.stage, hash: contributions.hash }).from(contributions)
                .where(and(eq(contributions.roundId, round.id), inArray(contributions.memberId, stale.map((w) => w.item.memberId))));
              const have = new Set(stored.map((r) => `${r.memberId}/${r.stage}/${r.hash}`));
              for (const w of stale) {
                if (have.has(`${w.item.memberId}/${w.item.stage}/${w.hash}`)) w.duplicate = true;
                else {
                  const where = locked?.status === 'open' ? `is in stage ${locked.stage}` : `is ${locked?.status ?? 'gone'}`;
                  w.error = new TesseraError('STALE_STAGE', `round ${round.number} ${where}; it no longer accepts ${w.item.stage} messages`, { field: 'stage', details: { round: round.number, status: locked?.status, stage: locked?.stage } });
                }
              }
            }
            const live = todo.filter((w) => isOpen(w.item.stage));
            if (!locked || live.length === 0) return;
            const cached = await serverFor(tx, locked, config);
            const slots = await tx.select({ memberId: roundMembers.memberId, status: roundMembers.status, reason: roundMembers.reason }).from(roundMembers)
              .where(and(eq(roundMembers.roundId, round.id), inArray(roundMembers.memberId, live.map((w) => w.item.memberId))));
            const slotOf = new Map(slots.map((s) => [s.memberId, s]));
            const accepted: Work[] = [];
            for (const w of live) {
              try {
                const slot = slotOf.get(w.item.memberId);
                if (!slot || slot.status === 'dropped' || slot.status === 'declined') {
                  throw new TesseraError('STALE_STAGE', `member ${w.item.memberId} is ${slot?.status ?? 'not selected'} in round ${round.number}${slot?.reason ? ` (${slot.reason})` : ''}`, { field: 'memberId' });
                }
                // Same content already accepted (a concurrent retry): the same answer, nothing stored twice.
                if (cached.server.receive(w.message!) === 'duplicate') w.duplicate = true;
                else {
                  received = true;
                  accepted.push(w);
                }
              } catch (e) {
                w.error = e;
              }
            }
            if (accepted.length === 0) return;
            await tx.insert(contributions).values(accepted.map((w) => ({ roundId: round.id, memberId: w.item.memberId, stage: w.item.stage, hash: w.hash, size: w.item.body.length, weight: 0, body: w.item.body, createdAt: t })));
            const inputs = accepted.filter((w) => w.item.stage === 'masked_input').map((w) => w.item.memberId);
            if (inputs.length > 0) await tx.update(roundMembers).set({ status: 'submitted', updatedAt: t }).where(and(eq(roundMembers.roundId, round.id), inArray(roundMembers.memberId, inputs), eq(roundMembers.status, 'selected')));
            await tx.update(rounds).set({ secaggMessages: sql`${rounds.secaggMessages} + ${accepted.length}` }).where(eq(rounds.id, round.id));
            cached.count += accepted.length;
            // From the members known to have left (read by views and advances, never stale the
            // other way): a drop recorded by another process since is seen on the timer's next tick.
            const { done, of } = cached.left ? tally(locked, cached, cached.left, { waiting: false }) : await stageState(tx, locked, cached, { waiting: false });
            closable = done >= of || pastDeadline(locked, t);
            const entries = await appendAuditMany(tx, accepted.map((w) => ({
              kind: 'contribution.accepted' as const, actor: `member:${w.item.memberId}`, federationId: round.federationId, time: t,
              payload: { round: round.number, memberId: w.item.memberId, stage: w.item.stage, hash: w.hash, size: w.item.body.length },
            })));
            accepted.forEach((w, i) => (w.entry = entries[i]));
          });
        } catch (e) {
          // The server may hold messages the database does not: rebuild it next time.
          if (received) cache.delete(round.id);
          for (const w of todo) {
            w.error ??= e;
            w.entry = undefined;
            w.duplicate = false;
          }
        }
      }
      const out: Settled<SecAggAck>[] = [];
      for (const w of work) {
        const { memberId, stage, body } = w.item;
        if (w.error !== undefined) {
          if (w.error instanceof TesseraError) {
            // A bad signature from an authenticated member: it cannot take part; drop it now so the stage need not wait.
            const drop = w.error.code === 'UNAUTHENTICATED' ? `${stage}: bad signature on its message` : null;
            await refusedAudit(round, memberId, stage, w.error, 'aggregator', drop);
          }
          out.push({ error: w.error });
        } else {
          const duplicate = w.duplicate === true;
          out.push({ value: { round: round.number, memberId, stage, hash: w.hash, size: body.length, duplicate, closable: !duplicate && closable, ...(w.entry ? { entry: w.entry } : {}) } });
        }
      }
      return out;
    },

    /** A member reports that its client refused the aggregator's request: recorded, and the member leaves the round's protocol. */
    async refusal(round: RoundRow, memberId: string, stage: SecAggStage, reason: string): Promise<void> {
      await refusedAudit(round, memberId, stage, new TesseraError('FORBIDDEN', reason), 'member', `refused ${stage}: ${reason}`);
    },

    /** The member's view of the open stage: the public config, its request, and progress. */
    async view(round: RoundRow, config: FederationConfig, memberId: string): Promise<SecureView> {
      // The caller read `round` before its turn came: when the stage has moved on since, the
      // server is taken at the current stage (an old one would rebuild the cache backwards).
      let at = round;
      if (cache.get(round.id)?.stage !== round.stage) {
        const [fresh] = await db.select().from(rounds).where(eq(rounds.id, round.id));
        if (fresh && fresh.status === 'open' && stageIndex(fresh.stage) >= 0) at = fresh;
      }
      return viewFrom(round, at, await serverFor(db, at, config), memberId);
    },

    /**
     * The same view when this process's server is current for `round` (no rebuild to do), else
     * null. It only reads the server, so it needs no turn in the federation's chain of messages:
     * when a stage opens, a thousand members' views are answered beside the messages, not between them.
     */
    viewIfCurrent(round: RoundRow, memberId: string): Promise<SecureView> | null {
      const cached = cache.get(round.id);
      if (!cached || cached.stage !== round.stage || cached.count < round.secaggMessages) return null;
      return viewFrom(round, round, cached, memberId);
    },

    /** Forgets a round's cached server (tests, and after the round closes). */
    forget(roundId: number): void {
      cache.delete(roundId);
    },
  };
}

export type SecureRounds = ReturnType<typeof createSecureRounds>;
