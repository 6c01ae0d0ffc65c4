/**
 * @module The member's half of a secure round, over HTTP: drives SecAggClient through the stages
 * the announcement names (training starts right after advertise_keys and is awaited at
 * masked_input), keeps the client's snapshot in a SecAggStateStore before each answer is sent
 * (so a restarted member answers the same request with the same bytes), and reports a request
 * its client refuses instead of answering it.
 */
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { TesseraError } from '../core/errors.ts';
import type { SecureConfig } from '../core/federation.ts';
import type { RoundAnnouncement } from '../core/rounds.ts';
import { isSecAggStage } from '../core/rounds.ts';
import { decodeSecAggMessage, encodeSecAggMessage } from '../core/secagg-body.ts';
import type { SecAggMessage, SecAggRoundConfig, SecAggStage } from '../core/secagg-wire.ts';
import type { IdentityKeyPair } from '../crypto/identity.ts';
import { fromBase64, toBase64 } from '../crypto/identity.ts';
import type { ClientSnapshot } from '../crypto/secagg-client.ts';
import { cloneSnapshot, SecAggClient } from '../crypto/secagg-client.ts';
import { graphFor } from '../crypto/secagg-config.ts';
import type { UploadFallbackEvent, UploadVia } from './store-upload.ts';
import { uploadThroughStore } from './store-upload.ts';
import type { Transport } from './transport.ts';

/** What a member keeps of one secure round: the client's state and, once computed, its masked input as sent. */
export interface SavedSecAggRound {
  snapshot: ClientSnapshot;
  /** The masked-input body (base64url), so a retry after a restart sends identical bytes. */
  maskedInput?: string;
}

/** Where a member keeps its secure-round state; it holds that round's secret keys. */
export interface SecAggStateStore {
  load(federationId: string, round: number): SavedSecAggRound | null;
  save(federationId: string, round: number, saved: SavedSecAggRound): void;
}

/** In memory (in-process runs, tests): lost with the process. */
export function memorySecAggStore(): SecAggStateStore {
  const rounds = new Map<string, SavedSecAggRound>();
  return {
    // Copies (the caller may change what it gets), sharing the round's never-changed configuration.
    load(fid, round) {
      const saved = rounds.get(`${fid}/${round}`);
      return saved ? { ...saved, snapshot: cloneSnapshot(saved.snapshot) } : null;
    },
    save: (fid, round, saved) => void rounds.set(`${fid}/${round}`, { ...saved, snapshot: cloneSnapshot(saved.snapshot) }),
  };
}

/** A JSON file (mode 0600, replaced atomically) keeping the last few rounds; put it next to the identity file. */
export function fileSecAggStore(path: string, keep = 3): SecAggStateStore {
  const read = (): Record<string, SavedSecAggRound> => {
    if (!existsSync(path)) return {};
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as Record<string, SavedSecAggRound>;
    } catch (e) {
      throw new TesseraError('BAD_REQUEST', `secure-aggregation state ${path}: ${(e as Error).message}; move it away to start afresh`, { field: 'secaggState' });
    }
  };
  return {
    load: (fid, round) => read()[`${fid}/${round}`] ?? null,
    save(fid, round, saved) {
      const all = read();
      all[`${fid}/${round}`] = saved;
      const kept = Object.entries(all).sort(([, a], [, b]) => b.snapshot.config.round - a.snapshot.config.round).slice(0, keep);
      const tmp = `${path}.tmp`;
      writeFileSync(tmp, JSON.stringify(Object.fromEntries(kept)), { mode: 0o600 });
      chmodSync(tmp, 0o600);
      renameSync(tmp, path);
    },
  };
}

/** The member's identity key pair from its Ed25519 secret key (libsodium keeps the public half in the last 32 bytes). */
export function identityFromSecret(secretKey: Uint8Array): IdentityKeyPair {
  return { secretKey, publicKey: secretKey.slice(32, 64) };
}

export type SecAggEvent =
  | { kind: 'secagg'; round: number; stage: SecAggStage; via?: 'http' | 'url' }
  | { kind: 'secagg-refused'; round: number; stage: SecAggStage; reason: string }
  | UploadFallbackEvent;

export interface SecureMemberOptions {
  transport: Transport;
  federationId: string;
  memberId: string;
  identity: IdentityKeyPair;
  store: SecAggStateStore;
  /** The federation's published settings: the member refuses a round configured otherwise. */
  settings: SecureConfig;
  /** Trains from the round's model; returns the flat delta and the example count. */
  train: (round: RoundAnnouncement) => Promise<{ delta: Float32Array; examples: number }>;
  emit: (e: SecAggEvent) => void;
  /** Called before the masked input is sent, with the delta it masks (tests compare the secure result with it). */
  onMaskedInput?: (e: { round: number; delta: Float32Array; examples: number }) => void;
  /** The member's store path for the masked input (the same option as for plaintext updates); else HTTP only. */
  uploadVia?: UploadVia;
  /** Overrides stochastic rounding (tests comparing two runs exactly). */
  random?: () => number;
}

interface RoundState {
  client: SecAggClient;
  training: Promise<{ delta: Float32Array; examples: number }> | null;
  refused: boolean;
  maskedInput?: string;
}

/**
 * What is wrong with an announced round configuration, or null: it must be this federation's and
 * this round's, with the published settings. k, t and self-shares follow from the cohort size and
 * those settings and are recomputed here, so an aggregator cannot announce a weaker threshold than
 * the federation's rule gives.
 */
export function announcedConfigProblem(c: SecAggRoundConfig, at: { federationId: string; round: number }, s: SecureConfig): string | null {
  const g = graphFor(c.members.length, { neighbours: s.neighbours ?? undefined, threshold: s.threshold ?? undefined, selfShares: s.selfShares ?? undefined });
  return (
    c.federationId !== at.federationId ? `federation ${c.federationId}` :
    c.round !== at.round ? `round ${c.round}` :
    c.neighbours !== g.k ? `${c.neighbours} neighbours (the federation's settings give ${g.k} for ${c.members.length} members)` :
    c.threshold !== g.t ? `threshold ${c.threshold} (the federation's settings give ${g.t} for ${c.members.length} members)` :
    (c.selfShares === true) !== g.selfShares ? `selfShares ${c.selfShares === true} (the federation's settings give ${g.selfShares})` :
    c.quantization.clip !== s.clip ? `clip ${c.quantization.clip} (the federation publishes ${s.clip})` :
    c.maxWeight !== s.maxWeight ? `maxWeight ${c.maxWeight} (the federation publishes ${s.maxWeight})` :
    s.bits !== null && c.quantization.bits !== s.bits ? `bits ${c.quantization.bits} (the federation publishes ${s.bits})` :
    noiseMismatch(c.distributedNoise, s.distributedNoise ?? null)
  );
}

/** Distributed noise must be announced exactly as published (the member computes the variance itself: crypto/ddp-round.ts). */
function noiseMismatch(announced: SecAggRoundConfig['distributedNoise'], published: SecureConfig['distributedNoise']): string | null {
  if (!published) return announced ? 'distributed noise the federation does not publish' : null;
  if (!announced) return `no distributed noise (the federation publishes ${published.mechanism} at epsilon ${published.epsilon})`;
  const key = (n: { mechanism: string; epsilon: number; delta: number; l2Clip: number; minSurvivors: number }) => JSON.stringify([n.mechanism, n.epsilon, n.delta, n.l2Clip, n.minSurvivors]);
  return key(announced) !== key(published) ? `distributed noise ${key(announced)} (the federation publishes ${key(published)})` : null;
}

/** One member's secure rounds. `step` answers the open stage if the announcement asks for it. */
export function createSecureMember(opts: SecureMemberOptions) {
  const { transport, federationId, memberId, store } = opts;
  const rounds = new Map<number, RoundState>();
  const path = (round: number, stage: SecAggStage) => `/v1/federations/${federationId}/members/${memberId}/rounds/${round}/secagg/${stage}`;

  const startTraining = (state: RoundState, round: RoundAnnouncement) => {
    const p = opts.train(round);
    p.catch(() => {}); // awaited (and its error surfaced) at masked_input
    state.training = p;
  };

  function stateFor(round: RoundAnnouncement): RoundState | null {
    const known = rounds.get(round.round);
    if (known) return known;
    const saved = store.load(federationId, round.round);
    if (saved) {
      const state: RoundState = { client: SecAggClient.restore(saved.snapshot, opts.identity, opts.random), training: null, refused: false, maskedInput: saved.maskedInput };
      rounds.set(round.round, state);
      return state;
    }
    // Only a member that advertised keys this round can take part in its later stages.
    if (round.stage !== 'advertise_keys' || !round.secagg) return null;
    checkSettings(round);
    const state: RoundState = { client: new SecAggClient({ config: round.secagg.config, memberId, identity: opts.identity, random: opts.random }), training: null, refused: false };
    rounds.set(round.round, state);
    return state;
  }

  function checkSettings(round: RoundAnnouncement): void {
    const wrong = announcedConfigProblem(round.secagg!.config, { federationId, round: round.round }, opts.settings);
    if (wrong) throw new TesseraError('FORBIDDEN', `refused: the round's secure-aggregation configuration names ${wrong}`, { field: 'secagg.config' });
  }

  async function answer(state: RoundState, round: RoundAnnouncement, stage: SecAggStage): Promise<SecAggMessage> {
    const { client } = state;
    const request = round.secagg!.request;
    if (stage === 'advertise_keys') {
      const m = client.advertiseKeys();
      if (!state.training) startTraining(state, round);
      return m;
    }
    if (!request || request.stage !== stage) throw new TesseraError('ROUND_STATE', `no ${stage} request for member ${memberId}`);
    switch (request.stage) {
      case 'share_keys': return client.shareKeys(request);
      case 'masked_input': {
        if (state.maskedInput && client.stage !== 'masked_input') return decodeSecAggMessage(fromBase64(state.maskedInput)!, 'masked_input');
        if (!state.training) startTraining(state, round);
        const { delta, examples } = await state.training!;
        opts.onMaskedInput?.({ round: round.round, delta, examples });
        return client.maskedInput(request, { delta, weight: examples });
      }
      case 'consistency': return client.consistency(request);
      case 'unmask': return client.unmask(request);
    }
  }

  return {
    /** Answers the announced stage when it is this member's turn; true when it sent something. */
    async step(round: RoundAnnouncement | null): Promise<boolean> {
      if (!round?.secagg || round.status !== 'open' || !isSecAggStage(round.stage) || round.secagg.answered) return false;
      if (round.memberStatus !== 'selected' && round.memberStatus !== 'submitted') return false;
      const stage = round.stage;
      if (stage !== 'advertise_keys' && !round.secagg.request) return false;
      let state: RoundState | null;
      let message: SecAggMessage;
      try {
        state = stateFor(round);
        if (!state || state.refused) return false;
        message = await answer(state, round, stage);
      } catch (e) {
        if (!(e instanceof TesseraError)) throw e;
        // An honest member does not answer what its client refuses; it says why, and leaves the round.
        const known = rounds.get(round.round);
        if (known) known.refused = true;
        else rounds.set(round.round, { client: null as unknown as SecAggClient, training: null, refused: true });
        opts.emit({ kind: 'secagg-refused', round: round.round, stage, reason: e.message });
        await transport.send('PUT', `${path(round.round, stage)}/refusal`, { body: { reason: e.message.slice(0, 2000) } }).catch(() => undefined);
        return true;
      }
      const body = encodeSecAggMessage(message);
      if (stage === 'masked_input') state.maskedInput = toBase64(body);
      // Kept before it is sent: a restarted member answers the same request with the same bytes.
      store.save(federationId, round.round, { snapshot: state.client.snapshot(), ...(state.maskedInput ? { maskedInput: state.maskedInput } : {}) });
      try {
        // A masked input may travel through the member's own store (as a plaintext update does).
        const via = await uploadThroughStore({
          body, round: round.round, stage: 'masked_input', uploadVia: stage === 'masked_input' ? opts.uploadVia : undefined,
          viaUrl: (ref) => transport.send('PUT', `${path(round.round, stage)}/url`, { body: { ...ref }, retry: false }),
          direct: () => transport.send('PUT', path(round.round, stage), { body }),
          onFallback: (reason) => opts.emit({ kind: 'upload-fallback', round: round.round, reason }),
        });
        opts.emit({ kind: 'secagg', round: round.round, stage, ...(stage === 'masked_input' ? { via } : {}) });
      } catch (e) {
        // The stage closed meanwhile, or the aggregator dropped us: wait for what comes next.
        if (!(e instanceof TesseraError && (e.code === 'STALE_STAGE' || e.code === 'FORBIDDEN'))) throw e;
        opts.emit({ kind: 'secagg-refused', round: round.round, stage, reason: `aggregator: ${e.message}` });
      }
      return true;
    },
  };
}

export type SecureMember = ReturnType<typeof createSecureMember>;
