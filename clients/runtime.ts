/**
 * @module The member runtime: the loop a member runs next to its data. It polls the current
 * round, fetches the announced model through a ModelSource (its home store, other replicas, the
 * aggregator; bytes whose hash differs from the announcement are never used) and reports what it
 * saw, trains with the member's own LocalModel, uploads the delta (over HTTP, or as a signed URL
 * of its own store), evaluates the committed model on its own test split and reports counts.
 * Plug in any LocalModel: the CLI's CSV + TF.js trainer is one.
 */
import { decodeWeights, encodeWeights } from '../core/codec.ts';
import type { EvaluationReport } from '../core/evaluation.ts';
import { TesseraError } from '../core/errors.ts';
import type { TrainingConfig, FederationConfig } from '../core/federation.ts';
import { contentHash } from '../core/hash.ts';
import { EXAMPLES_HEADER } from '../core/request-signing.ts';
import type { RoundAnnouncement } from '../core/rounds.ts';
import type { Tensor } from '../core/tensors.ts';
import { flatten, subtract, unflatten, layoutOf } from '../core/tensors.ts';
import type { FetchReport } from '../core/fetch-report.ts';
import type { ModelSource } from './model-source.ts';
import { createModelSource, worthReporting } from './model-source.ts';
import type { Transport } from './transport.ts';

/** What a member plugs in: local training and evaluation on its own data. */
export interface LocalModel {
  /** Trains from the global weights; returns the local weights and the number of training examples used. */
  train(global: Tensor[], ctx: { round: number; config: FederationConfig; training: TrainingConfig }): Promise<{ weights: Tensor[]; examples: number }>;
  /** Evaluates weights on the member's own test split. */
  evaluate(weights: Tensor[], ctx: { round: number }): Promise<EvaluationReport>;
}

export type MemberEvent =
  | { kind: 'waiting'; round: number | null; stage: string | null }
  | { kind: 'training'; round: number; modelVersion: number }
  | { kind: 'fetched'; round: number; modelVersion: number; source: string | null; attempts: number; report: FetchReport }
  | { kind: 'uploaded'; round: number; hash: string; examples: number; via: 'http' | 'url' }
  | { kind: 'upload-fallback'; round: number; reason: string }
  | { kind: 'evaluated'; round: number; report: EvaluationReport }
  | { kind: 'round-failed'; round: number; reason: string }
  | { kind: 'done'; rounds: number };

export interface RunMemberOptions {
  transport: Transport;
  federationId: string;
  memberId: string;
  model: LocalModel;
  pollMs?: number;
  onEvent?: (e: MemberEvent) => void;
  signal?: AbortSignal;
  /** Where models come from (default: the aggregator over HTTP). */
  modelSource?: ModelSource;
  /** Puts the encoded update in the member's own store and returns a time-limited URL the
   *  aggregator may GET; when it fails the update goes over HTTP instead. */
  uploadVia?: (body: Uint8Array, ctx: { round: number; hash: string }) => Promise<{ url: string }>;
}

/** Downloads a model version and checks it against the hash the announcement named. */
export async function fetchModel(transport: Transport, federationId: string, version: number, expectedHash: string): Promise<Tensor[]> {
  const { bytes } = await transport.bytes('GET', `/v1/federations/${federationId}/models/${version}`);
  const got = contentHash(bytes);
  if (got !== expectedHash) {
    throw new TesseraError('CONFLICT', `model version ${version}: received bytes hash to ${got}, the announcement names ${expectedHash}; refusing to use it`);
  }
  return decodeWeights(bytes);
}

/** Runs until the federation completes (or the signal aborts). */
export async function runMember(opts: RunMemberOptions): Promise<{ rounds: number; lastReport: EvaluationReport | null }> {
  const { transport, federationId, memberId, model } = opts;
  const emit = opts.onEvent ?? (() => {});
  const base = `/v1/federations/${federationId}`;
  const { federation } = await transport.json<{ federation: { config: FederationConfig } }>('GET', base);
  const config = federation.config;
  const source = opts.modelSource ?? createModelSource({ transport, federationId, memberId });
  // Fetches through the source and tells the aggregator when anything was off (best effort).
  const fetchFor = async (roundNo: number, version: number, hash: string, artifact: RoundAnnouncement['modelArtifact']): Promise<Tensor[]> => {
    const { weights, report } = await source.fetch(version, hash, artifact);
    emit({ kind: 'fetched', round: roundNo, modelVersion: version, source: report.usedSource, attempts: report.attempts.length, report });
    if (worthReporting(report)) {
      await transport.send('PUT', `${base}/members/${memberId}/rounds/${roundNo}/fetch-report`, { body: { ...report } }).catch(() => undefined);
    }
    return weights;
  };
  const trained = new Set<number>();
  const evaluated = new Set<number>();
  let lastReport: EvaluationReport | null = null;
  let lastWaiting = '';
  while (!opts.signal?.aborted) {
    const { federation: fed, round } = await transport.json<{ federation: { status: string }; round: RoundAnnouncement | null }>('GET', `${base}/members/${memberId}/round`);
    if (round?.status === 'open' && round.stage === 'fit' && round.memberStatus === 'selected' && !trained.has(round.round)) {
      trained.add(round.round);
      emit({ kind: 'training', round: round.round, modelVersion: round.modelVersion });
      const global = await fetchFor(round.round, round.modelVersion, round.modelHash, round.modelArtifact);
      const { weights, examples } = await model.train(global, { round: round.round, config, training: config.training });
      const delta = unflatten(subtract(flatten(weights), flatten(global)), layoutOf(global));
      const body = encodeWeights(delta);
      const hash = contentHash(body);
      try {
        let via: 'http' | 'url' = 'http';
        if (opts.uploadVia) {
          try {
            const { url } = await opts.uploadVia(body, { round: round.round, hash });
            await transport.send('PUT', `${base}/members/${memberId}/rounds/${round.round}/update-url`, { body: { url, hash, size: body.length, examples } });
            via = 'url';
          } catch (e) {
            if (e instanceof TesseraError && (e.code === 'STALE_STAGE' || e.code === 'CONFLICT')) throw e;
            emit({ kind: 'upload-fallback', round: round.round, reason: (e as Error).message });
          }
        }
        if (via === 'http') await transport.send('PUT', `${base}/members/${memberId}/rounds/${round.round}/update`, { body, headers: { [EXAMPLES_HEADER]: String(examples) } });
        emit({ kind: 'uploaded', round: round.round, hash, examples, via });
      } catch (e) {
        // The stage closed while we trained: we were dropped from this round; wait for the next.
        if (!(e instanceof TesseraError && e.code === 'STALE_STAGE')) throw e;
      }
      continue;
    }
    if (round?.status === 'open' && round.stage === 'evaluate' && round.memberStatus === 'submitted' && round.evaluateModel && !evaluated.has(round.round)) {
      evaluated.add(round.round);
      const weights = await fetchFor(round.round, round.evaluateModel.version, round.evaluateModel.hash, round.evaluateModel.artifact);
      const report = await model.evaluate(weights, { round: round.round });
      try {
        await transport.send('PUT', `${base}/members/${memberId}/rounds/${round.round}/evaluation`, { body: { ...report } });
        lastReport = report;
        emit({ kind: 'evaluated', round: round.round, report });
      } catch (e) {
        if (!(e instanceof TesseraError && e.code === 'STALE_STAGE')) throw e;
      }
      continue;
    }
    if (round?.status === 'failed' && !trained.has(-round.round)) {
      trained.add(-round.round);
      emit({ kind: 'round-failed', round: round.round, reason: round.failureReason ?? 'unknown' });
    }
    if (fed.status === 'completed' && round?.status !== 'open') {
      emit({ kind: 'done', rounds: round?.round ?? 0 });
      return { rounds: round?.round ?? 0, lastReport };
    }
    const key = `${round?.round}:${round?.stage}`;
    if (key !== lastWaiting) {
      lastWaiting = key;
      emit({ kind: 'waiting', round: round?.round ?? null, stage: round?.stage ?? null });
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
  }
  return { rounds: trained.size, lastReport };
}
