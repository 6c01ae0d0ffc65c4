/**
 * @module Secure-aggregation wire format: stage names, the round configuration every party
 * derives the same graph from, and the messages between members and the aggregator. Plain
 * types and constants only; the cryptography lives in crypto/.
 *
 * Binary fields are URL-safe base64 without padding, except a masked vector, which travels as
 * raw bytes (little-endian u32 words) beside its BLAKE2b-256 hash. Every member message carries
 * protocol, federationId, round, stage and memberId, and an Ed25519 signature over all of them,
 * so a message from another round, stage or member is refused.
 */
import type { Stage } from './rounds.ts';

/** Protocol version tag carried by every message. */
export const SECAGG_PROTOCOL = 'tessera-secagg/2';

/** Domain-separation prefix of every signed secure-aggregation message. */
export const SECAGG_SIGNATURE_TAG = 'TESSERA-SECAGG-V1';

/** The protocol's stages, in order (Bonawitz et al. 2017). */
export const SECAGG_STAGES = ['advertise_keys', 'share_keys', 'masked_input', 'consistency', 'unmask'] as const satisfies readonly Stage[];
export type SecAggStage = (typeof SECAGG_STAGES)[number];

/**
 * Words appended after the model's coordinates in a masked vector: the member's capped weight and
 * its clipped-coordinate count, each as two 16-bit digits (low, high) so that sums of up to
 * 65536 members cannot wrap.
 */
export const SECAGG_EXTRA_WORDS = 4;
export const EXTRA_WORD = { weightLow: 0, weightHigh: 1, clippedLow: 2, clippedHigh: 3 } as const;

/** The two secrets a member shares: its self-mask seed b and its mask secret key s_sk. */
export const SHARE_KINDS = ['self_mask', 'mask_key'] as const;
export type ShareKind = (typeof SHARE_KINDS)[number];

/** A cohort member as the round knows it: its id and Ed25519 identity public key. */
export interface SecAggMember {
  id: string;
  identityKey: string;
}

/** Public parameters of one secure-aggregation round; identical for every party. */
export interface SecAggRoundConfig {
  protocol: typeof SECAGG_PROTOCOL;
  federationId: string;
  round: number;
  /** The selected cohort, sorted by id; a member's Shamir index is its position + 1. */
  members: SecAggMember[];
  /** Public 32-byte seed (hex) of the neighbour graph. */
  graphSeed: string;
  /** k: neighbours per member (n - 1 = full SecAgg). */
  neighbours: number;
  /** t: shares needed to reconstruct a member's secret. */
  threshold: number;
  /**
   * Each member also keeps one share of its own b and s_sk, at its own index, and reveals its own
   * b-share at unmask when it survived (Bonawitz et al. 2017): b then has k + 1 holders, so the
   * round survives k + 1 - t losses. Absent (configs made before it existed): false.
   */
  selfShares?: boolean;
  /** m: model coordinates (the masked vector has m + SECAGG_EXTRA_WORDS words). */
  params: number;
  quantization: { clip: number; bits: number };
  /** Example counts above this are capped; weights are scaled by count / maxWeight. */
  maxWeight: number;
  /** Member-level distributed DP (crypto/ddp-noise.ts): absent when the federation adds none. */
  distributedNoise?: DistributedNoiseRound;
}

/** The distributed noise of one round: the federation's settings and the per-member variance derived from them. */
export interface DistributedNoiseRound {
  mechanism: 'discrete-gaussian' | 'skellam';
  epsilon: number;
  delta: number;
  /** L2 bound of each member's delta, in model units. */
  l2Clip: number;
  /** The fewest members whose noise a released sum may contain. */
  minSurvivors: number;
  /** Per-member noise variance per coordinate, in squared quantization steps. */
  variance: number;
}

/** Fields that bind a message to its federation, round, stage and sender. */
export interface SecAggBinding<S extends SecAggStage> {
  protocol: typeof SECAGG_PROTOCOL;
  federationId: string;
  round: number;
  stage: S;
  memberId: string;
}

/** Stage 1, member -> aggregator: two fresh X25519 public keys. */
export interface AdvertiseKeysMessage extends SecAggBinding<'advertise_keys'> {
  /** c_pk: for the envelopes carrying shares. */
  encryptionKey: string;
  /** s_pk: for the pairwise masks. */
  maskKey: string;
  signature: string;
}

/** A Shamir share pair (of the sender's b and s_sk) sealed to one recipient. */
export interface SealedShare {
  from: string;
  to: string;
  ciphertext: string;
}

/** Stage 2, member -> aggregator: one sealed share pair per accepted neighbour. */
export interface ShareKeysMessage extends SecAggBinding<'share_keys'> {
  /** BLAKE2b-256 commitment to the self-mask seed, checked after reconstruction. */
  selfMaskCommitment: string;
  shares: SealedShare[];
  signature: string;
}

/** Stage 3, member -> aggregator: the masked, quantized, weighted delta. */
export interface MaskedInputMessage extends SecAggBinding<'masked_input'> {
  /** Words in the vector (m + SECAGG_EXTRA_WORDS). */
  length: number;
  /** BLAKE2b-256 hex of the vector bytes; the signature covers it. */
  vectorHash: string;
  /** Little-endian u32 words; not part of the signed fields (its hash is). */
  vector: Uint8Array;
  signature: string;
}

/**
 * Stage 4, member -> aggregator: the member's signature on the survivor set it was sent, by its
 * hash (the aggregator holds the list; a 1,000-member list is ~38 KB, and every member checks t
 * of these signatures at unmask).
 */
export interface ConsistencyMessage extends SecAggBinding<'consistency'> {
  /** survivorSetHash (crypto/secagg-messages.ts) of the sorted survivor list in the consistency request. */
  survivorsHash: string;
  signature: string;
}

/** One revealed share: which member's secret, which kind, and the encoded share. */
export interface RevealedShare {
  of: string;
  kind: ShareKind;
  share: string;
}

/** Stage 5, member -> aggregator: shares of survivors' self masks and dropped members' mask keys. */
export interface UnmaskMessage extends SecAggBinding<'unmask'> {
  shares: RevealedShare[];
  signature: string;
}

export type SecAggMessage = AdvertiseKeysMessage | ShareKeysMessage | MaskedInputMessage | ConsistencyMessage | UnmaskMessage;

/** What the aggregator sends a member to run a stage (unsigned: its content is checked by the member). */
export interface SecAggRequestBase<S extends SecAggStage> {
  protocol: typeof SECAGG_PROTOCOL;
  federationId: string;
  round: number;
  stage: S;
  memberId: string;
}

/** Opens share_keys: the advertisements of the member's neighbours. */
export interface ShareKeysRequest extends SecAggRequestBase<'share_keys'> {
  advertisements: AdvertiseKeysMessage[];
}

/** Opens masked_input: the sealed shares addressed to the member. */
export interface MaskedInputRequest extends SecAggRequestBase<'masked_input'> {
  shares: SealedShare[];
}

/** Opens consistency: who sent a masked input. */
export interface ConsistencyRequest extends SecAggRequestBase<'consistency'> {
  survivors: string[];
}

/**
 * One member's consistency signature, without the rest of its message: the set it signed is the
 * request's `survivors` (the aggregator accepts no other), so the receiver verifies it over the
 * hash of the set it signed itself.
 */
export interface ConsistencySignature {
  memberId: string;
  signature: string;
}

/** Opens unmask: the signed survivor set and who dropped after sharing keys. */
export interface UnmaskRequest extends SecAggRequestBase<'unmask'> {
  survivors: string[];
  dropped: string[];
  signatures: ConsistencySignature[];
}

export type SecAggRequest = ShareKeysRequest | MaskedInputRequest | ConsistencyRequest | UnmaskRequest;
