/**
 * @module Round orchestration: a state machine whose every state lives in the database.
 *
 * Plaintext: open(fit) -> [all selected members submitted, or the fit deadline passed]
 *   -> enough updates: the strategy commits model v+1 and the round moves to evaluate
 *   -> too few: the round fails with the reason recorded
 * Secure (the federation's default): open(advertise_keys) -> share_keys -> masked_input ->
 *   consistency -> unmask, each closed when every eligible member answered or its deadline
 *   passed (rounds/secure.ts); unmask completes -> model v+1 is committed -> evaluate.
 * evaluate -> [all participants reported, or the deadline passed] -> committed.
 * Transitions are compare-and-set on (status, stage), so a restarted or second aggregator can
 * never advance a round twice; the aggregation itself is recomputed from stored contributions.
 */
import { and, asc, desc, eq, sql } from 'drizzle-orm';
import { TesseraError } from '../../core/errors.ts';
import type { FederationConfig } from '../../core/federation.ts';
import { secureOf } from '../../core/federation.ts';
import type { Stage } from '../../core/rounds.ts';
import { isSecAggStage, pastDeadline } from '../../core/rounds.ts';
import type { SecAggStage } from '../../core/secagg-wire.ts';
import { contributions, federations, members, modelVersions, roundMembers, rounds } from '../../schema/index.ts';
import { appendAudit } from '../audit.ts';
import type { Db } from '../db/database.ts';
import { commitAggregate } from './commit.ts';
import type { IncomingMessage, SecAggAck, SecureRounds } from './secure.ts';
import { createSecureRounds, secureDeadline, secureRoundConfig } from './secure.ts';
import { summarizeEvaluations } from '../../core/evaluation.ts';

export type RoundRow = typeof rounds.$inferSelect;

/** At most this many member messages, or this many bytes of them, are stored in one transaction. */
const MAX_BATCH_MESSAGES = 64;
const MAX_BATCH_BYTES = 16 * 1024 * 1024;

/** The secure rounds as routes use them: `accept` takes one message (batched with those arriving at the same time). */
export type SecureRoundsApi = SecureRounds & {
  accept(round: RoundRow, config: FederationConfig, memberId: string, stage: SecAggStage, body: Uint8Array): Promise<SecAggAck>;
};

export interface Orchestrator {
  /** Opens the next round of a federation with every active member selected. */
  openRound(federationId: string, actor: string): Promise<RoundRow>;
  /** Moves the federation's open round on if its stage is complete or past its deadline. */
  advance(federationId: string): Promise<void>;
  /** advance() for every federation with an open round (the server calls this on a timer). */
  tick(): Promise<void>;
  /** Secure rounds: messages, refusals and the member's view (serialized with advance() per federation). */
  secure: SecureRoundsApi;
  /**
   * Resolves when this process opened a round of the federation or moved its open round to
   * another stage or status (with the performance.now() of that change), or with null after `ms`
   * or when `signal` aborts. Members' long polls wait on it; changes made by other processes are
   * seen only by reading the database.
   */
  changed(federationId: string, ms: number, signal?: AbortSignal): Promise<number | null>;
  /** The performance.now() of this process's last change to the federation's rounds (0: none yet). */
  changedAt(federationId: string): number;
}

export interface OrchestratorOptions {
  db: Db;
  now: () => number;
  log?: (line: string) => void;
  /** Called after a model version is committed (outside the transaction): publishing to stores. */
  onCommitted?: (federationId: string, version: number) => void;
}

/** Whether any member of the round is at `status` (one index probe, not a count of the round's slots). */
export async function anyAtStatus(db: Pick<Db, 'select'>, roundId: number, status: string): Promise<boolean> {
  const rows = await db.select({ one: sql<number>`1` }).from(roundMembers).where(and(eq(roundMembers.roundId, roundId), eq(roundMembers.status, status))).limit(1);
  return rows.length > 0;
}

export async function loadConfig(db: Db, federationId: string): Promise<FederationConfig> {
  const [f] = await db.select().from(federations).where(eq(federations.id, federationId));
  if (!f) throw new TesseraError('NOT_FOUND', `no federation ${federationId}`, { field: 'federationId' });
  return f.config as FederationConfig;
}

export function createOrchestrator({ db, now, log = () => {}, onCommitted }: OrchestratorOptions): Orchestrator {
  // One advance at a time per federation in this process; the CAS guards against other processes.
  const chains = new Map<string, Promise<void>>();
  // An advance queued but not started yet reads the database after every write made before it
  // starts, so callers arriving meanwhile share it (with many members one advance per message
  // would queue O(members) full reads of the round).
  const queuedAdvance = new Map<string, Promise<void>>();
  const watchers = new Map<string, Set<(at: number) => void>>();
  const lastChange = new Map<string, number>();
  const notify = (federationId: string): void => {
    const at = performance.now();
    lastChange.set(federationId, at);
    for (const wake of watchers.get(federationId) ?? []) wake(at);
  };
  const serialize = (federationId: string, work: () => Promise<void>): Promise<void> => {
    const prev = chains.get(federationId) ?? Promise.resolve();
    const next = prev.then(work, work);
    chains.set(federationId, next.catch(() => {}));
    return next;
  };

  async function moveStage(round: RoundRow, from: Stage, set: Partial<RoundRow>, tx: Db): Promise<boolean> {
    const moved = await tx
      .update(rounds)
      .set(set)
      .where(and(eq(rounds.id, round.id), eq(rounds.status, 'open'), eq(rounds.stage, from)))
      .returning({ id: rounds.id });
    return moved.length === 1;
  }

  async function dropLate(tx: Db, round: RoundRow, waitingFor: string, reason: string, t: number): Promise<void> {
    const late = await tx
      .update(roundMembers)
      .set({ status: 'dropped', reason, updatedAt: t })
      .where(and(eq(roundMembers.roundId, round.id), eq(roundMembers.status, waitingFor)))
      .returning({ memberId: roundMembers.memberId });
    for (const { memberId } of late) {
      await appendAudit(tx, { kind: 'member.dropped', actor: 'aggregator', federationId: round.federationId, time: t, payload: { round: round.number, memberId, stage: round.stage, reason } });
    }
  }

  async function advanceFit(round: RoundRow, config: FederationConfig): Promise<void> {
    // Counted in the database: with ten thousand members, reading every slot per update adds up.
    const counts = await db.select({ status: roundMembers.status, n: sql<number>`count(*)::int` }).from(roundMembers).where(eq(roundMembers.roundId, round.id)).groupBy(roundMembers.status);
    const count = (status: string) => Number(counts.find((x) => x.status === status)?.n ?? 0);
    const submitted = count('submitted');
    const waiting = count('selected');
    const t = now();
    const late = pastDeadline(round, t);
    // Declined members are not waited for; when too few are left to reach minMembers the round fails now.
    const declined = count('declined');
    if (waiting > 0 && !late && submitted + waiting >= config.minMembers) return;
    if (submitted < config.minMembers) {
      await db.transaction(async (tx) => {
        const reason = `${submitted} of ${config.minMembers} required members submitted an update before the fit deadline${declined ? ` (${declined} declined under their own policy)` : ''}`;
        if (!(await moveStage(round, 'fit', { status: 'failed', stage: null, stageDeadline: null, failureReason: reason, closedAt: t }, tx))) return;
        await dropLate(tx, round, 'selected', 'missed the fit deadline', t);
        await appendAudit(tx, { kind: 'round.failed', actor: 'aggregator', federationId: round.federationId, time: t, payload: { round: round.number, stage: 'fit', reason } });
      });
      log(`round ${round.number}: failed: fewer than ${config.minMembers} updates`);
      return;
    }
    const committed = await commitAggregate(db, round, config, t, async (tx) => {
      if (!(await moveStage(round, 'fit', { stage: 'evaluate', stageDeadline: t + config.deadlines.evaluate * 1000, committedVersion: round.baseVersion + 1 }, tx))) return false;
      await dropLate(tx, round, 'selected', 'missed the fit deadline', t);
      await appendAudit(tx, { kind: 'round.stage', actor: 'aggregator', federationId: round.federationId, time: t, payload: { round: round.number, from: 'fit', to: 'evaluate' } });
      return true;
    });
    if (committed) {
      log(`round ${round.number}: committed model version ${round.baseVersion + 1} from ${submitted} updates`);
      onCommitted?.(round.federationId, round.baseVersion + 1);
    }
  }

  async function advanceEvaluate(round: RoundRow): Promise<void> {
    const waiting = await anyAtStatus(db, round.id, 'submitted');
    const t = now();
    if (waiting && !pastDeadline(round, t)) return;
    const rows = await db.select().from(roundMembers).where(eq(roundMembers.roundId, round.id));
    const metrics = summarizeEvaluations(rows.filter((r) => r.status === 'evaluated').map((r) => ({ memberId: r.memberId, ...(r.evaluation as { examples: number; correct: number; lossSum: number; auc?: number | null }) })));
    // A secure round's aggregation figures (clipping, survivors, error bound) stay beside the evaluation.
    const secure = (round.metrics as { secure?: unknown } | null)?.secure;
    if (secure !== undefined) Object.assign(metrics, { secure });
    const config = await loadConfig(db, round.federationId);
    await db.transaction(async (tx) => {
      if (!(await moveStage(round, 'evaluate', { status: 'committed', stage: null, stageDeadline: null, metrics, closedAt: t }, tx))) return;
      // Members that trained but did not evaluate stay counted as contributors; only their report is missing.
      await tx.update(roundMembers).set({ reason: 'no evaluation before the deadline', updatedAt: t }).where(and(eq(roundMembers.roundId, round.id), eq(roundMembers.status, 'submitted')));
      await appendAudit(tx, { kind: 'round.completed', actor: 'aggregator', federationId: round.federationId, time: t, payload: { round: round.number, metrics } });
      if (round.number >= config.rounds) await tx.update(federations).set({ status: 'completed' }).where(eq(federations.id, round.federationId));
    });
  }

  async function advanceNow(federationId: string): Promise<void> {
    const [round] = await db.select().from(rounds).where(and(eq(rounds.federationId, federationId), eq(rounds.status, 'open')));
    if (!round) return;
    try {
      if (round.stage === 'fit') await advanceFit(round, await loadConfig(db, federationId));
      else if (round.stage === 'evaluate') await advanceEvaluate(round);
      else if (isSecAggStage(round.stage)) await secure.advance(round, await loadConfig(db, federationId));
    } finally {
      const [after] = await db.select({ status: rounds.status, stage: rounds.stage }).from(rounds).where(eq(rounds.id, round.id));
      if (after?.status !== round.status || after?.stage !== round.stage) notify(federationId);
    }
  }

  const secureRounds = createSecureRounds({ db, now, log, onCommitted });
  // Messages that arrive while a batch waits for its turn join it (per round), up to a size.
  type Batch = { items: IncomingMessage[]; bytes: number; waiters: { resolve: (a: SecAggAck) => void; reject: (e: unknown) => void }[] };
  const batches = new Map<number, Batch>();
  function acceptBatched(round: RoundRow, config: FederationConfig, item: IncomingMessage): Promise<SecAggAck> {
    return new Promise((resolve, reject) => {
      let batch = batches.get(round.id);
      if (!batch) {
        const fresh: Batch = { items: [], bytes: 0, waiters: [] };
        batch = fresh;
        batches.set(round.id, fresh);
        serialize(round.federationId, async () => {
          if (batches.get(round.id) === fresh) batches.delete(round.id);
          const settled = await secureRounds.acceptMany(round, config, fresh.items);
          settled.forEach((s, i) => ('value' in s ? fresh.waiters[i].resolve(s.value) : fresh.waiters[i].reject(s.error)));
        }).catch((e) => fresh.waiters.forEach((w) => w.reject(e)));
      }
      batch.items.push(item);
      batch.bytes += item.body.length;
      batch.waiters.push({ resolve, reject });
      if (batch.items.length >= MAX_BATCH_MESSAGES || batch.bytes >= MAX_BATCH_BYTES) batches.delete(round.id);
    });
  }
  // Message acceptance runs in the same per-federation chain as advance(), so this process never
  // mutates a round's in-memory server from two requests at once; a message already stored is
  // answered without waiting its turn.
  const secure: SecureRoundsApi = {
    ...secureRounds,
    advance: (round, config) => secureRounds.advance(round, config),
    accept: async (round, config, memberId, stage, body) =>
      (await secureRounds.known(round, memberId, stage, body)) ?? acceptBatched(round, config, { memberId, stage, body }),
    refusal: (round, memberId, stage, reason) => serializeValue(round.federationId, () => secureRounds.refusal(round, memberId, stage, reason)),
    // A view waits its turn only when the server must be rebuilt first.
    view: (round, config, memberId) => secureRounds.viewIfCurrent(round, memberId) ?? serializeValue(round.federationId, () => secureRounds.view(round, config, memberId)),
  };
  function serializeValue<T>(federationId: string, work: () => Promise<T>): Promise<T> {
    let out: T;
    return serialize(federationId, async () => {
      out = await work();
    }).then(() => out);
  }

  return {
    async openRound(federationId, actor) {
      const config = await loadConfig(db, federationId);
      const t = now();
      return db.transaction(async (tx) => {
        const [last] = await tx.select().from(rounds).where(eq(rounds.federationId, federationId)).orderBy(desc(rounds.number)).limit(1);
        if (last?.status === 'open') throw new TesseraError('ROUND_STATE', `round ${last.number} is still open (stage ${last.stage})`);
        const number = (last?.number ?? 0) + 1;
        if (number > config.rounds) throw new TesseraError('ROUND_STATE', `the federation has run all ${config.rounds} configured rounds`);
        const active = await tx.select({ id: members.id }).from(members).where(and(eq(members.federationId, federationId), eq(members.status, 'active'))).orderBy(asc(members.id));
        if (active.length < config.minMembers) {
          throw new TesseraError('ROUND_STATE', `a round needs at least ${config.minMembers} enrolled members; ${active.length} enrolled`, { field: 'minMembers' });
        }
        const [base] = await tx.select({ version: modelVersions.version }).from(modelVersions).where(eq(modelVersions.federationId, federationId)).orderBy(desc(modelVersions.version)).limit(1);
        const isSecure = secureOf(config).enabled;
        const stage = isSecure ? 'advertise_keys' : 'fit';
        const deadline = t + (isSecure ? secureDeadline(config, 'advertise_keys') : config.deadlines.fit * 1000);
        const [round] = await tx
          .insert(rounds)
          .values({ federationId, number, status: 'open', stage, stageDeadline: deadline, baseVersion: base.version, openedAt: t })
          .returning();
        await tx.insert(roundMembers).values(active.map((m) => ({ roundId: round.id, memberId: m.id, status: 'selected', updatedAt: t })));
        // The secure configuration is checked here (cohort size, k/t, headroom): a bad one refuses to open the round.
        const rc = isSecure ? await secureRoundConfig(tx as unknown as Db, federationId, round.id, number, config) : null;
        const secure = rc && { neighbours: rc.neighbours, threshold: rc.threshold, clip: rc.quantization.clip, bits: rc.quantization.bits, maxWeight: rc.maxWeight, graphSeed: rc.graphSeed };
        await appendAudit(tx, { kind: 'round.opened', actor, federationId, time: t, payload: { round: number, baseVersion: base.version, members: active.map((m) => m.id), stage, ...(secure ? { secure } : {}) } });
        return round;
      }).finally(() => notify(federationId));
    },
    advance(federationId) {
      const queued = queuedAdvance.get(federationId);
      if (queued) return queued;
      const next = serialize(federationId, () => {
        queuedAdvance.delete(federationId);
        return advanceNow(federationId);
      });
      queuedAdvance.set(federationId, next);
      return next;
    },
    secure,
    changedAt(federationId) {
      return lastChange.get(federationId) ?? 0;
    },
    changed(federationId, ms, signal) {
      return new Promise((resolve) => {
        const set = watchers.get(federationId) ?? new Set();
        watchers.set(federationId, set);
        const done = (at: number | null) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', aborted);
          set.delete(done);
          if (set.size === 0 && watchers.get(federationId) === set) watchers.delete(federationId);
          resolve(at);
        };
        const aborted = () => done(null);
        const timer = setTimeout(() => done(null), Math.max(0, ms));
        if (signal?.aborted) return done(null);
        signal?.addEventListener('abort', aborted);
        set.add(done);
      });
    },
    async tick() {
      const open = await db.select({ federationId: rounds.federationId }).from(rounds).where(eq(rounds.status, 'open'));
      for (const { federationId } of open) await serialize(federationId, () => advanceNow(federationId));
    },
  };
}

/** Member ids of a round's contributions at a stage, in a fixed order (so sums are reproducible). */
export async function contributionIds(db: Db, roundId: number, stage: Stage): Promise<{ id: number; memberId: string; weight: number }[]> {
  return db
    .select({ id: contributions.id, memberId: contributions.memberId, weight: contributions.weight })
    .from(contributions)
    .where(and(eq(contributions.roundId, roundId), eq(contributions.stage, stage)))
    .orderBy(asc(contributions.memberId));
}

