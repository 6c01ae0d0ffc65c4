/**
 * @module One simulated federation with faults: the real aggregator app (reached through
 * `app.request()`, rebuilt over the same database when it "crashes"), the real member runtime for
 * N virtual members (signed transport, model source, secure-aggregation client), a virtual clock
 * the aggregator and every member read (each member with its own skew), and the seams where a
 * scenario injects faults: the wire (faults/wire.ts), each member's home store (faults/store.ts),
 * member processes (crash at a stage, restart in the round or the next) and the aggregator
 * process (restart at a stage). When nothing is in flight for `idleMs`, the harness moves the
 * virtual clock to the open stage's deadline, as waiting that long would.
 * With `workers: N` the members run in N worker threads (workers/pool.ts, member i on thread
 * i mod N); their requests and store reads come back to this thread and take the same path, the
 * clock's offset is shared memory (clock.ts), and crashes, restarts, skews and store faults work
 * as in-process: no option is refused.
 */
import { and, desc, eq } from 'drizzle-orm';
import type { ArtifactStore } from '../core/artifact-store.ts';
import { CONTENT_PREFIX } from '../core/artifact-store.ts';
import type { FederationConfig } from '../core/federation.ts';
import { TesseraError } from '../core/errors.ts';
import { fromBase64 } from '../crypto/identity.ts';
import { createApp } from '../aggregator/app.ts';
import { currentLedgerKey } from '../aggregator/audit.ts';
import { issueCredential } from '../aggregator/credentials.ts';
import type { Database, Db } from '../aggregator/db/database.ts';
import type { Replicator } from '../aggregator/replication/replicator.ts';
import { createReplicator } from '../aggregator/replication/replicator.ts';
import { enroll } from '../clients/enrollment.ts';
import { createModelSource } from '../clients/model-source.ts';
import { runMember } from '../clients/runtime.ts';
import { memorySecAggStore } from '../clients/secagg-runtime.ts';
import { Transport } from '../clients/transport.ts';
import { modelArtifacts, modelVersions } from '../schema/index.ts';
import { openStore } from '../storage/open-store.ts';
import type { OpenStoreOptions } from '../storage/open-store.ts';
import { startGcsServer } from '../storage/testing/gcs-server.ts';
import type { Ack, WireActivity, WireMiddleware } from './faults/wire.ts';
import { chain, faultyFetch, networkError, sleep } from './faults/wire.ts';
import { VirtualClock } from './clock.ts';
import type { ModelObservation } from './virtual-member.ts';
import { virtualModel, virtualSpec } from './virtual-member.ts';
import type { MemberPool } from './workers/pool.ts';
import { startMemberPool } from './workers/pool.ts';

const BASE = 'http://simulation';

export interface SimulationSize {
  members: number;
  params: number;
  rounds: number;
  seed: number;
}

export { VirtualClock };

/** A member process crash: at the member's message for `stage` of `round` (before it is sent). */
export interface CrashSpec {
  member: number;
  round: number;
  stage: string;
  /** Restarted from its durable state in the same round, or only when the next round opens. */
  restart: 'in-round' | 'next-round';
}

/** What was injected (and where), for the report and the ledger check. */
export interface Injection {
  kind: string;
  what: string;
  member?: number;
  round?: number;
}

/** Where model versions sit in the stores (what a store fault needs to know). */
export interface StoreLookups {
  /** The model version a content key holds, null for other keys. */
  versionOf(key: string): Promise<number | null>;
  /** The content key of a version's sealed artifact. */
  keyOf(version: number): Promise<string | null>;
  /** The newest committed version. */
  latest(): Promise<number>;
}

/** What scenario code sees of the running federation. */
export interface SimContext {
  readonly size: SimulationSize;
  readonly secure: boolean;
  readonly clock: VirtualClock;
  readonly db: Db;
  federationId: string;
  /** Member ids by index. */
  ids: string[];
  acks: Ack[];
  lookups: StoreLookups;
  inject(kind: string, what: string, at?: { member?: number; round?: number }): void;
  /** The aggregator as the network reaches it (no faults): a byte-for-byte replay goes here. */
  deliver: typeof fetch;
  /** A fresh signed transport for member `i` (no faults): what an adversarial member sends with. */
  transport(member: number): Transport;
  /** The open round and stage the operator last saw. */
  current(): { round: number; stage: string | null };
  /** Moves the clock past the open stage's deadline if round `round` is still at `stage`, and lets the aggregator act on it. */
  forceDeadline(round: number, stage: string): Promise<void>;
  /** Resolves when `pred` holds (polled); rejects after `ms` of real time. */
  waitFor(what: string, pred: () => boolean | Promise<boolean>, ms?: number): Promise<void>;
}

export interface FederationSpec {
  name: string;
  database: Database;
  size: SimulationSize;
  secure: boolean;
  /** Publish every model to two file stores ("cloud a", "cloud b"); members read from their cloud's store, then the other, then the aggregator. */
  stores?: boolean;
  /** Transport faults, built once the federation exists. */
  wire?: (ctx: SimContext) => WireMiddleware | undefined;
  /** Wraps member `i`'s home store. */
  homeStore?: (ctx: SimContext, member: number, inner: ArtifactStore) => ArtifactStore;
  skewMs?: (member: number) => number;
  crashes?: CrashSpec[];
  /** Replaces the aggregator (a new createApp over the same database) when the operator sees this stage. */
  restartAggregator?: (round: number, stage: string) => boolean;
  /** Aggregator processes publishing to the stores at once (default 1). */
  replicators?: number;
  minMembers?: number;
  /** Run the members in this many worker threads (round-robin) instead of the harness's own
   *  thread; every other option works the same (workers/pool.ts). Default 0: in-process. */
  workers?: number;
  idleMs?: number;
  pollMs?: number;
  log?: (line: string) => void;
}

export interface RoundOutcome {
  round: number;
  status: 'committed' | 'failed' | 'open';
  failureReason: string | null;
}

export interface SimulationRun {
  ctx: SimContext;
  config: FederationConfig;
  rounds: RoundOutcome[];
  observations: ModelObservation[];
  injected: Injection[];
  memberErrors: string[];
  /** Stage deadlines the harness had to reach by moving the clock. */
  forcedDeadlines: number;
  ledgerPublicKey: Uint8Array;
  /** Store URLs (empty without stores) and how to open them. */
  stores: string[];
  storeOptions: OpenStoreOptions;
  wallMs: number;
}

/** Which cloud a member sits in: every third member is in cloud b. */
export const cloudOf = (member: number): 'a' | 'b' => (member % 3 === 2 ? 'b' : 'a');

/** The federation config the harness submits. */
export function simulationConfig(name: string, size: SimulationSize, secure: boolean, stores: string[], minMembers?: number): Record<string, unknown> {
  return {
    name,
    model: virtualSpec(size.params),
    strategy: 'fedavg',
    rounds: size.rounds,
    minMembers: minMembers ?? Math.max(2, Math.floor(size.members / 3)),
    // Under the 5-minute signature window, so a message held to a deadline is refused for its stage, not its clock.
    deadlines: { fit: 240, evaluate: 240, keys: 240 },
    seed: size.seed,
    maxUpdateBytes: Math.max(64 * 1024, size.params * 8 + 64 * 1024),
    stores,
    secure: secure ? {} : false,
  };
}

export async function simulateFederation(spec: FederationSpec): Promise<SimulationRun> {
  const t0 = performance.now();
  const { size, database } = spec;
  const workers = spec.workers ?? 0;
  if (!Number.isInteger(workers) || workers < 0) throw new TesseraError('BAD_REQUEST', `workers: expected a whole number of worker threads (0 runs members in-process), got ${workers}`, { field: 'workers' });
  const db = database.db;
  const log = spec.log ?? (() => {});
  const clock = new VirtualClock();
  const idleMs = spec.idleMs ?? 600;
  const pollMs = spec.pollMs ?? 100;
  // Two clouds' object stores: buckets of the GCS test server on loopback (in memory, real API).
  const gcs = spec.stores ? await startGcsServer({ host: '127.0.0.1', buckets: ['cloud-a', 'cloud-b'] }) : null;
  const storeOptions: OpenStoreOptions = gcs ? { gcs: { apiEndpoint: gcs.url, projectId: 'tessera-sim' } } : {};
  const storeUrls = gcs ? ['gs://cloud-a/sim', 'gs://cloud-b/sim'] : [];

  const replicators: Replicator[] = gcs ? Array.from({ length: spec.replicators ?? 1 }, () => createReplicator({ db, now: clock.now, retryBaseMs: 10, log, storeOptions })) : [];
  const replicator: Replicator | undefined = replicators.length
    ? {
        kick: (fid) => replicators.forEach((r) => r.kick(fid)),
        tick: async () => void (await Promise.all(replicators.map((r) => r.tick()))),
        idle: async () => void (await Promise.all(replicators.map((r) => r.idle()))),
        close: async () => void (await Promise.all(replicators.map((r) => r.close()))),
      }
    : undefined;
  let aggregatorGen = 0;
  let aggregator = createApp({ db, now: clock.now, replicator });
  const ledgerPublicKey = currentLedgerKey()!.publicKey;
  const deliver = (async (input: string | URL | Request, init?: RequestInit) => {
    const gen = aggregatorGen;
    const res = await aggregator.app.request(String(input), init);
    // The process that took the request is gone: its answer never reaches the member.
    if (gen !== aggregatorGen) throw networkError('connection reset: the aggregator restarted');
    return res;
  }) as typeof fetch;

  const injected: Injection[] = [];
  const observations: ModelObservation[] = [];
  const memberErrors: string[] = [];
  const acks: Ack[] = [];
  const activity: WireActivity = { inflight: 0, lastPutAt: performance.now() };
  let now = { round: 0, stage: null as string | null };
  let forcedDeadlines = 0;

  const { token } = await issueCredential(db, 'operator', 'simulation operator', 'simulation', clock.now());
  const operator = new Transport({ baseUrl: BASE, bearer: token, fetch: deliver, retries: 5, backoffMs: 5 });
  const { federation: f } = await operator.json<{ federation: { id: string; config: FederationConfig } }>('POST', '/v1/federations', {
    body: simulationConfig(spec.name, size, spec.secure, storeUrls, spec.minMembers),
  });
  const ids: string[] = [];
  const keys: Uint8Array[] = [];
  for (let i = 0; i < size.members; i++) {
    const { invitation } = await operator.json<{ invitation: { token: string } }>('POST', `/v1/federations/${f.id}/invitations`, { body: { memberName: `member-${i}` } });
    const id = await enroll({ aggregatorUrl: BASE, federationId: f.id, token: invitation.token, fetch: deliver });
    ids.push(id.memberId);
    keys.push(fromBase64(id.secretKey)!);
  }
  const skew = (i: number) => spec.skewMs?.(i) ?? 0;

  // The round list, not the round's detail: the detail reads every participant and ledger entry,
  // which the operator loop would do several times a second with thousands of members.
  async function roundRow(r: number) {
    type Row = { number: number; status: 'open' | 'committed' | 'failed'; stage: string | null; stageDeadline: number | null; failureReason: string | null };
    const { rounds } = await operator.json<{ rounds: Row[] }>('GET', `/v1/federations/${f.id}/rounds`);
    const round = rounds.find((x) => x.number === r);
    if (!round) throw new Error(`simulation: round ${r} is not in the federation's round list`);
    return round;
  }

  // Stores: each member's home store (its cloud's, possibly faulty), the other cloud's as a replica.
  const lookups: StoreLookups = {
    versionOf: async (key: string) => {
      if (!key.startsWith(CONTENT_PREFIX)) return null;
      const [a] = await db.select({ version: modelArtifacts.version }).from(modelArtifacts).where(and(eq(modelArtifacts.federationId, f.id), eq(modelArtifacts.sealedHash, key.slice(CONTENT_PREFIX.length))));
      return a?.version ?? null;
    },
    keyOf: async (version: number) => {
      const [a] = await db.select({ h: modelArtifacts.sealedHash }).from(modelArtifacts).where(and(eq(modelArtifacts.federationId, f.id), eq(modelArtifacts.version, version)));
      return a ? CONTENT_PREFIX + a.h : null;
    },
    latest: async () => {
      const [m] = await db.select({ v: modelVersions.version }).from(modelVersions).where(eq(modelVersions.federationId, f.id)).orderBy(desc(modelVersions.version)).limit(1);
      return m?.v ?? 0;
    },
  };
  const ctx: SimContext = {
    size,
    secure: spec.secure,
    clock,
    db,
    federationId: f.id,
    ids,
    acks,
    lookups,
    inject(kind, what, at = {}) {
      injected.push({ kind, what, ...at });
      log(`  inject ${kind}: ${what}`);
    },
    deliver,
    transport: (i) => new Transport({ baseUrl: BASE, member: { memberId: ids[i], secretKey: keys[i] }, fetch: deliver, now: () => clock.now() + skew(i), retries: 3, backoffMs: 5 }),
    current: () => now,
    async forceDeadline(r, stage) {
      const round = await roundRow(r);
      if (round.status !== 'open' || round.stage !== stage || round.stageDeadline === null) return;
      clock.jumpTo(round.stageDeadline + 1);
      forcedDeadlines++;
      await aggregator.orchestrator.tick();
    },
    async waitFor(what, pred, ms = 30_000) {
      const end = performance.now() + ms;
      while (!(await pred())) {
        if (performance.now() > end) throw new Error(`simulation: timed out waiting for ${what}`);
        await sleep(2);
      }
    },
  };

  const openedStores: ArtifactStore[] = [];
  const storeOf = (url: string) => {
    const s = openStore(url, storeOptions);
    openedStores.push(s);
    return s;
  };
  // A member reading a store is busy: the harness must not move the clock to a deadline meanwhile.
  const counted = (inner: ArtifactStore): ArtifactStore => ({
    ...inner,
    url: inner.url,
    async get(key) {
      activity.inflight++;
      let open = true;
      const done = () => {
        if (!open) return;
        open = false;
        activity.inflight--;
        activity.lastPutAt = performance.now();
      };
      try {
        const o = await inner.get(key);
        return { ...o, body: (async function* () { try { yield* o.body; } finally { done(); } })() };
      } catch (e) {
        done();
        throw e;
      }
    },
  });

  // Member processes: a supervisor restarts a member whose runtime stopped on an error (as a
  // service manager would), and leaves crashed ones down until the scenario says.
  const generations = ids.map(() => 0);
  const aborts: AbortController[] = ids.map(() => new AbortController());
  const failures = ids.map(() => 0);
  const dead = new Set<string>();
  const nextRound = new Set<number>();
  const runs: Promise<void>[] = [];
  let stopping = false;
  let pool: MemberPool | null = null;
  const stopMember = (i: number) => (pool ? pool.stop(i) : aborts[i].abort());
  const crashes = (spec.crashes ?? []).map((c) => ({ ...c, fired: false }));
  const crashMw: WireMiddleware = async (req, next) => {
    const c = crashes.find((x) => !x.fired && x.member === req.member && x.round === req.round && x.stage === req.stage && req.kind !== 'report');
    if (!c) return next();
    c.fired = true;
    dead.add(`${req.member}/${req.generation}`);
    stopMember(req.member);
    ctx.inject('member-crash', `member ${req.member} crashed at ${c.stage} of round ${c.round} (restart ${c.restart})`, { member: req.member, round: c.round });
    if (c.restart === 'in-round') setTimeout(() => start(req.member), 20);
    else nextRound.add(req.member);
    throw networkError('the member process crashed');
  };
  const scenarioMw = spec.wire?.(ctx);
  const middleware = chain(crashMw, scenarioMw);
  const fetchFor = (i: number, gen: number) => faultyFetch({ member: i, generation: gen, deliver, middleware, activity, acks, dead: () => dead.has(`${i}/${gen}`) });
  const storesOf = (i: number) => (cloudOf(i) === 'a' ? storeUrls : [...storeUrls].reverse());
  // A process generation's stores, opened when it first reads (a restarted member opens them anew).
  const memberStores = new Map<string, { home: ArtifactStore; replica: ArtifactStore }>();
  const storesFor = (i: number, gen: number) => {
    const k = `${i}/${gen}`;
    let got = memberStores.get(k);
    if (!got) {
      const [mine, other] = storesOf(i);
      const inner = storeOf(mine);
      got = { home: counted(spec.homeStore ? spec.homeStore(ctx, i, inner) : inner), replica: counted(storeOf(other)) };
      memberStores.set(k, got);
    }
    return got;
  };

  if (workers > 0) {
    pool = await startMemberPool({
      workers,
      baseUrl: BASE,
      federationId: f.id,
      seed: size.seed,
      pollMs,
      clock: clock.shared,
      members: ids.map((memberId, i) => ({ member: i, memberId, secretKey: keys[i], skewMs: skew(i), stores: storeUrls.length ? { home: storesOf(i)[0], replica: storesOf(i)[1] } : null })),
      fetchFor,
      storeFor: (i, gen, which) => storesFor(i, gen)[which],
      observe: (o) => observations.push(o),
    });
  }

  // In-process members: the same runtime, in this thread.
  const secaggStores = workers > 0 ? [] : ids.map(() => memorySecAggStore());
  const models = workers > 0 ? [] : ids.map((_, i) => virtualModel({ seed: size.seed, member: i, observe: (o) => observations.push(o) }));
  function runHere(i: number, gen: number): Promise<unknown> {
    const abort = new AbortController();
    aborts[i] = abort;
    const memberNow = () => clock.now() + skew(i);
    const transport = new Transport({ baseUrl: BASE, member: { memberId: ids[i], secretKey: keys[i] }, fetch: fetchFor(i, gen), now: memberNow, retries: 3, backoffMs: 5 });
    let modelSource;
    if (storeUrls.length) {
      const { home, replica } = storesFor(i, gen);
      modelSource = createModelSource({ transport, federationId: f.id, memberId: ids[i], secretKey: keys[i], home, replicas: [replica], attempts: 2, backoffMs: 1 });
    }
    return runMember({ transport, federationId: f.id, memberId: ids[i], model: models[i], pollMs, signal: abort.signal, secaggStore: secaggStores[i], modelSource, now: memberNow });
  }

  function start(i: number): void {
    if (stopping) return;
    const gen = ++generations[i];
    const p = (pool ? pool.start(i, gen) : runHere(i, gen)).then(
      () => {},
      (e: unknown) => {
        if (stopping || dead.has(`${i}/${gen}`) || pool?.failure) return;
        memberErrors.push(`member ${i}: ${(e as Error).message}`);
        const wait = Math.min(idleMs, 10 * 2 ** Math.min(failures[i]++, 6));
        setTimeout(() => start(i), wait);
      },
    );
    runs.push(p);
  }
  for (let i = 0; i < size.members; i++) start(i);

  const rounds: RoundOutcome[] = [];
  try {
    for (let r = 1; r <= size.rounds; r++) {
      // Replicas of the last commit are published (or their retries due) before the next round opens.
      await replicator?.tick();
      await replicator?.idle();
      for (const i of nextRound) start(i);
      nextRound.clear();
      await operator.json('POST', `/v1/federations/${f.id}/rounds`);
      let seen: string | null = null;
      let since = performance.now();
      for (;;) {
        if (pool?.failure) throw pool.failure;
        await aggregator.orchestrator.tick();
        const round = await roundRow(r);
        now = { round: r, stage: round.stage };
        if (round.status !== 'open') {
          rounds.push({ round: r, status: round.status, failureReason: round.failureReason });
          log(`  round ${r}: ${round.status}${round.failureReason ? ` (${round.failureReason})` : ''}; ${forcedDeadlines} deadlines reached by moving the clock, ${memberErrors.length} member errors`);
          break;
        }
        if (round.stage !== seen) {
          log(`  round ${r}: stage ${round.stage}`);
          seen = round.stage;
          since = performance.now();
          if (round.stage && spec.restartAggregator?.(r, round.stage)) {
            aggregatorGen++;
            aggregator = createApp({ db, now: clock.now, replicator });
            ctx.inject('aggregator-crash', `aggregator replaced during ${round.stage} of round ${r}`, { round: r });
          }
        }
        const quiet = performance.now() - Math.max(since, activity.lastPutAt);
        if (activity.inflight === 0 && quiet > idleMs && round.stageDeadline !== null) {
          clock.jumpTo(round.stageDeadline + 1);
          forcedDeadlines++;
          since = performance.now();
        }
        await sleep(pollMs);
      }
    }
  } finally {
    stopping = true;
    ids.forEach((_, i) => stopMember(i));
    for (let n = 0; n !== runs.length; ) {
      n = runs.length;
      await Promise.all(runs);
    }
    await pool?.close();
    await replicator?.idle();
    await replicator?.close();
    for (const s of openedStores) await s.close().catch(() => undefined);
  }
  const run: SimulationRun = {
    ctx,
    config: f.config,
    rounds,
    observations,
    injected,
    memberErrors,
    forcedDeadlines,
    ledgerPublicKey,
    stores: storeUrls,
    storeOptions,
    wallMs: performance.now() - t0,
  };
  if (gcs) cleanup.push(() => gcs.close());
  return run;
}

/** Store servers, stopped once the invariants have read them (removeStores()). */
const cleanup: (() => Promise<void>)[] = [];
export async function removeStores(): Promise<void> {
  for (const c of cleanup.splice(0)) await c();
}
