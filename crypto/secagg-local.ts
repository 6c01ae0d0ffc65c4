/**
 * @module Runs a whole secure-aggregation round in one process: real client and server state
 * machines, messages passed by function call, with members vanishing after chosen stages and an
 * optional hook to replace the server between stages (a restart). Used by the tests, the
 * benchmark and the simulations; the real transport lives in clients/ and aggregator/.
 */
import { TesseraError } from '../core/errors.ts';
import type { SecAggMessage, SecAggRoundConfig, SecAggStage } from '../core/secagg-wire.ts';
import { SECAGG_STAGES } from '../core/secagg-wire.ts';
import { createRng } from '../core/random.ts';
import type { NoiseSource } from './ddp-noise.ts';
import type { IdentityKeyPair } from './identity.ts';
import { generateIdentity, toBase64 } from './identity.ts';
import type { RoundConfigInput } from './secagg-config.ts';
import { createRoundConfig } from './secagg-config.ts';
import type { MemberUpdate } from './secagg-client.ts';
import { SecAggClient } from './secagg-client.ts';
import type { SecAggResult } from './secagg-server.ts';
import { SecAggServer } from './secagg-server.ts';

export interface LocalRoundOptions {
  config: SecAggRoundConfig;
  identities: ReadonlyMap<string, IdentityKeyPair>;
  updates: ReadonlyMap<string, MemberUpdate>;
  /** Members that complete the given stage and then vanish (send nothing afterwards). */
  dropAfter?: Partial<Record<SecAggStage, readonly string[]>>;
  /** Called once a stage's messages are in, before it closes; may return a replacement server. */
  beforeClose?: (stage: SecAggStage, server: SecAggServer) => SecAggServer | void;
  /** Sees every message the server accepts (to capture the server's view). */
  onMessage?: (message: SecAggMessage) => void;
  /** Stochastic-rounding source per member (tests); default: the client's own seed. */
  random?: (memberId: string) => () => number;
  /** Distributed-DP noise source per member (tests); default: the client's own seed. */
  noise?: (memberId: string) => NoiseSource;
}

export interface LocalRoundOutcome {
  result: SecAggResult;
  server: SecAggServer;
  clients: Map<string, SecAggClient>;
  /** Members whose client refused a request, with the reason. */
  refusals: Map<string, string>;
}

/** Drives every stage to the end (or to the failure) and returns the outcome. */
export function runLocalRound(opts: LocalRoundOptions): LocalRoundOutcome {
  const ids = opts.config.members.map((m) => m.id);
  const clients = new Map(ids.map((id) => [id, new SecAggClient({ config: opts.config, memberId: id, identity: opts.identities.get(id)!, random: opts.random?.(id), noise: opts.noise?.(id) })]));
  const active = new Set(ids);
  const refusals = new Map<string, string>();
  let server = new SecAggServer(opts.config);
  for (const stage of SECAGG_STAGES) {
    for (const id of ids) {
      if (!active.has(id)) continue;
      const client = clients.get(id)!;
      let message: SecAggMessage;
      try {
        if (stage === 'advertise_keys') {
          message = client.advertiseKeys();
        } else {
          const request = server.requestFor(id);
          if (!request) continue;
          switch (request.stage) {
            case 'share_keys': message = client.shareKeys(request); break;
            case 'masked_input': message = client.maskedInput(request, opts.updates.get(id)!); break;
            case 'consistency': message = client.consistency(request); break;
            case 'unmask': message = client.unmask(request); break;
          }
        }
      } catch (e) {
        if (!(e instanceof TesseraError)) throw e;
        refusals.set(id, e.message);
        active.delete(id);
        continue;
      }
      server.receive(message);
      opts.onMessage?.(message);
    }
    server = opts.beforeClose?.(stage, server) ?? server;
    const next = server.close();
    if (next === 'failed') break;
    for (const id of opts.dropAfter?.[stage] ?? []) active.delete(id);
  }
  return { result: server.result()!, server, clients, refusals };
}

export interface LocalCohort {
  config: SecAggRoundConfig;
  identities: Map<string, IdentityKeyPair>;
  updates: Map<string, MemberUpdate>;
}

/**
 * A cohort of n members "m00".."m(n-1)" with fresh identities and seeded deltas (normal, scaled
 * so a few coordinates exceed the clip) and example counts (some above maxWeight).
 */
export function createLocalCohort(opts: { members: number; params: number; seed?: number } & Partial<Omit<RoundConfigInput, 'members' | 'params'>>): LocalCohort {
  const rng = createRng(opts.seed ?? 1);
  const width = String(opts.members - 1).length;
  const ids = Array.from({ length: opts.members }, (_, i) => `m${String(i).padStart(width, '0')}`);
  const identities = new Map(ids.map((id) => [id, generateIdentity()]));
  const maxWeight = opts.maxWeight ?? 1000;
  const clip = opts.clip ?? 1;
  const config = createRoundConfig({
    ...opts,
    federationId: opts.federationId ?? 'fed-local',
    round: opts.round ?? 1,
    members: ids.map((id) => ({ id, identityKey: toBase64(identities.get(id)!.publicKey) })),
    params: opts.params,
    clip,
    maxWeight,
  });
  const updates = new Map(ids.map((id) => {
    const delta = new Float32Array(opts.params);
    for (let i = 0; i < delta.length; i++) delta[i] = rng.normal() * clip * 0.4;
    return [id, { delta, weight: 1 + rng.int(Math.round(maxWeight * 1.2)) }];
  }));
  return { config, identities, updates };
}

/** The plaintext reference: sum over members of min(weight, maxWeight) * clip(delta), and the total weight. */
export function plaintextWeightedSum(config: SecAggRoundConfig, updates: Iterable<MemberUpdate>): { weightedSum: Float64Array; totalWeight: number; clipped: number } {
  const { params, maxWeight, quantization: { clip } } = config;
  const weightedSum = new Float64Array(params);
  let totalWeight = 0;
  let clipped = 0;
  for (const { delta, weight } of updates) {
    const w = Math.min(weight, maxWeight);
    totalWeight += w;
    for (let i = 0; i < params; i++) {
      const v = delta[i];
      if (v > clip || v < -clip) clipped++;
      weightedSum[i] += w * Math.max(-clip, Math.min(clip, v));
    }
  }
  return { weightedSum, totalWeight, clipped };
}
