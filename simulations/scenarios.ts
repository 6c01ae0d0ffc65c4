/**
 * @module The scenario catalogue: each names the fault it injects, what that models in real
 * clouds, what Tessera does about it, the outcome every round must reach (written down here and
 * in docs/simulations.md), and the evidence the fault must leave in the audit ledger.
 */
import { encodeWeights } from '../core/codec.ts';
import { createRng } from '../core/random.ts';
import { EXAMPLES_HEADER } from '../core/request-signing.ts';
import { MAX_CLOCK_SKEW_MS } from '../core/request-signing.ts';
import { modelLayout } from '../core/model.ts';
import { unflatten } from '../core/tensors.ts';
import { TesseraError } from '../core/errors.ts';
import type { CrashSpec, FederationSpec, SimContext, SimulationSize } from './federation.ts';
import { cloudOf } from './federation.ts';
import type { StoreFaultMode } from './faults/store.ts';
import { faultyStore } from './faults/store.ts';
import type { WireMiddleware, WireRequest } from './faults/wire.ts';
import { networkError, sleep } from './faults/wire.ts';
import type { LedgerView } from './invariants.ts';
import { trueDelta, virtualSpec } from './virtual-member.ts';

export type Mode = 'secure' | 'plain';
type Outcome = 'committed' | 'failed';

export interface Scenario {
  name: string;
  group: 'baseline' | 'storage' | 'transport' | 'clock' | 'process' | 'adversity';
  /** What it models in real clouds and networks. */
  models: string;
  /** What Tessera does, and so what must be seen. */
  expect: string;
  /** The modes it runs in (both where the protocols differ). */
  modes: Mode[];
  /** Fewest rounds it needs (replays need a round to replay from). */
  minRounds?: number;
  outcome(size: SimulationSize, mode: Mode): Outcome[];
  build(size: SimulationSize, mode: Mode): Partial<FederationSpec>;
  /** What the ledger must show (null: it does); async checks may read stores. */
  evidence?(v: LedgerView, mode: Mode): string | null | Promise<string | null>;
}

const allCommitted = (size: SimulationSize): Outcome[] => Array.from({ length: size.rounds }, () => 'committed');
const updateStage = (mode: Mode) => (mode === 'secure' ? 'masked_input' : 'fit');
const isUpdate = (req: WireRequest, mode: Mode) => req.kind === 'update' && req.stage === updateStage(mode);
const members = (size: SimulationSize, pred: (i: number) => boolean) => Array.from({ length: size.members }, (_, i) => i).filter(pred);

/** Ledger evidence: every listed member has an entry of `kind` (in `round` when given) matching `where`. */
function eachHas(v: LedgerView, who: number[], kind: string, what: string, where: (p: Record<string, unknown>) => boolean = () => true, round?: number): string | null {
  const missing = who.filter((i) => !v.of(kind, round).some((e) => e.p.memberId === v.run.ctx.ids[i] && where(e.p)));
  return missing.length ? `no ${kind} entry (${what}) for member(s) ${missing.join(', ')}${round ? ` in round ${round}` : ''}` : null;
}

/** Members whose reads were faulted must have reported the bad copy they saw. */
function fetchReported(outcome: string) {
  return (v: LedgerView): string | null => {
    const touched = [...new Set(v.run.injected.filter((x) => x.kind === 'storage' && x.member !== undefined).map((x) => x.member!))];
    if (touched.length === 0) return 'the storage fault never touched a read';
    return eachHas(v, touched, 'model.fetch-report', `an attempt that was ${outcome}`, (p) => (p.attempts as { outcome: string }[]).some((a) => a.outcome === outcome));
  };
}

function storageScenario(name: string, mode: StoreFaultMode, outcome: string, models: string, expect: string, extra: { lag?: number; fromVersion?: number } = {}): Scenario {
  return {
    name: `storage.${name}`,
    group: 'storage',
    models,
    expect,
    modes: ['secure'],
    outcome: allCommitted,
    build: () => ({
      stores: true,
      homeStore: (ctx, member, inner) =>
        cloudOf(member) === 'b'
          ? faultyStore(inner, {
              mode,
              fromVersion: extra.fromVersion ?? 0,
              lag: extra.lag,
              seed: ctx.size.seed + member,
              ...ctx.lookups,
              inject: (what, version) => ctx.inject('storage', `member ${member}: ${what}`, { member, round: version }),
            })
          : inner,
    }),
    evidence: fetchReported(outcome),
  };
}


/** Holds member `holder`'s update of (round, stage) until `gate` settles, so an attack lands while the stage is open. */
function holdOther(holder: number, round: number, stage: string, gate: () => Promise<void>): WireMiddleware {
  return async (req, next) => {
    if (req.member === holder && req.round === round && req.stage === stage && req.kind !== 'report') await gate();
    return next();
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Sends a member message and returns the error code it was refused with ('ok' when accepted). */
async function attempt(ctx: SimContext, member: number, path: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<string> {
  try {
    await ctx.transport(member).send('PUT', path, { body, headers, retry: false });
    return 'ok';
  } catch (e) {
    return e instanceof TesseraError ? e.code : String(e);
  }
}

const updatePath = (ctx: SimContext, member: number, round: number, mode: Mode) =>
  `/v1/federations/${ctx.federationId}/members/${ctx.ids[member]}/rounds/${round}/${mode === 'secure' ? 'secagg/masked_input' : 'update'}`;

function refusedCount(v: LedgerView, member: number, round: number, n: number, what: string): string | null {
  const got = v.of('contribution.refused', round).filter((e) => e.p.memberId === v.run.ctx.ids[member]).length;
  return got >= n ? null : `${got} contribution.refused entries for member ${member} in round ${round}; ${n} ${what} were refused`;
}

const SECURE_STAGES = ['advertise_keys', 'share_keys', 'masked_input', 'consistency', 'unmask', 'evaluate'] as const;
const PLAIN_STAGES = ['fit', 'evaluate'] as const;
/** Stages where a secure member's input already counts. */
const afterInput = (stage: string) => stage === 'consistency' || stage === 'unmask' || stage === 'evaluate';

function memberCrash(stage: string, mode: Mode): Scenario {
  return {
    name: `process.member-crash@${stage}`,
    group: 'process',
    models: `a member's VM or container dies just before it sends its ${stage} message (preemption, OOM kill, deploy)`,
    expect: `member 1 stays down for round 1 and is ${stage === 'evaluate' ? 'counted but reports no evaluation' : afterInput(stage) ? 'kept as a contributor (its masked input counts), its masks removed from the survivors\' shares' : 'dropped at the deadline'}; member 4 restarts from its saved state and answers in the same round; both rounds commit`,
    modes: [mode],
    outcome: allCommitted,
    build: () => ({ crashes: [{ member: 1, round: 1, stage, restart: 'next-round' }, { member: 4 % 6, round: 1, stage, restart: 'in-round' }] satisfies CrashSpec[] }),
    evidence: (v) => (stage === 'evaluate' ? (v.of('evaluation.accepted', 1).some((e) => e.p.memberId === v.run.ctx.ids[1]) ? 'member 1 crashed before evaluating but an evaluation is recorded' : null) : eachHas(v, [1], 'member.dropped', `dropped at ${stage}`, () => true, 1)),
  };
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'baseline',
    group: 'baseline',
    models: 'nothing goes wrong',
    expect: 'every round commits the FedAvg of every member',
    modes: ['secure', 'plain'],
    outcome: allCommitted,
    build: () => ({}),
  },
  storageScenario('stale-read', 'stale', 'stale', 'an eventually consistent replica serves the previous model version where the new one should be', 'the member sees a validly signed artifact of another version, reports it stale, reads the other cloud\'s replica, trains on the announced model', { fromVersion: 1 }),
  storageScenario('lost-write', 'lost', 'missing', 'a store acknowledged the model upload, then lost it', 'the member finds nothing, reports it missing, falls back to the other replica'),
  storageScenario('torn-object', 'torn', 'torn', 'a partial upload or a truncated read (connection cut mid-body)', 'the sealed artifact is shorter than announced: reported torn, never opened, other replica used'),
  storageScenario('bit-flip', 'flip', 'altered', 'silent corruption: one bit flipped in storage or in transit', 'seal and signature fail: reported altered, other replica used'),
  storageScenario('lagging-replica', 'lag', 'missing', 'one cloud\'s replica lags two versions behind for several rounds (replication backlog)', 'each round its members find the announced version missing at home and read the other replica; when it catches up they read home again', { lag: 2 }),
  {
    ...storageScenario('list-miss', 'list-miss', 'missing', 'a listing that does not yet show a freshly written object (list-after-write inconsistency)', 'nothing: members never discover models by listing; the announcement names the sealed hash and they GET it, so rounds are unaffected'),
    evidence: () => null,
  },
  {
    name: 'storage.pointer-race',
    group: 'storage',
    models: 'two aggregator processes (an old one still running after a failover) publish the "latest" pointer of the same stores at once',
    expect: 'the pointer moves by compare-and-swap and never backwards: it ends at the newest version on every store; members are unaffected (they fetch by hash)',
    modes: ['secure'],
    outcome: allCommitted,
    build: () => ({ stores: true, replicators: 2 }),
    async evidence(v) {
      const { openStore } = await import('../storage/open-store.ts');
      const newest = Math.max(0, ...v.of('model.committed').map((e) => Number(e.p.version)));
      for (const url of v.run.stores) {
        const s = openStore(url, v.run.storeOptions);
        const p = await s.readPointer('latest');
        await s.close();
        const at = p ? (JSON.parse(p.value) as { version: number }).version : null;
        if (at !== newest) return `${url}: latest names version ${at}, the newest committed is ${newest}`;
      }
      v.run.ctx.inject('storage', `2 replicators raced on latest; both stores end at version ${newest}`);
      return null;
    },
  },
  {
    name: 'transport.duplicate',
    group: 'transport',
    models: 'a proxy or load balancer delivers the same request twice',
    expect: 'the second copy carries a used nonce and is refused (REPLAYED); each slot is accepted once',
    modes: ['secure', 'plain'],
    outcome: allCommitted,
    build: () => ({
      wire: (ctx) => async (req, next) => {
        if (req.kind === 'poll' || req.kind === 'report') return next();
        const res = await next();
        const again = await next().catch((e: Error) => e);
        ctx.inject('duplicate', `member ${req.member} ${req.stage} r${req.round}: copy answered ${again instanceof Response ? again.status : again.message}`, { member: req.member, round: req.round ?? undefined });
        return res;
      },
    }),
  },
  {
    name: 'transport.reorder',
    group: 'transport',
    models: 'messages of different members arrive in another order than they were sent (multipath, retries)',
    expect: 'order does not matter: stages close on content, every slot accepted once',
    modes: ['secure', 'plain'],
    outcome: allCommitted,
    build: (size) => {
      const rng = createRng(`reorder/${size.seed}`);
      return {
        wire: (ctx) => async (req, next) => {
          if (req.kind === 'poll') return next();
          const ms = rng.int(15);
          ctx.inject('reorder', `member ${req.member} ${req.stage} held ${ms} ms`, { member: req.member, round: req.round ?? undefined });
          await sleep(ms);
          return next();
        },
      };
    },
  },
  {
    name: 'transport.delay',
    group: 'transport',
    models: 'a slow link: one member\'s update is late but within the deadline; another\'s arrives after the stage closed',
    expect: 'the late-but-in-time update counts; the too-late one is refused for its stage and recorded, its member dropped; the round commits without it',
    modes: ['secure', 'plain'],
    outcome: allCommitted,
    build: (size, mode) => ({
      idleMs: 250,
      wire: (ctx) => async (req, next) => {
        if (req.round !== 1 || !isUpdate(req, mode)) return next();
        if (req.member === 0) {
          ctx.inject('delay', `member 0 ${req.stage} delayed 400 ms (within the deadline)`, { member: 0, round: 1 });
          await sleep(400);
        }
        if (req.member === 1) {
          await ctx.waitFor('the other updates', () => ctx.acks.filter((a) => a.round === 1 && a.stage === req.stage && a.member !== 1).length >= size.members - 1);
          await ctx.forceDeadline(1, req.stage!);
          ctx.inject('delay', `member 1 ${req.stage} delivered after the deadline`, { member: 1, round: 1 });
        }
        return next();
      },
    }),
    evidence: (v, mode) => eachHas(v, [1], 'member.dropped', 'dropped', () => true, 1) ?? eachHas(v, [1], 'contribution.refused', 'late update refused', (p) => p.stage === updateStage(mode), 1),
  },
  {
    name: 'transport.drop',
    group: 'transport',
    models: 'requests lost on the way (packet loss, reset connections) and answers lost on the way back',
    expect: 'the client retries with a fresh signature; a lost answer is repeated from the stored slot (same bytes, same answer); nothing counted twice',
    modes: ['secure', 'plain'],
    outcome: allCommitted,
    build: (size) => {
      const rng = createRng(`drop/${size.seed}`);
      const tried = new Set<string>();
      return {
        wire: (ctx) => async (req, next) => {
          if (req.kind === 'poll' || tried.has(`${req.member}/${req.path}`)) return next();
          tried.add(`${req.member}/${req.path}`);
          const r = rng.next();
          if (r < 0.25) {
            ctx.inject('drop', `member ${req.member} ${req.stage} r${req.round}: request lost`, { member: req.member, round: req.round ?? undefined });
            throw networkError('request lost');
          }
          if (r < 0.5) {
            await next();
            ctx.inject('drop', `member ${req.member} ${req.stage} r${req.round}: answer lost`, { member: req.member, round: req.round ?? undefined });
            throw networkError('answer lost');
          }
          return next();
        },
      };
    },
  },
  {
    name: 'transport.partition',
    group: 'transport',
    models: 'one cloud (a third of the members) is cut off from the aggregator for a whole stage, then the network heals',
    expect: 'the cut-off members miss the stage and are dropped (recorded); the round commits from the others; after healing they take part in the next round',
    modes: ['secure', 'plain'],
    outcome: allCommitted,
    build: (_size, mode) => {
      const stage = mode === 'secure' ? 'share_keys' : 'fit';
      return {
        wire: (ctx) => async (req, next) => {
          if (cloudOf(req.member) !== 'b') return next();
          const cut = req.kind === 'poll' ? ctx.current().round === 1 && ctx.current().stage === stage : req.round === 1 && req.stage === stage;
          if (!cut) return next();
          ctx.inject('partition', `cloud b member ${req.member} cut off during ${stage}`, { member: req.member, round: 1 });
          throw networkError('network unreachable (partition)');
        },
      };
    },
    evidence: (v) => eachHas(v, members(v.run.ctx.size, (i) => cloudOf(i) === 'b'), 'member.dropped', 'dropped during the partition', () => true, 1),
  },
  {
    name: 'clock.skew-within',
    group: 'clock',
    models: 'member clocks that drift up to four minutes either way (no NTP, suspended VMs)',
    expect: 'inside the 5-minute signature window: every request is accepted, nothing refused',
    modes: ['secure'],
    outcome: allCommitted,
    build: (size) => ({ skewMs: (i) => Math.round((createRng(`skew/${size.seed}/${i}`).next() * 2 - 1) * 4 * 60_000) }),
    evidence: (v) => {
      v.run.ctx.inject('clock', `members skewed within ±4 min`);
      return v.of('request.refused').length ? `${v.of('request.refused').length} requests refused although every clock was inside the window` : null;
    },
  },
  {
    name: 'clock.skew-beyond',
    group: 'clock',
    models: 'one member\'s clock is six minutes ahead',
    expect: 'its signed requests are refused (UNAUTHENTICATED, beyond the 5-minute window) and the refusal recorded in the ledger; it is dropped from each round, which commits from the others',
    modes: ['secure', 'plain'],
    outcome: allCommitted,
    build: () => ({ skewMs: (i) => (i === 1 ? MAX_CLOCK_SKEW_MS + 60_000 : 0) }),
    evidence: (v) => {
      v.run.ctx.inject('clock', 'member 1 six minutes ahead', { member: 1 });
      return eachHas(v, [1], 'request.refused', 'clock skew') ?? eachHas(v, [1], 'member.dropped', 'dropped', () => true, 1);
    },
  },
  ...SECURE_STAGES.map((s) => memberCrash(s, 'secure')),
  ...PLAIN_STAGES.map((s) => memberCrash(s, 'plain')),
  {
    name: 'process.aggregator-crash',
    group: 'process',
    models: 'the aggregator process is killed and restarted (a new process over the same database) at every stage of every round; answers it was about to send are lost',
    expect: 'each restart resumes from the database; members retry; every stage transition and commit happens exactly once',
    modes: ['secure', 'plain'],
    outcome: allCommitted,
    build: () => ({ restartAggregator: () => true }),
    evidence: (v) => {
      const seen = new Set<string>();
      for (const e of v.of('round.stage')) {
        const k = `${e.p.round}/${e.p.from}/${e.p.to}`;
        if (seen.has(k)) return `stage transition ${k} recorded twice`;
        seen.add(k);
      }
      return v.run.injected.some((x) => x.kind === 'aggregator-crash') ? null : 'the aggregator was never restarted';
    },
  },
  {
    name: 'adversity.replay-old-round',
    group: 'adversity',
    models: 'an attacker (or a confused proxy) replays a member\'s round-1 upload during round 2: byte for byte, and re-signed',
    expect: 'the byte-for-byte copy is refused (used nonce); re-sent to round 1 it gets round 1\'s same answer and changes nothing; sent as round 2\'s update it conflicts with the accepted one and is refused and recorded',
    modes: ['secure', 'plain'],
    minRounds: 2,
    outcome: allCommitted,
    build: (size, mode) => {
      let captured: WireRequest | null = null;
      const done = deferred();
      return {
        wire: (ctx) => {
          const hold = holdOther(size.members - 1, 2, updateStage(mode), () => done.promise);
          return async (req, next) => {
            if (req.member !== 0 || !isUpdate(req, mode)) return hold(req, next);
            const res = await next();
            if (req.round === 1 && res.ok) captured ??= req;
            if (req.round === 2 && res.ok && captured) {
              const old = captured;
              const verbatim = await ctx.deliver(old.url, old.init).then((r) => `HTTP ${r.status}`, (e: Error) => e.message);
              ctx.inject('replay', `round-1 upload replayed byte for byte: ${verbatim}`, { member: 0, round: 2 });
              const same = await attempt(ctx, 0, updatePath(ctx, 0, 1, mode), old.body, pick(old.headers));
              ctx.inject('replay', `round-1 body re-signed to round 1: ${same}`, { member: 0, round: 1 });
              const stale = await attempt(ctx, 0, updatePath(ctx, 0, 2, mode), old.body, pick(old.headers));
              ctx.inject('replay', `round-1 body re-signed to round 2: ${stale}`, { member: 0, round: 2 });
            }
            if (req.round === 2) done.resolve();
            return res;
          };
        },
      };
    },
    evidence: (v) => refusedCount(v, 0, 2, 1, 'replayed updates'),
  },
  {
    name: 'adversity.resend-different',
    group: 'adversity',
    models: 'a member (buggy or dishonest) sends a second, different update after its first was accepted',
    expect: 'the slot keeps the first: the second is refused with CONFLICT and recorded; the model uses the first',
    modes: ['secure', 'plain'],
    outcome: allCommitted,
    build: (size, mode) => {
      const done = deferred();
      return {
        wire: (ctx) => {
          const hold = holdOther(size.members - 1, 1, updateStage(mode), () => done.promise);
          return async (req, next) => {
            if (req.member !== 0 || req.round !== 1 || !isUpdate(req, mode)) return hold(req, next);
            const res = await next();
            if (res.ok) {
              const other = Uint8Array.from(req.body);
              other[other.length - 1] ^= 0x01;
              const code = await attempt(ctx, 0, updatePath(ctx, 0, 1, mode), other, pick(req.headers));
              ctx.inject('resend', `member 0 re-sent a different ${req.stage}: ${code}`, { member: 0, round: 1 });
            }
            done.resolve();
            return res;
          };
        },
      };
    },
    evidence: (v) => refusedCount(v, 0, 1, 1, 'different re-sends'),
  },
  {
    name: 'adversity.malformed',
    group: 'adversity',
    models: 'a member sends garbage, a vector of the wrong shape or length, non-finite values, or more bytes than the federation allows, before its real update',
    expect: 'each is refused with its code (BAD_ENCODING / BAD_TENSORS / BAD_REQUEST / TOO_LARGE) and recorded; the member\'s real update is then accepted',
    modes: ['secure', 'plain'],
    outcome: allCommitted,
    build: (size, mode) => {
      let fired = false;
      return {
      wire: (ctx) => async (req, next) => {
        if (fired || req.member !== 0 || req.round !== 1 || !isUpdate(req, mode)) return next();
        fired = true;
        const bad: [string, Uint8Array][] = [
          ['garbage', Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff)],
          ['oversized', new Uint8Array(Math.max(64 * 1024, size.params * 8 + 64 * 1024) + 1)],
        ];
        if (mode === 'plain') {
          const nan = trueDelta(size.seed, 0, 1, size.params);
          nan[0] = Number.NaN;
          bad.push(['NaN values', encodeWeights(unflatten(nan, modelLayout(virtualSpec(size.params))))]);
          bad.push(['wrong shape', encodeWeights([{ name: 'dense_0/kernel', shape: [2, 1], data: new Float32Array(2) }])]);
        } else {
          bad.push(['truncated vector', req.body.subarray(0, req.body.length - 8)]);
        }
        for (const [what, body] of bad) {
          const code = await attempt(ctx, 0, updatePath(ctx, 0, 1, mode), body, pick(req.headers));
          ctx.inject('malformed', `member 0 sent ${what}: ${code}`, { member: 0, round: 1 });
        }
        return next();
      },
      };
    },
    evidence: (v, mode) => refusedCount(v, 0, 1, mode === 'plain' ? 4 : 3, 'malformed updates'),
  },
];

/** The headers an update carries besides its signature (the example count). */
function pick(headers: Record<string, string>): Record<string, string> {
  return headers[EXAMPLES_HEADER] ? { [EXAMPLES_HEADER]: headers[EXAMPLES_HEADER] } : {};
}
