/**
 * @module The member's half of secure aggregation (Bonawitz et al. 2017, SecAgg+ graph) as a
 * pure state machine: each method takes the aggregator's request for a stage and returns the
 * signed message to send. No I/O, no clock. The client refuses, with a TesseraError, anything an
 * honest member must not do: answer a request of another round or stage, mask with fewer than t
 * neighbours, sign two different survivor sets, or reveal both shares of one member.
 *
 * With self-shares (config.selfShares) the member also splits its secrets at its own index, keeps
 * that share pair in its snapshot, and at unmask reveals its own self-mask share (never its own
 * mask-key share: it is alive to reveal it only because it survived).
 */
import { TesseraError } from '../core/errors.ts';
import type {
  AdvertiseKeysMessage, ConsistencyMessage, ConsistencyRequest, MaskedInputMessage, MaskedInputRequest,
  RevealedShare, SecAggMessage, SecAggRoundConfig, SecAggStage, ShareKeysMessage, ShareKeysRequest, UnmaskMessage, UnmaskRequest,
} from '../core/secagg-wire.ts';
import { EXTRA_WORD, SECAGG_PROTOCOL, SECAGG_STAGES } from '../core/secagg-wire.ts';
import { contentHash } from '../core/hash.ts';
import { sodium } from '../core/sodium.ts';
import { randomBytes } from 'node:crypto';
import type { NoiseSource } from './ddp-noise.ts';
import { addDistributedNoise, keyedNoiseSource } from './ddp-noise.ts';
import { memberSensitivity } from './ddp-round.ts';
import { open, seal } from './envelope.ts';
import type { IdentityKeyPair } from './identity.ts';
import { toBase64 } from './identity.ts';
import type { AgreementKeyPair } from './key-agreement.ts';
import { deriveSharedKey, generateAgreementKeyPair } from './key-agreement.ts';
import { addPrgInto, applyPrgInto, expandWords } from './prg.ts';
import { quantize } from './quantization.ts';
import type { RoundContext } from './secagg-config.ts';
import { pairwiseSign, roundContext, selfMaskCommitment } from './secagg-config.ts';
import { canonicalJson, checkBinding, decodeBase64, signMessage, survivorSetHash, vectorToBytes, verifyMessage } from './secagg-messages.ts';
import { decodeShare, encodeShare, split } from './shamir.ts';

/** A member's local update: its model delta and example count. */
export interface MemberUpdate {
  delta: Float32Array | Float64Array;
  /** Examples trained on; capped at the round's maxWeight. */
  weight: number;
}

/** Everything a client must keep to resume a round; it holds secret keys: store it like the identity key. */
export interface ClientSnapshot {
  memberId: string;
  config: SecAggRoundConfig;
  stage: SecAggStage | 'done';
  secrets: { encryptionSecret: string; encryptionPublic: string; maskSecret: string; maskPublic: string; selfMaskSeed: string; roundingSeed: string };
  /** Neighbours whose advertised keys verified: id -> [encryptionKey, maskKey]. */
  accepted: Record<string, [string, string]>;
  /** Shares received from neighbours: id -> [mask-key share, self-mask share] (encoded). */
  held: Record<string, [string, string]>;
  /**
   * With self-shares, once keys are shared: this member's own share pair [mask-key share,
   * self-mask share] (encoded, at its own index). Absent otherwise, and in snapshots made before
   * self-shares existed.
   */
  ownShares?: [string, string];
  /** The survivor set this member signed, once signed. */
  signedSurvivors: string[] | null;
  /** Fingerprint of each answered request, so a retry gets the same answer and a different request is refused. */
  answered: Partial<Record<SecAggStage, string>>;
  /** The messages sent, for retries; the masked vector is not kept (it is recomputed identically). */
  sent: Partial<Record<Exclude<SecAggStage, 'masked_input'>, SecAggMessage>>;
}

/**
 * A deep copy of a snapshot that shares its round configuration: the configuration is the
 * round's public, never-changed cohort list (about 100 bytes per member), so copying it with
 * every snapshot made each member hold its own copies of an O(members) object.
 */
export function cloneSnapshot(snapshot: ClientSnapshot): ClientSnapshot {
  const { config, ...rest } = snapshot;
  return { ...structuredClone(rest), config };
}

const fail = (code: 'ROUND_STATE' | 'CONFLICT' | 'FORBIDDEN' | 'BAD_REQUEST', message: string, field?: string): never => {
  throw new TesseraError(code, message, { field });
};

/** One member's state for one round. */
export class SecAggClient {
  private readonly ctx: RoundContext;
  private readonly identity: IdentityKeyPair;
  private readonly random?: () => number;
  private readonly noise?: NoiseSource;
  private s: ClientSnapshot;
  private maskedCache: SecAggMessage | null = null;

  /**
   * Starts a round: fresh X25519 key pairs, self-mask seed and rounding seed. `random` overrides
   * stochastic rounding and `noise` the distributed-DP noise source (tests; by default both come
   * from the kept rounding seed, so a retry after a restart sends identical bytes).
   */
  constructor(opts: { config: SecAggRoundConfig; memberId: string; identity: IdentityKeyPair; random?: () => number; noise?: NoiseSource }, restored?: ClientSnapshot) {
    this.ctx = roundContext(opts.config);
    if (!this.ctx.indexOf.has(opts.memberId)) fail('FORBIDDEN', `member ${opts.memberId} is not in round ${opts.config.round}'s cohort`, 'memberId');
    this.identity = opts.identity;
    this.random = opts.random;
    this.noise = opts.noise;
    // Members of one round share one configuration object (the context's, cached by content hash).
    if (restored) {
      this.s = { ...restored, config: this.ctx.config };
      return;
    }
    const c = generateAgreementKeyPair();
    const s = generateAgreementKeyPair();
    this.s = {
      memberId: opts.memberId,
      config: this.ctx.config,
      stage: 'advertise_keys',
      secrets: {
        encryptionSecret: toBase64(c.secretKey),
        encryptionPublic: toBase64(c.publicKey),
        maskSecret: toBase64(s.secretKey),
        maskPublic: toBase64(s.publicKey),
        selfMaskSeed: toBase64(randomBytes(32)),
        roundingSeed: toBase64(randomBytes(32)),
      },
      accepted: {},
      held: {},
      signedSurvivors: null,
      answered: {},
      sent: {},
    };
  }

  /** Rebuilds a client from its snapshot (after a member process restart). */
  static restore(snapshot: ClientSnapshot, identity: IdentityKeyPair, random?: () => number, noise?: NoiseSource): SecAggClient {
    return new SecAggClient({ config: snapshot.config, memberId: snapshot.memberId, identity, random, noise }, cloneSnapshot(snapshot));
  }

  /** A JSON-safe copy of the state (the round configuration, never changed, is shared: see cloneSnapshot). */
  snapshot(): ClientSnapshot {
    return cloneSnapshot(this.s);
  }

  get stage(): SecAggStage | 'done' {
    return this.s.stage;
  }

  get memberId(): string {
    return this.s.memberId;
  }

  private secret(name: keyof ClientSnapshot['secrets']): Uint8Array {
    return decodeBase64(this.s.secrets[name], name, 32);
  }

  private readonly keyPairs = new Map<'encryption' | 'mask', AgreementKeyPair>();
  /** Decoded once per process: the key-agreement layer caches its key objects per array. */
  private keyPair(kind: 'encryption' | 'mask'): AgreementKeyPair {
    let pair = this.keyPairs.get(kind);
    if (!pair) {
      pair = { publicKey: this.secret(`${kind}Public`), secretKey: this.secret(`${kind}Secret`) };
      this.keyPairs.set(kind, pair);
    }
    return pair;
  }

  private binding<S extends SecAggStage>(stage: S): { protocol: typeof SECAGG_PROTOCOL; federationId: string; round: number; stage: S; memberId: string } {
    return { protocol: SECAGG_PROTOCOL, federationId: this.ctx.config.federationId, round: this.ctx.config.round, stage, memberId: this.s.memberId };
  }

  /**
   * Runs `compute` once per stage. A retry of the same request returns the same message; a
   * different request for an answered stage is refused (an honest member answers each stage once).
   */
  private once<M extends SecAggMessage>(stage: SecAggStage, request: unknown, compute: () => M): M {
    const fingerprint = contentHash(new TextEncoder().encode(canonicalJson(request ?? null)));
    const answered = this.s.answered[stage];
    if (answered !== undefined) {
      if (answered !== fingerprint) fail('CONFLICT', `member ${this.s.memberId} already answered ${stage} for a different request; it answers each stage once`, 'stage');
      const cached = stage === 'masked_input' ? this.maskedCache : this.s.sent[stage];
      if (cached) return cached as M;
      return compute(); // a masked input after a restore: recomputed identically from the kept seeds
    }
    if (this.s.stage !== stage) fail('ROUND_STATE', `member ${this.s.memberId} is at stage ${this.s.stage}, not ${stage}`, 'stage');
    const message = compute();
    this.s.answered[stage] = fingerprint;
    const next = SECAGG_STAGES.indexOf(stage) + 1;
    this.s.stage = next < SECAGG_STAGES.length ? SECAGG_STAGES[next] : 'done';
    if (stage === 'masked_input') this.maskedCache = message;
    else this.s.sent[stage] = message;
    return message;
  }

  /** Stage 1: the two public keys, signed. */
  advertiseKeys(): AdvertiseKeysMessage {
    return this.once('advertise_keys', null, () =>
      signMessage<AdvertiseKeysMessage>({
        ...this.binding('advertise_keys'),
        encryptionKey: this.s.secrets.encryptionPublic,
        maskKey: this.s.secrets.maskPublic,
      }, this.identity.secretKey),
    );
  }

  /** Stage 2: verifies neighbours' keys (a bad signature excludes that neighbour) and seals shares of s_sk and b to each. */
  shareKeys(request: ShareKeysRequest): ShareKeysMessage {
    checkBinding(request, this.ctx.config, 'share_keys');
    return this.once('share_keys', request, () => {
      const mine = this.ctx.neighbours.get(this.s.memberId)!;
      const accepted: Record<string, [string, string]> = {};
      for (const ad of request.advertisements) {
        const key = this.ctx.identityKeys.get(ad.memberId);
        if (!mine.has(ad.memberId) || !key || ad.memberId in accepted) continue;
        try {
          checkBinding(ad, this.ctx.config, 'advertise_keys');
          decodeBase64(ad.encryptionKey, 'encryptionKey', 32);
          decodeBase64(ad.maskKey, 'maskKey', 32);
        } catch {
          continue;
        }
        if (verifyMessage(ad, key)) accepted[ad.memberId] = [ad.encryptionKey, ad.maskKey];
      }
      const ids = Object.keys(accepted).sort();
      if (ids.length < this.ctx.t) {
        fail('ROUND_STATE', `member ${this.s.memberId}: only ${ids.length} neighbours advertised valid keys; ${this.ctx.t} needed`, 'advertisements');
      }
      this.s.accepted = accepted;
      const indices = ids.map((id) => this.ctx.indexOf.get(id)!);
      // With self-shares the last point is this member's own index (distinct from every neighbour's).
      if (this.ctx.selfShares) indices.push(this.ctx.indexOf.get(this.s.memberId)!);
      const maskShares = split(this.secret('maskSecret'), this.ctx.t, indices);
      const selfShares = split(this.secret('selfMaskSeed'), this.ctx.t, indices);
      if (this.ctx.selfShares) this.s.ownShares = [toBase64(encodeShare(maskShares[ids.length])), toBase64(encodeShare(selfShares[ids.length]))];
      const encryption = this.keyPair('encryption');
      const shares = ids.map((to, i) => {
        const plaintext = new Uint8Array(74);
        plaintext.set(encodeShare(maskShares[i]), 0);
        plaintext.set(encodeShare(selfShares[i]), 37);
        const key = deriveSharedKey(encryption, decodeBase64(accepted[to][0], 'encryptionKey'), 'shareEncryption', this.ctx.binding);
        const ciphertext = seal(plaintext, key, this.envelopeBinding(this.s.memberId, to));
        return { from: this.s.memberId, to, ciphertext: toBase64(ciphertext) };
      });
      return signMessage<ShareKeysMessage>({
        ...this.binding('share_keys'),
        selfMaskCommitment: selfMaskCommitment(this.ctx, this.s.memberId, this.secret('selfMaskSeed')),
        shares,
      }, this.identity.secretKey);
    });
  }

  private envelopeBinding(sender: string, recipient: string) {
    return { federationId: this.ctx.config.federationId, round: this.ctx.config.round, stage: 'share_keys', sender, recipient };
  }

  /**
   * Stage 3: opens the shares addressed to this member, then sends
   * y = quantize(clip(delta) * weight / maxWeight) || weight || clipped  +  PRG(b)  +  sum over
   * neighbours v that exchanged shares both ways of +-PRG(KDF(X25519(s_sk, s_pk_v)))  (mod 2^32).
   * With distributed noise: delta is clipped to L2 norm l2Clip, every member weighs maxWeight (an
   * example count would be released un-noised), rounding is repeated until the vector's norm is
   * within the sensitivity bound, and integer noise is added before masking.
   */
  maskedInput(request: MaskedInputRequest, update: MemberUpdate): MaskedInputMessage {
    checkBinding(request, this.ctx.config, 'masked_input');
    return this.once('masked_input', request, () => {
      const { params, maxWeight, quantization } = this.ctx.config;
      if (update.delta.length !== params) fail('BAD_REQUEST', `delta has ${update.delta.length} values; the round has ${params} parameters`, 'delta');
      if (!Number.isInteger(update.weight) || update.weight < 0) fail('BAD_REQUEST', `weight: expected a non-negative integer example count, got ${update.weight}`, 'weight');
      this.openShares(request);
      const edges = Object.keys(this.s.held).sort();
      if (edges.length < this.ctx.t) {
        fail('ROUND_STATE', `member ${this.s.memberId}: only ${edges.length} neighbours exchanged shares; ${this.ctx.t} needed to hide its input`, 'shares');
      }
      const dp = this.ctx.config.distributedNoise;
      const weight = dp ? maxWeight : Math.min(update.weight, maxWeight);
      const vector = new Uint32Array(this.ctx.words);
      const roundingFor = (attempt: number): (() => number) => {
        if (this.random) return this.random;
        // Rounding noise from a kept seed, so a retry after a restart produces identical bytes.
        const noise = expandWords(attempt === 0 ? this.secret('roundingSeed') : this.derivedSeed(`rounding/${attempt}`), params);
        let i = 0;
        return () => noise[i++] / 4294967296;
      };
      let clipped: number;
      if (!dp) {
        clipped = quantize(update.delta, quantization, { scale: weight / maxWeight, random: roundingFor(0), out: vector }).clipped;
      } else {
        clipped = this.quantizeWithinBound(update.delta, dp.l2Clip, roundingFor, vector);
        addDistributedNoise(vector.subarray(0, params), dp, this.noise ?? keyedNoiseSource(this.derivedSeed('distributed-noise')));
      }
      vector[params + EXTRA_WORD.weightLow] = weight & 0xffff;
      vector[params + EXTRA_WORD.weightHigh] = weight >>> 16;
      vector[params + EXTRA_WORD.clippedLow] = clipped & 0xffff;
      vector[params + EXTRA_WORD.clippedHigh] = clipped >>> 16;
      addPrgInto(vector, this.secret('selfMaskSeed'));
      const mask = this.keyPair('mask');
      for (const v of edges) {
        const seed = deriveSharedKey(mask, decodeBase64(this.s.accepted[v][1], 'maskKey'), 'pairwiseMask', this.ctx.binding);
        applyPrgInto(vector, seed, pairwiseSign(this.ctx, this.s.memberId, v));
      }
      const bytes = vectorToBytes(vector);
      return signMessage<MaskedInputMessage>({
        ...this.binding('masked_input'),
        length: vector.length,
        vectorHash: contentHash(bytes),
        vector: bytes,
      }, this.identity.secretKey);
    });
  }

  /** A 32-byte seed derived from the kept rounding seed for one purpose. */
  private derivedSeed(label: string): Uint8Array {
    return sodium.crypto_generichash(32, new TextEncoder().encode(`tessera/secagg/${label}`), this.secret('roundingSeed'));
  }

  /**
   * Clips delta to L2 norm l2Clip and quantizes it with randomized rounding, again with fresh
   * randomness until the integer vector's norm is within the sensitivity bound (conditional
   * rounding, Kairouz et al. 2021), so the bound the accountant uses always holds.
   */
  private quantizeWithinBound(delta: ArrayLike<number>, l2Clip: number, roundingFor: (attempt: number) => () => number, out: Uint32Array): number {
    const { params, quantization } = this.ctx.config;
    let norm = 0;
    for (let i = 0; i < params; i++) norm += delta[i] * delta[i];
    norm = Math.sqrt(norm);
    const factor = norm > l2Clip ? l2Clip / norm : 1;
    const clippedDelta = new Float64Array(params);
    for (let i = 0; i < params; i++) clippedDelta[i] = delta[i] * factor;
    const bound = memberSensitivity(l2Clip, quantization, params);
    for (let attempt = 0; attempt < 1000; attempt++) {
      const { clipped } = quantize(clippedDelta, quantization, { random: roundingFor(attempt), out });
      let sq = 0;
      for (let i = 0; i < params; i++) sq += (out[i] | 0) ** 2;
      if (Math.sqrt(sq) <= bound) return clipped;
    }
    return fail('ROUND_STATE', `member ${this.s.memberId}: randomized rounding kept exceeding the L2 bound ${bound.toFixed(1)} steps`, 'delta');
  }

  /**
   * Opens the sealed shares addressed to this member and keeps them (maskedInput does this
   * itself; a runtime may call it early, before local training ends). Returns the senders whose
   * shares opened: exactly the neighbours this member will mask with.
   */
  acceptShares(request: MaskedInputRequest): string[] {
    checkBinding(request, this.ctx.config, 'masked_input');
    if (this.s.stage !== 'masked_input') fail('ROUND_STATE', `member ${this.s.memberId} is at stage ${this.s.stage}, not masked_input`, 'stage');
    this.openShares(request);
    return Object.keys(this.s.held).sort();
  }

  private openShares(request: MaskedInputRequest): void {
    const me = this.s.memberId;
    const myIndex = this.ctx.indexOf.get(me)!;
    const encryption = this.keyPair('encryption');
    const held: Record<string, [string, string]> = {};
    for (const sealed of request.shares) {
      // Only from neighbours whose keys this member verified: a share from anyone else cannot be authentic.
      if (sealed.to !== me || !(sealed.from in this.s.accepted) || sealed.from in held) continue;
      const key = deriveSharedKey(encryption, decodeBase64(this.s.accepted[sealed.from][0], 'encryptionKey'), 'shareEncryption', this.ctx.binding);
      let plaintext: Uint8Array;
      try {
        plaintext = open(decodeBase64(sealed.ciphertext, 'ciphertext'), key, this.envelopeBinding(sealed.from, me));
      } catch {
        continue;
      }
      if (plaintext.length !== 74) continue;
      const maskShare = decodeShare(plaintext.subarray(0, 37));
      const selfShare = decodeShare(plaintext.subarray(37));
      if (maskShare.index !== myIndex || selfShare.index !== myIndex) continue;
      held[sealed.from] = [toBase64(plaintext.subarray(0, 37)), toBase64(plaintext.subarray(37))];
    }
    this.s.held = held;
  }

  /** Stage 4: signs the survivor set (once per round). */
  consistency(request: ConsistencyRequest): ConsistencyMessage {
    checkBinding(request, this.ctx.config, 'consistency');
    return this.once('consistency', request, () => {
      const survivors = [...new Set(request.survivors)].sort();
      if (survivors.length !== request.survivors.length) fail('BAD_REQUEST', 'survivors: duplicate member ids', 'survivors');
      if (!survivors.includes(this.s.memberId)) fail('BAD_REQUEST', `survivors: this member (${this.s.memberId}) sent a masked input but is not listed`, 'survivors');
      if (survivors.some((id) => !this.ctx.indexOf.has(id))) fail('BAD_REQUEST', 'survivors: lists a member outside the cohort', 'survivors');
      if (survivors.length < this.ctx.t) fail('ROUND_STATE', `only ${survivors.length} survivors; at least ${this.ctx.t} needed before revealing anything`, 'survivors');
      const minSurvivors = this.ctx.config.distributedNoise?.minSurvivors ?? 0;
      if (survivors.length < minSurvivors) {
        fail('ROUND_STATE', `only ${survivors.length} survivors; the distributed noise is calibrated for a sum over at least ${minSurvivors} members, and fewer would weaken the privacy guarantee`, 'survivors');
      }
      this.s.signedSurvivors = survivors;
      return signMessage<ConsistencyMessage>({ ...this.binding('consistency'), survivorsHash: survivorSetHash(survivors) }, this.identity.secretKey);
    });
  }

  /**
   * Stage 5: reveals the self-mask share of each survivor and the mask-key share of each dropped
   * member it holds shares of; with self-shares, its own self-mask share too (it is a survivor:
   * the set it signed lists it). Refuses a request that lists a member as both survivor and dropped,
   * that differs from the survivor set it signed, or that lacks t valid signatures on that set.
   */
  unmask(request: UnmaskRequest): UnmaskMessage {
    checkBinding(request, this.ctx.config, 'unmask');
    return this.once('unmask', request, () => {
      const signed = this.s.signedSurvivors;
      if (!signed) return fail('ROUND_STATE', 'unmask before signing a survivor set', 'stage');
      const survivorSet = new Set(request.survivors);
      const both = request.dropped.filter((id) => survivorSet.has(id));
      if (both.length > 0) fail('FORBIDDEN', `refused: the request asks for both shares of member ${both[0]} (self mask and mask key); that would reveal its input`, 'dropped');
      const signedJson = canonicalJson(signed);
      const survivors = [...request.survivors].sort();
      if (canonicalJson(survivors) !== signedJson) fail('FORBIDDEN', 'refused: the survivor set differs from the one this member signed', 'survivors');
      const signedSet = new Set(signed);
      const signers = new Set<string>();
      // Each signature is checked over the consistency message its signer would have sent for the
      // set this member signed (the request carries signatures only; any other set fails here).
      // t valid signatures on the same set are what is required; checking more adds nothing.
      const survivorsHash = survivorSetHash(signed);
      for (const sig of request.signatures) {
        if (signers.size >= this.ctx.t) break;
        const key = this.ctx.identityKeys.get(sig.memberId);
        if (!key || !signedSet.has(sig.memberId) || signers.has(sig.memberId)) continue;
        const message: ConsistencyMessage = { ...this.binding('consistency'), memberId: sig.memberId, survivorsHash, signature: sig.signature };
        if (verifyMessage(message, key)) signers.add(sig.memberId);
      }
      if (signers.size < this.ctx.t) fail('FORBIDDEN', `refused: ${signers.size} valid signatures on the survivor set; ${this.ctx.t} needed`, 'signatures');
      const shares: RevealedShare[] = [];
      const me = this.s.memberId;
      const own = this.ctx.selfShares ? this.s.ownShares : undefined;
      if (own && !survivorSet.has(me)) fail('FORBIDDEN', `refused: the survivor set does not list this member (${me}); it reveals its own share only as a survivor`, 'survivors');
      for (const id of survivors) {
        if (id === me && own) shares.push({ of: id, kind: 'self_mask', share: own[1] });
        else if (id in this.s.held) shares.push({ of: id, kind: 'self_mask', share: this.s.held[id][1] });
      }
      for (const id of [...new Set(request.dropped)].sort()) {
        // Never its own (id === me is not in held): this member is alive, and its self-mask share is out.
        if (id !== me && id in this.s.held) shares.push({ of: id, kind: 'mask_key', share: this.s.held[id][0] });
      }
      return signMessage<UnmaskMessage>({ ...this.binding('unmask'), shares }, this.identity.secretKey);
    });
  }
}
