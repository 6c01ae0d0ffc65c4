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
import type { RoundAnnouncement, RoundAnnouncementWire } from '../core/rounds.ts';
import type { SecAggRoundConfig } from '../core/secagg-wire.ts';
import type { Tensor } from '../core/tensors.ts';
import { flatten, subtract, unflatten, layoutOf } from '../core/tensors.ts';
import type { FetchReport } from '../core/fetch-report.ts';
import type { DpSgdPlan } from '../core/privacy/plan.ts';
import type { MemberPrivacySpend, PrivacySpend } from '../core/privacy/spend.ts';
import { roundSpend } from '../crypto/ddp-round.ts';
import { PRIVACY_HEADER } from '../core/privacy/spend.ts';
import { BudgetLedger } from './budget.ts';
import type { MemberPolicy } from './policy.ts';
import { checkRound } from './policy.ts';
import type { ModelSource } from './model-source.ts';
import { createModelSource, worthReporting } from './model-source.ts';
import type { Transport } from './transport.ts';
import type { SecAggEvent, SecAggStateStore } from './secagg-runtime.ts';
import { createSecureMember, identityFromSecret, memorySecAggStore } from './secagg-runtime.ts';
import type { UploadVia } from './store-upload.ts';
import { uploadThroughStore } from './store-upload.ts';
import { secureOf } from '../core/federation.ts';

/** What a member plugs in: local training and evaluation on its own data. */
export interface LocalModel {
  /** Trains from the global weights; returns the local weights and the number of training examples used. */
  train(global: Tensor[], ctx: { round: number; config: FederationConfig; training: TrainingConfig }): Promise<{ weights: Tensor[]; examples: number }>;
  /** Evaluates weights on the member's own test split. */
  evaluate(weights: Tensor[], ctx: { round: number }): Promise<EvaluationReport>;
  /** With record-level DP: what one round will cost this member (DP-SGD plan from its own example count). */
  privacyPlan?(config: FederationConfig): DpSgdPlan | null;
}

export type MemberEvent =
  | { kind: 'waiting'; round: number | null; stage: string | null }
  | { kind: 'training'; round: number; modelVersion: number }
  | { kind: 'fetched'; round: number; modelVersion: number; source: string | null; attempts: number; report: FetchReport }
  | { kind: 'uploaded'; round: number; hash: string; examples: number; via: 'http' | 'url' }
  | { kind: 'evaluated'; round: number; report: EvaluationReport }
  | { kind: 'round-failed'; round: number; reason: string }
  | { kind: 'declined'; round: number; reason: string }
  | { kind: 'privacy-spent'; round: number; spend: PrivacySpend }
  | { kind: 'member-privacy-spent'; round: number; spend: MemberPrivacySpend }
  | { kind: 'done'; rounds: number }
  | SecAggEvent;

export interface RunMemberOptions {
  transport: Transport;
  federationId: string;
  memberId: string;
  model: LocalModel;
  pollMs?: number;
  /** How long the aggregator may hold a poll while nothing the member acts on changes (long
   *  polling, ms); 0 polls every pollMs instead. Default 20000. */
  waitMs?: number;
  onEvent?: (e: MemberEvent) => void;
  signal?: AbortSignal;
  /** Where models come from (default: the aggregator over HTTP). */
  modelSource?: ModelSource;
  /** Puts the encoded update (or, in secure rounds, the masked-input frame) in the member's own
   *  store and returns a time-limited URL the aggregator may GET; when that path fails the bytes
   *  go over HTTP instead (clients/store-upload.ts). */
  uploadVia?: UploadVia;
  /** The member's own policy, checked before every round it is selected for (clients/policy.ts). */
  policy?: MemberPolicy;
  /** The member's privacy ledger (clients/budget.ts); default: in memory for this run. */
  budget?: BudgetLedger;
  now?: () => number;
  /** Secure rounds: where the member keeps each round's client state (default: in memory). */
  secaggStore?: SecAggStateStore;
  /** Secure rounds: sees each delta before it is masked (tests compare the secure sum with it). */
  onMaskedInput?: (e: { round: number; delta: Float32Array; examples: number }) => void;
  /** Secure rounds: a seeded source for stochastic rounding (tests that compare two runs exactly). */
  secaggRandom?: () => number;
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
  // Member-owned policy: each round is checked once, before anything is fetched or trained; the
  // budget is this member's own ledger's, and a round's spend is recorded before its model leaves.
  const ledger = opts.budget ?? BudgetLedger.open(null, memberId);
  const now = opts.now ?? Date.now;
  const decided = new Map<number, string | null>();
  const spends = new Map<number, PrivacySpend>();
  const roundConfigOf = (round: RoundAnnouncement): FederationConfig => (round.privacy !== undefined ? { ...config, privacy: round.privacy } : config);
  // Member-level DP of a secure round with distributed noise, at its minimum survivors (the worst
  // case: this member's client refuses to sign a smaller survivor set), from the noise it adds.
  const memberCostOf = (round: RoundAnnouncement) => {
    const rc = round.secagg?.config;
    return rc?.distributedNoise ? roundSpend(rc, rc.distributedNoise.minSurvivors, rc.distributedNoise.delta) : null;
  };
  const memberSpends = new Map<number, MemberPrivacySpend>();
  const memberSpendFor = (round: RoundAnnouncement): MemberPrivacySpend | null => {
    const cost = memberCostOf(round);
    const noise = round.secagg?.config.distributedNoise;
    if (!cost || !noise) return null;
    const r = ledger.recordMember(federationId, { round: round.round, at: now(), mechanism: cost.mechanism, variance: cost.variance, l2Sensitivity: cost.l2Sensitivity, members: noise.minSurvivors, delta: noise.delta, epsilon: cost.epsilon }, cost.rdp);
    const spend: MemberPrivacySpend = { mechanism: r.mechanism, epsilon: r.epsilon, cumulativeEpsilon: ledger.memberSpent(federationId, r.delta), delta: r.delta, variance: r.variance, members: r.members, l2Sensitivity: r.l2Sensitivity };
    memberSpends.set(round.round, spend);
    emit({ kind: 'member-privacy-spent', round: round.round, spend });
    return spend;
  };
  const admit = async (round: RoundAnnouncement): Promise<boolean> => {
    if (!decided.has(round.round)) {
      const roundConfig = roundConfigOf(round);
      const plan = model.privacyPlan?.(roundConfig) ?? null;
      const reason = opts.policy ? checkRound(opts.policy, { federationId, config: roundConfig, cohort: round.cohort ?? round.progress.of, plan, memberRdp: memberCostOf(round)?.rdp ?? null, ledger, now: now() }) : null;
      decided.set(round.round, reason);
      if (reason !== null) {
        ledger.recordDecline(federationId, round.round, reason, now());
        await transport.send('PUT', `${base}/members/${memberId}/rounds/${round.round}/decline`, { body: { reason } }).catch((e: unknown) => {
          if (!(e instanceof TesseraError && e.code === 'STALE_STAGE')) throw e;
        });
        emit({ kind: 'declined', round: round.round, reason });
      }
    }
    return decided.get(round.round) === null;
  };
  const spendFor = (round: RoundAnnouncement): PrivacySpend | null => {
    const plan = model.privacyPlan?.(roundConfigOf(round)) ?? null;
    if (!plan) return null;
    const r = ledger.record(federationId, round.round, plan, now());
    const spend: PrivacySpend = { mechanism: 'dp-sgd', epsilon: r.epsilon, cumulativeEpsilon: ledger.spent(federationId, plan.delta), delta: plan.delta, noiseMultiplier: r.noiseMultiplier, clipNorm: r.clipNorm, sampleRate: r.sampleRate, steps: r.steps };
    spends.set(round.round, spend);
    emit({ kind: 'privacy-spent', round: round.round, spend });
    return spend;
  };
  const trained = new Set<number>();
  const evaluated = new Set<number>();
  let lastReport: EvaluationReport | null = null;
  let lastWaiting = '';
  // Secure rounds (the default): the stages are driven by clients/secagg-runtime.ts; training
  // starts once keys are advertised and its delta is masked at masked_input.
  const member = transport.opts.member;
  const secure = secureOf(config).enabled && member
    ? createSecureMember({
        transport, federationId, memberId,
        identity: identityFromSecret(member.secretKey),
        store: opts.secaggStore ?? memorySecAggStore(),
        settings: secureOf(config),
        emit,
        onMaskedInput: opts.onMaskedInput,
        uploadVia: opts.uploadVia,
        random: opts.secaggRandom,
        train: async (round) => {
          spendFor(round);
          memberSpendFor(round);
          emit({ kind: 'training', round: round.round, modelVersion: round.modelVersion });
          const global = await fetchFor(round.round, round.modelVersion, round.modelHash, round.modelArtifact);
          const roundConfig = roundConfigOf(round);
          const { weights, examples } = await model.train(global, { round: round.round, config: roundConfig, training: roundConfig.training });
          return { delta: subtract(flatten(weights), flatten(global)), examples };
        },
      })
    : null;
  // Each poll after the first names the state last handled (ETag), and the aggregator holds it
  // until that state changes instead of being asked again every pollMs (having acted on a state,
  // the member waits for the next one too: its own message does not change the tag).
  const waitMs = opts.waitMs ?? 20_000;
  let seen: string | null = null;
  // The secure round configuration last received: named in each poll (`have`) so the aggregator
  // leaves it out of the answer, and put back into the announcement here.
  const held: { current: { hash: string; config: SecAggRoundConfig } | null } = { current: null };
  /** The announcement with its configuration (undefined: left out, and not the one held). */
  const withConfig = (r: RoundAnnouncementWire | null): RoundAnnouncement | null | undefined => {
    if (!r?.secagg) return r as RoundAnnouncement | null;
    const { config, ...rest } = r.secagg;
    if (config) {
      held.current = { hash: rest.configHash, config };
      return { ...r, secagg: { ...rest, config } };
    }
    return held.current?.hash === rest.configHash ? { ...r, secagg: { ...rest, config: held.current.config } } : undefined;
  };
  while (!opts.signal?.aborted) {
    let res: Response;
    const have = held.current ? `have=${held.current.hash}` : '';
    try {
      res = seen
        ? await transport.send('GET', `${base}/members/${memberId}/round?wait=${waitMs}${have && `&${have}`}`, { headers: { 'if-none-match': seen }, signal: opts.signal })
        : await transport.send('GET', `${base}/members/${memberId}/round${have && `?${have}`}`, { signal: opts.signal });
    } catch (e) {
      if (opts.signal?.aborted) break;
      throw e;
    }
    if (res.status === 304) continue;
    const tag = res.headers.get('etag');
    seen = tag && waitMs > 0 ? tag : null;
    const { federation: fed, round: sent } = (await res.json()) as { federation: { status: string }; round: RoundAnnouncementWire | null };
    const round = withConfig(sent);
    if (round === undefined) {
      // Answered without a configuration this member does not hold: ask again, naming none.
      held.current = null;
      seen = null;
      continue;
    }
    const declinedNow = round?.status === 'open' && round.memberStatus === 'selected' && !(await admit(round));
    if (!declinedNow && secure && (await secure.step(round))) continue;
    if (!declinedNow && round?.status === 'open' && round.stage === 'fit' && round.memberStatus === 'selected' && !trained.has(round.round)) {
      trained.add(round.round);
      const roundConfig = roundConfigOf(round);
      const spend = spendFor(round);
      emit({ kind: 'training', round: round.round, modelVersion: round.modelVersion });
      const global = await fetchFor(round.round, round.modelVersion, round.modelHash, round.modelArtifact);
      const { weights, examples } = await model.train(global, { round: round.round, config: roundConfig, training: roundConfig.training });
      const delta = unflatten(subtract(flatten(weights), flatten(global)), layoutOf(global));
      const body = encodeWeights(delta);
      const hash = contentHash(body);
      const at = `${base}/members/${memberId}/rounds/${round.round}`;
      try {
        const via = await uploadThroughStore({
          body, round: round.round, stage: 'fit', uploadVia: opts.uploadVia,
          viaUrl: (ref) => transport.send('PUT', `${at}/update-url`, { body: { ...ref, examples, ...(spend ? { privacy: spend } : {}) }, retry: false }),
          direct: () => transport.send('PUT', `${at}/update`, { body, headers: { [EXAMPLES_HEADER]: String(examples), ...(spend ? { [PRIVACY_HEADER]: JSON.stringify(spend) } : {}) } }),
          onFallback: (reason) => emit({ kind: 'upload-fallback', round: round.round, reason }),
        });
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
        const unreported = secure ? spends.get(round.round) : undefined;
        const memberSpend = secure ? memberSpends.get(round.round) : undefined;
        await transport.send('PUT', `${base}/members/${memberId}/rounds/${round.round}/evaluation`, { body: { ...report, ...(unreported ? { privacy: unreported } : {}), ...(memberSpend ? { memberPrivacy: memberSpend } : {}) } });
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
    if (!seen) await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
  }
  return { rounds: trained.size, lastReport };
}
