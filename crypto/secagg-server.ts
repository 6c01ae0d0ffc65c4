/**
 * @module The aggregator's half of secure aggregation as a pure state machine: it accepts each
 * stage's signed messages (idempotently), closes stages when the caller says so (deadline or
 * everyone in), tells each member what its next stage needs, and at the end reconstructs the
 * secrets it is entitled to, removes the masks and yields only the sum. No I/O, no clock.
 * Removing the masks is most of the work; `closeAsync` spreads it over worker threads
 * (crypto/unmask-pool.ts) with the same result as the synchronous `close`.
 *
 * With self-shares (config.selfShares) a surviving member's unmask message may carry its own
 * self-mask share, which counts toward the t needed like any other; a dropped member's own
 * shares are gone with it.
 *
 * Persistence: `snapshot()` is JSON-safe (the running sum of masked vectors travels as base64, so
 * memory and snapshot grow with the model, not with members x model); `SecAggServer.restore`
 * resumes from it. Alternatively `SecAggServer.replay` rebuilds the state from the persisted
 * messages and stage closes, in their original order.
 */
import { TesseraError } from '../core/errors.ts';
import { contentHash } from '../core/hash.ts';
import type {
  SealedShare, AdvertiseKeysMessage, ConsistencyMessage, MaskedInputMessage, SecAggMessage, SecAggRequest, SecAggRoundConfig,
  SecAggStage, ShareKeysMessage, UnmaskMessage,
} from '../core/secagg-wire.ts';
import { EXTRA_WORD, SECAGG_PROTOCOL, SECAGG_STAGES } from '../core/secagg-wire.ts';
import { toBase64 } from './identity.ts';
import { agreementPublicKey, deriveSharedKey } from './key-agreement.ts';
import { quantizationStep } from './quantization.ts';
import type { RoundContext } from './secagg-config.ts';
import { pairwiseSign, roundContext, selfMaskCommitment } from './secagg-config.ts';
import { bytesToVector, checkBinding, decodeBase64, messageFingerprint, survivorSetHash, vectorToBytes, verifyMessage } from './secagg-messages.ts';
import type { Share } from './shamir.ts';
import { decodeShare, reconstruct } from './shamir.ts';
import type { MaskJob, UnmaskOptions } from './unmask-pool.ts';
import { applyMasks, choosePool } from './unmask-pool.ts';

/** The outcome of a round: only sums, never a member's vector. */
export type SecAggResult =
  | {
      status: 'completed';
      /** Sum over survivors of min(weight, maxWeight) * clip(delta), dequantized. */
      weightedSum: Float64Array;
      /** Sum over survivors of min(weight, maxWeight). */
      totalWeight: number;
      /** Coordinates clipped, summed over survivors. */
      clipped: number;
      survivors: string[];
      /** Members that shared keys but sent no masked input. */
      dropped: string[];
      /** Per-coordinate bound on |weightedSum - exact sum|: survivors * step * maxWeight. */
      errorBound: number;
    }
  | { status: 'failed'; reason: string };

/** What unmasking needs once the secrets are reconstructed. */
interface UnmaskPlan {
  acc: Uint32Array;
  survivors: string[];
  dropped: string[];
  /** Reconstructs the survivors' self-mask seeds, handing them to `emit` in batches; false when the round failed. */
  selfMasks: (emit: (jobs: MaskJob[]) => void, batch?: number) => boolean;
  /** Reconstructs the dropped members' mask keys and derives the pairwise seeds (one key agreement each), handing them to `emit` in batches; false when the round failed. */
  pairwiseMasks: (emit: (jobs: MaskJob[]) => void, batch?: number) => boolean;
}

/** Self masks handed to the workers at a time, so they start before every seed is reconstructed. */
const SELF_MASK_BATCH = 64;

/** The JSON-safe state of a round. */
export interface ServerSnapshot {
  version: 1;
  config: SecAggRoundConfig;
  stage: SecAggStage | 'done' | 'failed';
  /** Accepted messages per stage, by member (masked inputs without their vectors). */
  messages: { [S in SecAggStage]: Record<string, Omit<Extract<SecAggMessage, { stage: S }>, 'vector'>> };
  /** Sum mod 2^32 of the accepted masked vectors, base64 of little-endian words. */
  accumulator: string | null;
  /** Members who completed each closed stage (U1 .. U5), fixed when the stage closed. */
  completed: Partial<Record<SecAggStage, string[]>>;
  failure: string | null;
  result: { weightedSum: string; totalWeight: number; clipped: number; survivors: string[]; dropped: string[]; errorBound: number } | null;
}

/** A persisted event, for rebuilding a server by replay. */
export type ServerEvent = { message: SecAggMessage } | { close: SecAggStage };

const emptyMessages = (): ServerSnapshot['messages'] => ({ advertise_keys: {}, share_keys: {}, masked_input: {}, consistency: {}, unmask: {} });

/** The aggregator's state for one secure-aggregation round. */
export class SecAggServer {
  private readonly ctx: RoundContext;
  private readonly s: ServerSnapshot;
  private accumulator: Uint32Array | null = null;
  /** Derived from closed stages, which never change: sets of completers, shares by recipient, the dropped list (a thousand members' requests made each O(members) without them). */
  private readonly memo = new Map<string, unknown>();
  private memoized<T>(key: string, make: () => T): T {
    if (!this.memo.has(key)) this.memo.set(key, make());
    return this.memo.get(key) as T;
  }
  private completedSet(stage: SecAggStage): Set<string> {
    return this.memoized(`completed/${stage}`, () => new Set(this.s.completed[stage]!));
  }

  constructor(config: SecAggRoundConfig, restored?: ServerSnapshot) {
    this.ctx = roundContext(config);
    this.s = restored ?? { version: 1, config, stage: 'advertise_keys', messages: emptyMessages(), accumulator: null, completed: {}, failure: null, result: null };
    if (restored?.accumulator) this.accumulator = bytesToVector(decodeBase64(restored.accumulator, 'accumulator'));
  }

  /** Resumes from a snapshot taken by `snapshot()` (possibly after JSON round-trip). */
  static restore(snapshot: ServerSnapshot): SecAggServer {
    if (snapshot.version !== 1) throw new TesseraError('BAD_REQUEST', `unsupported secure-aggregation snapshot version ${snapshot.version}`, { field: 'version' });
    return new SecAggServer(snapshot.config, structuredClone(snapshot));
  }

  /** Rebuilds the state by feeding the persisted messages and stage closes again, in order. */
  static replay(config: SecAggRoundConfig, events: Iterable<ServerEvent>): SecAggServer {
    const server = new SecAggServer(config);
    for (const e of events) {
      if ('message' in e) server.receive(e.message);
      else {
        if (server.stage !== e.close) throw new TesseraError('ROUND_STATE', `replay: close of ${e.close} while at ${server.stage}`, { field: 'events' });
        server.close();
      }
    }
    return server;
  }

  /** A JSON-safe copy of the whole state. */
  snapshot(): ServerSnapshot {
    // Mid-unmask the running sum is half unmasked: no snapshot of that.
    this.notBusy();
    const copy = structuredClone(this.s);
    copy.accumulator = this.accumulator ? toBase64(vectorToBytes(this.accumulator)) : null;
    return copy;
  }

  get stage(): SecAggStage | 'done' | 'failed' {
    return this.s.stage;
  }

  /** Members that completed a closed stage, or have so far sent the current stage's message. */
  members(stage: SecAggStage): string[] {
    return this.s.completed[stage] ?? Object.keys(this.s.messages[stage]).sort();
  }

  /** Whether `memberId`'s message for `stage` was received (O(1), where members() sorts). */
  sent(stage: SecAggStage, memberId: string): boolean {
    return Object.hasOwn(this.s.messages[stage], memberId);
  }

  /** How many members completed `stage` (closed) or sent its message so far (open). */
  sentCount(stage: SecAggStage): number {
    return this.s.completed[stage]?.length ?? Object.keys(this.s.messages[stage]).length;
  }

  private current(): SecAggStage {
    const stage = this.s.stage;
    if (stage === 'done' || stage === 'failed') {
      throw new TesseraError('STALE_STAGE', `round ${this.ctx.config.round} is ${stage === 'done' ? 'finished' : 'failed'}; no stage is open`, { field: 'stage' });
    }
    return stage;
  }

  /**
   * Accepts one member message for the open stage. Returns 'duplicate' for the same message
   * again (nothing changes); throws CONFLICT for different content in the same slot,
   * STALE_STAGE for another federation, round or stage, UNAUTHENTICATED for a bad signature,
   * FORBIDDEN for a member not entitled to this stage, BAD_REQUEST for malformed content.
   */
  receive(message: SecAggMessage): 'accepted' | 'duplicate' {
    this.notBusy();
    const stage = this.current();
    checkBinding(message, this.ctx.config, stage);
    const member = message.memberId;
    const key = this.ctx.identityKeys.get(member);
    if (!key) throw new TesseraError('FORBIDDEN', `member ${member} is not in round ${this.ctx.config.round}'s cohort`, { field: 'memberId' });
    const previousStage = SECAGG_STAGES[SECAGG_STAGES.indexOf(stage) - 1];
    if (previousStage && !this.completedSet(previousStage).has(member)) {
      throw new TesseraError('FORBIDDEN', `member ${member} did not complete ${previousStage}, so it takes no part in ${stage}`, { field: 'memberId' });
    }
    if (!verifyMessage(message, key)) throw new TesseraError('UNAUTHENTICATED', `${stage} message of member ${member}: bad signature`, { field: 'signature' });
    const slot = this.s.messages[stage] as Record<string, SecAggMessage>;
    const existing = slot[member];
    // Masked vectors are summed, never kept: the stored message keeps only the vector's hash.
    const stored = { ...message } as Partial<MaskedInputMessage>;
    delete stored.vector;
    if (existing) {
      if (messageFingerprint(existing) === messageFingerprint(stored as SecAggMessage)) return 'duplicate';
      throw new TesseraError('CONFLICT', `member ${member} already sent a different ${stage} message this round`, { field: 'memberId' });
    }
    switch (message.stage) {
      case 'advertise_keys': this.checkAdvertise(message); break;
      case 'share_keys': this.checkShareKeys(message); break;
      case 'masked_input': this.addMaskedInput(message); break;
      case 'consistency': this.checkConsistency(message); break;
      case 'unmask': this.checkUnmask(message); break;
    }
    slot[member] = stored as SecAggMessage;
    return 'accepted';
  }

  private checkAdvertise(m: AdvertiseKeysMessage): void {
    decodeBase64(m.encryptionKey, 'encryptionKey', 32);
    decodeBase64(m.maskKey, 'maskKey', 32);
  }

  private checkShareKeys(m: ShareKeysMessage): void {
    if (typeof m.selfMaskCommitment !== 'string' || !/^[0-9a-f]{64}$/.test(m.selfMaskCommitment)) {
      throw new TesseraError('BAD_REQUEST', 'selfMaskCommitment: expected 64 hex digits', { field: 'selfMaskCommitment' });
    }
    const neighbours = this.ctx.neighbours.get(m.memberId)!;
    const advertised = this.completedSet('advertise_keys');
    const seen = new Set<string>();
    for (const share of m.shares) {
      if (share.from !== m.memberId || !neighbours.has(share.to) || !advertised.has(share.to) || seen.has(share.to)) {
        throw new TesseraError('BAD_REQUEST', `shares: a share to ${share.to} from ${share.from} is not one ${m.memberId} may send`, { field: 'shares' });
      }
      decodeBase64(share.ciphertext, 'ciphertext');
      seen.add(share.to);
    }
    if (seen.size < this.ctx.t) throw new TesseraError('BAD_REQUEST', `shares: ${seen.size} recipients; at least t = ${this.ctx.t} needed`, { field: 'shares' });
  }

  private addMaskedInput(m: MaskedInputMessage): void {
    if (m.length !== this.ctx.words || !(m.vector instanceof Uint8Array) || m.vector.length !== this.ctx.words * 4) {
      throw new TesseraError('BAD_REQUEST', `vector: expected ${this.ctx.words} words`, { field: 'vector' });
    }
    if (contentHash(m.vector) !== m.vectorHash) throw new TesseraError('BAD_REQUEST', 'vector: bytes do not match vectorHash', { field: 'vector' });
    const acc = (this.accumulator ??= new Uint32Array(this.ctx.words));
    const a = new Int32Array(acc.buffer);
    const v = new Int32Array(bytesToVector(m.vector).buffer);
    for (let i = 0; i < a.length; i++) a[i] = (a[i] + v[i]) | 0;
  }

  private checkConsistency(m: ConsistencyMessage): void {
    const expected = this.memoized('survivors-hash', () => survivorSetHash(this.s.completed.masked_input!));
    if (m.survivorsHash !== expected) {
      throw new TesseraError('BAD_REQUEST', 'survivorsHash: differs from the hash of this round\'s survivor set (the member signed another set)', { field: 'survivorsHash' });
    }
  }

  private checkUnmask(m: UnmaskMessage): void {
    const survivors = new Set(this.s.completed.masked_input);
    const seen = new Set<string>();
    const holderIndex = this.ctx.indexOf.get(m.memberId)!;
    for (const r of m.shares) {
      const sent = (this.s.messages.share_keys as Record<string, ShareKeysMessage>)[r.of];
      const expected = survivors.has(r.of) ? 'self_mask' : 'mask_key';
      // Its own share (self-shares only): the member is a survivor (it signed consistency), so only of its self mask.
      const holds = r.of === m.memberId ? this.ctx.selfShares : sent?.shares.some((x) => x.to === m.memberId);
      if (!sent || !holds || r.kind !== expected || seen.has(r.of)) {
        throw new TesseraError('BAD_REQUEST', `shares: ${m.memberId} cannot reveal a ${r.kind} share of ${r.of}`, { field: 'shares' });
      }
      if (decodeShare(decodeBase64(r.share, 'share', 37)).index !== holderIndex) {
        throw new TesseraError('BAD_REQUEST', `shares: the share of ${r.of} is not bound to ${m.memberId}'s index`, { field: 'shares' });
      }
      seen.add(r.of);
    }
  }

  /**
   * Closes the open stage; the round fails when fewer than t members completed it. Returns the
   * new stage. Closing unmask removes every mask in this thread; `closeAsync` spreads that work
   * over worker threads.
   */
  close(): SecAggStage | 'done' | 'failed' {
    this.notBusy();
    const stage = this.closeStage();
    if (stage !== null) return stage;
    const plan = this.planUnmask();
    if (!plan) return this.s.stage;
    // Every seed before any mask: a failure leaves the sum untouched.
    const selfMasks: MaskJob[] = [];
    if (!plan.selfMasks((jobs) => selfMasks.push(...jobs))) return this.s.stage;
    const pairwise: MaskJob[] = [];
    if (!plan.pairwiseMasks((jobs) => pairwise.push(...jobs))) return this.s.stage;
    applyMasks(plan.acc, selfMasks);
    applyMasks(plan.acc, pairwise);
    this.unmaskPath = 'in-thread';
    this.complete(plan);
    return this.s.stage;
  }

  /**
   * Like close(), but at unmask the mask expansions run on a worker pool when the work is large
   * enough (the shared pool by default; see crypto/unmask-pool.ts), with the same result byte for
   * byte. The server refuses other calls until it resolves.
   */
  async closeAsync(opts: UnmaskOptions = {}): Promise<SecAggStage | 'done' | 'failed'> {
    this.notBusy();
    const pool = this.s.stage === 'unmask' ? choosePool(this.unmaskJobCount(), this.ctx.words, opts) : null;
    if (!pool) return this.close();
    const stage = this.closeStage();
    if (stage !== null) return stage;
    const plan = this.planUnmask();
    if (!plan) return this.s.stage;
    this.busy = true;
    try {
      // Workers start on the first self masks while this thread reconstructs the next ones, and on
      // the first pairwise masks while it derives the next seeds (one key agreement each).
      const task = pool.start(plan.acc);
      let ok = false;
      try {
        ok = plan.selfMasks((jobs) => task.post(jobs), SELF_MASK_BATCH) && plan.pairwiseMasks((jobs) => task.post(jobs), SELF_MASK_BATCH);
      } finally {
        if (!ok) await task.cancel();
      }
      if (!ok) return this.s.stage;
      await task.finish();
    } finally {
      this.busy = false;
    }
    this.unmaskPath = 'workers';
    this.complete(plan);
    return this.s.stage;
  }

  /** Masks the open unmask stage would remove: one per survivor, one per surviving neighbour of each dropped member. */
  private unmaskJobCount(): number {
    const survivors = new Set(this.members('masked_input'));
    const shared = this.s.messages.share_keys as Record<string, ShareKeysMessage>;
    let count = survivors.size;
    for (const u of this.members('share_keys')) {
      if (!survivors.has(u)) count += shared[u].shares.filter((x) => survivors.has(x.to)).length;
    }
    return count;
  }

  /** How the last unmask in this process removed the masks (not persisted; for tests and benchmarks). */
  unmaskPath: 'in-thread' | 'workers' | null = null;
  private busy = false;

  private notBusy(): void {
    if (this.busy) throw new TesseraError('ROUND_STATE', `round ${this.ctx.config.round}: unmasking is in progress`, { field: 'stage' });
  }

  /** Fixes the completed set of the open stage and moves on; returns null when unmasking must run. */
  private closeStage(): SecAggStage | 'done' | 'failed' | null {
    const stage = this.current();
    const done = Object.keys(this.s.messages[stage]).sort();
    this.s.completed[stage] = done;
    if (done.length < this.ctx.t) {
      return this.failWith(`${stage}: only ${done.length} members completed it; at least t = ${this.ctx.t} needed`);
    }
    if (stage === 'unmask') return null;
    this.s.stage = SECAGG_STAGES[SECAGG_STAGES.indexOf(stage) + 1];
    return this.s.stage;
  }

  private failWith(reason: string): 'failed' {
    this.s.stage = 'failed';
    this.s.failure = reason;
    this.accumulator = null;
    return 'failed';
  }

  /** What a member needs for the open stage, or null when it takes no part in it. */
  requestFor(memberId: string): SecAggRequest | null {
    const stage = this.s.stage;
    if (stage === 'done' || stage === 'failed' || stage === 'advertise_keys') return null;
    const previous = SECAGG_STAGES[SECAGG_STAGES.indexOf(stage) - 1];
    if (!this.completedSet(previous).has(memberId)) return null;
    const base = { protocol: SECAGG_PROTOCOL as typeof SECAGG_PROTOCOL, federationId: this.ctx.config.federationId, round: this.ctx.config.round, memberId };
    const msgs = this.s.messages;
    switch (stage) {
      case 'share_keys': {
        const mine = this.ctx.neighbours.get(memberId)!;
        const advertisements = this.s.completed.advertise_keys!.filter((id) => mine.has(id)).map((id) => msgs.advertise_keys[id] as AdvertiseKeysMessage);
        return { ...base, stage, advertisements };
      }
      case 'masked_input': {
        const byRecipient = this.memoized('shares-by-recipient', () => {
          const index = new Map<string, SealedShare[]>();
          for (const id of this.s.completed.share_keys!) {
            for (const x of (msgs.share_keys[id] as ShareKeysMessage).shares) {
              const list = index.get(x.to) ?? [];
              if (list.length === 0) index.set(x.to, list);
              list.push(x);
            }
          }
          return index;
        });
        return { ...base, stage, shares: byRecipient.get(memberId) ?? [] };
      }
      case 'consistency':
        return { ...base, stage, survivors: this.s.completed.masked_input! };
      case 'unmask': {
        const survivors = this.s.completed.masked_input!;
        const dropped = this.memoized('dropped', () => {
          const alive = this.completedSet('masked_input');
          return this.s.completed.share_keys!.filter((id) => !alive.has(id));
        });
        // The member needs t valid signatures: its neighbours' first, then others.
        const mine = this.ctx.neighbours.get(memberId)!;
        const signers = this.s.completed.consistency!;
        const ordered = [...signers.filter((id) => mine.has(id) || id === memberId), ...signers.filter((id) => !mine.has(id) && id !== memberId)];
        const signatures = ordered.slice(0, Math.max(this.ctx.t + 2, 0)).map((id) => ({ memberId: id, signature: (msgs.consistency[id] as ConsistencyMessage).signature }));
        return { ...base, stage, survivors, dropped, signatures };
      }
    }
  }

  /** The round's outcome once unmask closed (or the failure), else null. */
  result(): SecAggResult | null {
    if (this.s.stage === 'failed') return { status: 'failed', reason: this.s.failure! };
    const r = this.s.result;
    if (this.s.stage !== 'done' || !r) return null;
    const bytes = decodeBase64(r.weightedSum, 'weightedSum');
    const weightedSum = new Float64Array(bytes.length / 8);
    new Uint8Array(weightedSum.buffer).set(bytes);
    return { status: 'completed', weightedSum, totalWeight: r.totalWeight, clipped: r.clipped, survivors: r.survivors, dropped: r.dropped, errorBound: r.errorBound };
  }

  /**
   * Decodes the revealed shares (survivors' own self-mask shares included) and checks that every
   * needed secret has t of them; the returned
   * plan then reconstructs the survivors' self-mask seeds and the dropped members' keys (each
   * checked against its commitment or public key) and derives the pairwise seeds. Null, or a
   * false/null step, when the round failed.
   */
  private planUnmask(): UnmaskPlan | null {
    const ctx = this.ctx;
    const survivors = this.s.completed.masked_input!;
    const survivorSet = new Set(survivors);
    const shared = this.s.messages.share_keys as Record<string, ShareKeysMessage>;
    const adverts = this.s.messages.advertise_keys as Record<string, AdvertiseKeysMessage>;
    const recipientSets = new Map(this.s.completed.share_keys!.map((id) => [id, new Set(shared[id].shares.map((x) => x.to))]));
    const edge = (u: string, v: string): boolean => recipientSets.get(u)!.has(v) && recipientSets.get(v)!.has(u);
    const dropped = this.s.completed.share_keys!.filter((id) => !survivorSet.has(id));
    // A dropped member's key matters only if some survivor masked with it.
    const droppedNeeded = dropped.filter((u) => survivors.some((v) => edge(u, v)));

    const revealed = new Map<string, Share[]>();
    for (const holder of this.s.completed.unmask!) {
      for (const r of (this.s.messages.unmask[holder] as UnmaskMessage).shares) {
        const list = revealed.get(r.of) ?? [];
        list.push(decodeShare(decodeBase64(r.share, 'share', 37)));
        revealed.set(r.of, list);
      }
    }
    const shortfalls: string[] = [];
    for (const id of [...survivors, ...droppedNeeded]) {
      const got = revealed.get(id)?.length ?? 0;
      if (got < ctx.t) shortfalls.push(`member ${id}: ${got} of ${ctx.t} needed shares`);
    }
    if (shortfalls.length > 0) {
      this.failWith(`cannot unmask: ${shortfalls.join('; ')}`);
      return null;
    }

    const selfMasks = (emit: (jobs: MaskJob[]) => void, batch = Infinity): boolean => {
      let jobs: MaskJob[] = [];
      for (const u of survivors) {
        const commitment = shared[u].selfMaskCommitment;
        const seed = this.reconstructChecked(u, revealed.get(u)!, (s) => selfMaskCommitment(ctx, u, s) === commitment);
        if (!seed) return false;
        jobs.push({ seed, sign: -1 });
        if (jobs.length >= batch) {
          emit(jobs);
          jobs = [];
        }
      }
      if (jobs.length > 0) emit(jobs);
      return true;
    };
    const pairwiseMasks = (emit: (jobs: MaskJob[]) => void, batch = Infinity): boolean => {
      let jobs: MaskJob[] = [];
      for (const u of droppedNeeded) {
        const maskKey = decodeBase64(adverts[u].maskKey, 'maskKey', 32);
        const secret = this.reconstructChecked(u, revealed.get(u)!, (s) => sodiumEqual(agreementPublicKey(s), maskKey));
        if (!secret) return false;
        for (const v of survivors) {
          if (!edge(u, v)) continue;
          const seed = deriveSharedKey({ secretKey: secret, publicKey: maskKey }, decodeBase64(adverts[v].maskKey, 'maskKey', 32), 'pairwiseMask', ctx.binding);
          // Survivor v added sign(v, u) * PRG(seed); take it away.
          jobs.push({ seed, sign: pairwiseSign(ctx, v, u) === 1 ? -1 : 1 });
          if (jobs.length >= batch) {
            emit(jobs);
            jobs = [];
          }
        }
      }
      if (jobs.length > 0) emit(jobs);
      return true;
    };
    return { acc: this.accumulator!, survivors, dropped, selfMasks, pairwiseMasks };
  }

  /** Dequantizes the unmasked sum and stores the result. */
  private complete({ acc, survivors, dropped }: UnmaskPlan): void {
    const { params, quantization, maxWeight } = this.ctx.config;
    const scale = quantizationStep(quantization) * maxWeight;
    const weightedSum = new Float64Array(params);
    for (let i = 0; i < params; i++) weightedSum[i] = (acc[i] | 0) * scale;
    const digits = (lo: number, hi: number): number => acc[params + lo] + acc[params + hi] * 65536;
    const result = {
      weightedSum: toBase64(new Uint8Array(weightedSum.buffer)),
      totalWeight: digits(EXTRA_WORD.weightLow, EXTRA_WORD.weightHigh),
      clipped: digits(EXTRA_WORD.clippedLow, EXTRA_WORD.clippedHigh),
      survivors,
      dropped,
      errorBound: survivors.length * scale,
    };
    this.s.result = result;
    this.s.stage = 'done';
    this.accumulator = null;
  }

  /**
   * Reconstructs from t shares and checks the result; when extra shares exist, tries other
   * windows of t so one corrupt share does not sink the round. Fails the round when none checks.
   */
  private reconstructChecked(member: string, shares: Share[], ok: (secret: Uint8Array) => boolean): Uint8Array | null {
    const sorted = [...shares].sort((a, b) => a.index - b.index);
    for (let start = 0; start + this.ctx.t <= sorted.length; start++) {
      try {
        const secret = reconstruct(sorted.slice(start, start + this.ctx.t), this.ctx.t);
        if (ok(secret)) return secret;
      } catch {
        // an inconsistent window: try the next one
      }
    }
    this.failWith(`cannot unmask: member ${member}: shares do not reconstruct its committed secret (a corrupt share)`);
    return null;
  }
}

function sodiumEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
