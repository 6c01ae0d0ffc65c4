/**
 * @module A secure-aggregation round's public configuration: built by the aggregator when the
 * round is configured (where the headroom rule and the k/t rule are applied), checked again by
 * every member, and expanded into the context both state machines share (indices, neighbour
 * lists, the string that binds derived keys to this round).
 */
import { TesseraError } from '../core/errors.ts';
import { sodium } from '../core/sodium.ts';
import type { SecAggMember, SecAggRoundConfig } from '../core/secagg-wire.ts';
import { SECAGG_EXTRA_WORDS, SECAGG_PROTOCOL } from '../core/secagg-wire.ts';
import { fromBase64 } from './identity.ts';
import { chooseGraphParameters, defaultSelfShares, neighbourGraph } from './neighbours.ts';
import { checkHeadroom, maxBitsFor } from './quantization.ts';
import { checkRoundNoise } from './ddp-round.ts';

/** The most members a round may have: the 16-bit digits of weight and clipped count must not wrap. */
export const MAX_SECAGG_MEMBERS = 65_536;
/** The largest weight cap: a capped weight fits the two 16-bit digits of its coordinate pair. */
export const MAX_WEIGHT_CAP = 2 ** 32 - 1;

function bad(field: string, message: string): never {
  throw new TesseraError('BAD_REQUEST', `${field}: ${message}`, { field });
}

/** The default public graph seed: BLAKE2b-256 of the round's identity and cohort (so the aggregator cannot pick it freely). */
export function defaultGraphSeed(federationId: string, round: number, memberIds: readonly string[]): string {
  const text = ['tessera/secagg/graph/v1', federationId, String(round), ...[...memberIds].sort()].join('\n');
  return sodium.to_hex(sodium.crypto_generichash(32, new TextEncoder().encode(text), null));
}

export interface RoundConfigInput {
  federationId: string;
  round: number;
  members: SecAggMember[];
  params: number;
  clip: number;
  /** Bits per member value; default: the most the headroom rule allows for this cohort, capped at 24. */
  bits?: number;
  maxWeight: number;
  /** Overrides of the k/t rule. */
  neighbours?: number;
  threshold?: number;
  /** Members keep a share of their own secrets (SecAggRoundConfig.selfShares); default: defaultSelfShares(k), i.e. on when k = 2. */
  selfShares?: boolean;
  graphSeed?: string;
}

/**
 * The neighbour count k, threshold t and self-share setting the documented rule gives a cohort of
 * n under the federation's settings: the aggregator configures rounds with it, and every member
 * recomputes it, so an aggregator cannot announce a weaker threshold than the federation publishes.
 */
export function graphFor(n: number, s: { neighbours?: number; threshold?: number; selfShares?: boolean }): { k: number; t: number; selfShares: boolean } {
  const selfShares = s.selfShares ?? defaultSelfShares(chooseGraphParameters(n, { k: s.neighbours }).k);
  const { k, t } = chooseGraphParameters(n, { k: s.neighbours, t: s.threshold, selfShares });
  return { k, t, selfShares };
}

/** Builds a round configuration, applying the documented defaults; throws naming the first bad field. */
export function createRoundConfig(input: RoundConfigInput): SecAggRoundConfig {
  const members = [...input.members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const n = members.length;
  if (input.selfShares !== undefined && typeof input.selfShares !== 'boolean') bad('secagg.selfShares', `expected true or false, got ${JSON.stringify(input.selfShares)}`);
  const { k, t, selfShares } = graphFor(n, { neighbours: input.neighbours, threshold: input.threshold, selfShares: input.selfShares });
  const config: SecAggRoundConfig = {
    protocol: SECAGG_PROTOCOL,
    federationId: input.federationId,
    round: input.round,
    members,
    graphSeed: input.graphSeed ?? defaultGraphSeed(input.federationId, input.round, members.map((m) => m.id)),
    neighbours: k,
    threshold: t,
    // Only when on: a configuration without self-shares stays byte-identical to one made before the field existed.
    ...(selfShares ? { selfShares: true } : {}),
    params: input.params,
    quantization: { clip: input.clip, bits: input.bits ?? Math.min(24, maxBitsFor(n)) },
    maxWeight: input.maxWeight,
  };
  checkRoundConfig(config);
  return config;
}

/** Validates a configuration received from elsewhere (members check what the aggregator announced). */
export function checkRoundConfig(config: SecAggRoundConfig): void {
  if (config.protocol !== SECAGG_PROTOCOL) bad('protocol', `expected "${SECAGG_PROTOCOL}", got ${JSON.stringify(config.protocol)}`);
  if (typeof config.federationId !== 'string' || config.federationId.length === 0 || config.federationId.includes('\n')) bad('federationId', 'expected a non-empty single-line string');
  if (!Number.isInteger(config.round) || config.round < 0) bad('round', 'expected a non-negative integer');
  const n = config.members.length;
  if (n > MAX_SECAGG_MEMBERS) bad('members', `at most ${MAX_SECAGG_MEMBERS} members per round, got ${n}`);
  config.members.forEach((m, i) => {
    if (typeof m.id !== 'string' || !/^[A-Za-z0-9._:@-]{1,128}$/.test(m.id)) bad(`members[${i}].id`, 'expected 1-128 letters, digits or ._:@-');
    if (i > 0 && !(config.members[i - 1].id < m.id)) bad(`members[${i}].id`, 'members must be sorted by id without duplicates');
    const key = fromBase64(m.identityKey);
    if (!key || key.length !== 32) bad(`members[${i}].identityKey`, 'expected a base64url Ed25519 public key');
  });
  if (config.selfShares !== undefined && typeof config.selfShares !== 'boolean') bad('secagg.selfShares', `expected true or false, got ${JSON.stringify(config.selfShares)}`);
  const chosen = chooseGraphParameters(n, { k: config.neighbours, t: config.threshold, selfShares: config.selfShares === true });
  if (chosen.k !== config.neighbours) bad('neighbours', `no ${config.neighbours}-regular graph on ${n} members`);
  if (!/^[0-9a-f]{64}$/.test(config.graphSeed)) bad('graphSeed', 'expected 64 hex digits');
  if (!Number.isInteger(config.params) || config.params < 1 || config.params > 2 ** 28) bad('params', 'expected an integer in [1, 2^28]');
  if (!Number.isInteger(config.maxWeight) || config.maxWeight < 1 || config.maxWeight > MAX_WEIGHT_CAP) bad('maxWeight', `expected an integer in [1, ${MAX_WEIGHT_CAP}]`);
  checkHeadroom(n, config.quantization);
  // With distributed DP: the noise's tail must fit too, and the variance must be what the settings give.
  checkRoundNoise(config);
}

/**
 * What a round's k, t and self-shares guarantee; docs/secure-aggregation.md derives each bound.
 * h is the number of holders of a member's self-mask seed: k, or k + 1 with self-shares.
 */
export interface RoundGuarantees {
  /**
   * Members that may vanish after share_keys, wherever they sit in the graph and after whichever
   * stage, with the round still completing: h - t (t holders of each survivor's self-mask seed
   * must be alive to reveal it). 0 for 3 members without self-shares (k = t = 2), 1 with them.
   */
  dropouts: number;
  /** Colluding members an honest-but-curious aggregator may add without learning a member's input: t - 1 (self-shares change nothing: a member reveals its own share only of b, and only as a survivor). */
  colludingMembers: number;
  /**
   * Colluding neighbours an active aggregator (one that tells holders different survivor lists)
   * may add: the largest c with 2t > h + c, i.e. 2t - h - 1 (the victim's own b-share counts on
   * the aggregator's side: it shows the victim a list where it survived). 0 for odd k at the
   * default t without self-shares, and for every k at the default t with them.
   */
  colludingWithActiveAggregator: number;
}

/** The guarantees of a k/t/self-shares choice (both halves use the same rule). */
export function roundGuarantees(k: number, t: number, selfShares = false): RoundGuarantees {
  const holders = k + (selfShares ? 1 : 0);
  return { dropouts: Math.max(0, holders - t), colludingMembers: t - 1, colludingWithActiveAggregator: Math.max(0, 2 * t - holders - 1) };
}

/** Everything derived from a configuration that both halves of the protocol use. */
export interface RoundContext {
  config: SecAggRoundConfig;
  n: number;
  k: number;
  t: number;
  /** Members keep and reveal a share of their own self-mask seed (SecAggRoundConfig.selfShares). */
  selfShares: boolean;
  /** Words in a masked vector. */
  words: number;
  ids: string[];
  /** Shamir index (1-based) of a member id. */
  indexOf: Map<string, number>;
  identityKeys: Map<string, Uint8Array>;
  /** Neighbour ids of each member id. */
  neighbours: Map<string, Set<string>>;
  /** Binds derived keys to this federation and round. */
  binding: string;
}

/** Checks a configuration and derives its context (the neighbour graph included). */
// Contexts derived in this process, by the config's content: members sharing a process (a
// simulation, a host running several) derive the graph and decode the cohort's keys once, not
// once each (O(members) work and memory per member). Contexts are never mutated.
const derived = new Map<string, RoundContext>();

export function roundContext(config: SecAggRoundConfig): RoundContext {
  const key = sodium.to_hex(sodium.crypto_generichash(32, JSON.stringify(config), null));
  const known = derived.get(key);
  if (known) return known;
  const ctx = deriveRoundContext(config);
  derived.set(key, ctx);
  if (derived.size > 8) derived.delete(derived.keys().next().value!);
  return ctx;
}

function deriveRoundContext(config: SecAggRoundConfig): RoundContext {
  checkRoundConfig(config);
  const ids = config.members.map((m) => m.id);
  const graph = neighbourGraph(ids.length, config.neighbours, sodium.from_hex(config.graphSeed));
  return {
    config,
    n: ids.length,
    k: config.neighbours,
    t: config.threshold,
    selfShares: config.selfShares === true,
    words: config.params + SECAGG_EXTRA_WORDS,
    ids,
    indexOf: new Map(ids.map((id, i) => [id, i + 1])),
    identityKeys: new Map(config.members.map((m) => [m.id, fromBase64(m.identityKey)!])),
    neighbours: new Map(ids.map((id, i) => [id, new Set(graph[i].map((j) => ids[j]))])),
    binding: `${config.federationId}\n${config.round}`,
  };
}

/** BLAKE2b-256 commitment to a member's self-mask seed, bound to the round and member. */
export function selfMaskCommitment(ctx: RoundContext, memberId: string, seed: Uint8Array): string {
  const label = new TextEncoder().encode(`tessera/secagg/self-mask-commitment/v1\n${ctx.binding}\n${memberId}\n`);
  const msg = new Uint8Array(label.length + seed.length);
  msg.set(label);
  msg.set(seed, label.length);
  return sodium.to_hex(sodium.crypto_generichash(32, msg, null));
}

/** The sign with which u adds its mask shared with v: + when u's index is lower, so the pair cancels. */
export const pairwiseSign = (ctx: RoundContext, u: string, v: string): 1 | -1 => (ctx.indexOf.get(u)! < ctx.indexOf.get(v)! ? 1 : -1);
