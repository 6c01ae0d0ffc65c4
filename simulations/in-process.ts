/**
 * @module A whole federation in one process: the real aggregator app (routes, round state
 * machine, strategies, database) reached through `app.request()`, and virtual members running
 * the real member runtime over the same signed transport. No sockets and no child processes, so
 * benchmarks and simulations can run many federations quickly; the code paths are the product's.
 */
import { TesseraError } from '../core/errors.ts';
import type { EvaluationSummary } from '../core/evaluation.ts';
import { createApp } from '../aggregator/app.ts';
import { issueCredential } from '../aggregator/credentials.ts';
import type { Database } from '../aggregator/db/database.ts';
import { openDatabase } from '../aggregator/db/database.ts';
import { enroll, memberTransport } from '../clients/enrollment.ts';
import type { LocalModel, MemberEvent, RunMemberOptions } from '../clients/runtime.ts';
import { runMember } from '../clients/runtime.ts';
import { Transport } from '../clients/transport.ts';
import { VirtualClock } from './clock.ts';

export interface VirtualMember {
  name: string;
  model: LocalModel;
  /** Fault injection: the member vanishes (its runtime stops, sending nothing more) once this returns true; 'start' vanishes before the first poll. */
  vanishWhen?: 'start' | ((e: MemberEvent) => boolean);
  /** Extra runtime options (secure-round state store, a hook seeing each delta before it is masked). */
  options?: Pick<RunMemberOptions, 'secaggStore' | 'onMaskedInput' | 'onEvent' | 'policy' | 'budget'>;
}

export interface InProcessResult {
  federationId: string;
  rounds: { round: number; status: string; metrics: EvaluationSummary | null; failureReason: string | null }[];
  /** Per-member final metrics keyed by member name. */
  final: EvaluationSummary | null;
  names: Map<string, string>;
}

const BASE = 'http://in-process';

/** Runs `federation` (the config the API takes) with the given members to completion. */
export interface InProcessOptions {
  database?: Database;
  pollMs?: number;
  /** Members' long-poll wait (RunMemberOptions.waitMs). Default 0: they poll every pollMs, so a
   *  stage lasts long enough for the operator loop to see it. */
  waitMs?: number;
  /**
   * Replaces the aggregator (a new createApp over the same database, as after a crash) before it
   * handles a request for which this returns true: a restart tied to a member's message happens
   * while that message's stage is open, however fast the stages pass.
   */
  restartBefore?: (request: { method: string; path: string }) => boolean;
  /**
   * For members that answer at once (no real training): when no member has sent anything but
   * polls for this many ms and the open stage has not moved, the aggregator's and the members'
   * shared clock jumps to the stage's deadline, as waiting that long would. A test of members
   * vanishing then takes seconds, not the deadlines. Default: real time only.
   */
  idleJumpMs?: number;
}

export async function runInProcess(federation: Record<string, unknown>, members: readonly VirtualMember[], opts: InProcessOptions = {}): Promise<InProcessResult> {
  const database = opts.database ?? (await openDatabase({ dataDir: 'memory' }));
  try {
    // One clock for the aggregator and the members: real time, plus the jumps idleJumpMs makes.
    const clock = new VirtualClock();
    const now = clock.now;
    let { app, orchestrator } = createApp({ db: database.db, now });
    let lastSent = performance.now();
    const fetchApp = ((url: string, init: RequestInit) => {
      const method = init.method ?? 'GET';
      if (method !== 'GET') lastSent = performance.now();
      if (opts.restartBefore?.({ method, path: new URL(url).pathname })) ({ app, orchestrator } = createApp({ db: database.db, now }));
      return app.request(url, init);
    }) as unknown as typeof fetch;
    const { token } = await issueCredential(database.db, 'operator', 'in-process operator', 'simulation');
    const operator = new Transport({ baseUrl: BASE, bearer: token, fetch: fetchApp, retries: 0 });
    const { federation: f } = await operator.json<{ federation: { id: string; config: { rounds: number } } }>('POST', '/v1/federations', { body: federation });
    const names = new Map<string, string>();
    const runs: Promise<unknown>[] = [];
    const abort = new AbortController();
    for (const m of members) {
      const { invitation } = await operator.json<{ invitation: { token: string } }>('POST', `/v1/federations/${f.id}/invitations`, { body: { memberName: m.name } });
      const id = await enroll({ aggregatorUrl: BASE, federationId: f.id, token: invitation.token, fetch: fetchApp });
      names.set(id.memberId, m.name);
      if (m.vanishWhen === 'start') continue;
      const own = new AbortController();
      abort.signal.addEventListener('abort', () => own.abort());
      const vanish = m.vanishWhen;
      const onEvent = (e: MemberEvent) => {
        m.options?.onEvent?.(e);
        if (vanish && vanish(e)) own.abort();
      };
      runs.push(runMember({ transport: memberTransport(id, { fetch: fetchApp, now }), federationId: f.id, memberId: id.memberId, model: m.model, pollMs: opts.pollMs ?? 2, waitMs: opts.waitMs ?? 0, signal: own.signal, now, ...m.options, onEvent }));
    }
    let failure: unknown = null;
    const watched = runs.map((p) => p.catch((e: unknown) => { failure ??= e; }));
    const rounds: InProcessResult['rounds'] = [];
    for (let r = 1; r <= f.config.rounds; r++) {
      await operator.json('POST', `/v1/federations/${f.id}/rounds`);
      let seenStage: { stage: string | null; at: number } = { stage: null, at: performance.now() };
      for (;;) {
        if (failure) throw failure;
        // Deadlines pass only when something looks: the server's timer does this in production.
        await orchestrator.tick();
        const { round } = await operator.json<{ round: { status: string; stage: string | null; stageDeadline: number | null; metrics: EvaluationSummary | null; failureReason: string | null } }>('GET', `/v1/federations/${f.id}/rounds/${r}`);
        if (round.stage !== seenStage.stage) seenStage = { stage: round.stage, at: performance.now() };
        const quiet = performance.now() - Math.max(lastSent, seenStage.at);
        if (opts.idleJumpMs !== undefined && round.status === 'open' && round.stageDeadline !== null && quiet > opts.idleJumpMs) {
          clock.jumpTo(round.stageDeadline + 1);
          lastSent = performance.now();
        }
        if (round.status !== 'open') {
          rounds.push({ round: r, status: round.status, metrics: round.metrics, failureReason: round.failureReason });
          break;
        }
        await new Promise((res) => setTimeout(res, opts.pollMs ?? 2));
      }
    }
    abort.abort();
    await Promise.all(watched);
    if (failure) throw failure;
    const last = [...rounds].reverse().find((r) => r.status === 'committed');
    if (!last) throw new TesseraError('ROUND_STATE', 'no round committed');
    const final = last.metrics && {
      ...last.metrics,
      perMember: Object.fromEntries(Object.entries(last.metrics.perMember).map(([id, v]) => [names.get(id) ?? id, v])),
    };
    return { federationId: f.id, rounds, final, names };
  } finally {
    if (!opts.database) await database.close();
  }
}
