import { describe, expect, it } from 'vitest';
import { codeOf } from '../core/testing/errors.ts';
import { createRng } from '../core/random.ts';
import type { AdvertiseKeysMessage, MaskedInputMessage, SecAggStage } from '../core/secagg-wire.ts';
import { SECAGG_STAGES } from '../core/secagg-wire.ts';
import { SecAggClient } from './secagg-client.ts';
import { createLocalCohort, runLocalRound } from './secagg-local.ts';
import type { SecAggResult, ServerEvent } from './secagg-server.ts';
import { SecAggServer } from './secagg-server.ts';

/** Seeded rounding per member: the secure sum is then fully determined, whatever the masks. */
const seeded = (id: string): (() => number) => {
  const rng = createRng(`round-${id}`);
  return () => rng.next();
};

const sumBytes = (r: SecAggResult): string => (r.status === 'completed' ? Buffer.from(r.weightedSum.buffer).toString('hex') : `failed: ${r.reason}`);

describe('secure aggregation server', () => {
  const cohort = createLocalCohort({ members: 12, params: 400, seed: 3, neighbours: 6, threshold: 4 });
  const dropAfter = { share_keys: ['m03'], consistency: ['m07'] };
  const baseline = runLocalRound({ ...cohort, dropAfter, random: seeded });

  it('completes and reports dropouts', () => {
    expect(baseline.result.status).toBe('completed');
    if (baseline.result.status === 'completed') expect(baseline.result.dropped).toEqual(['m03']);
  });

  for (const stage of SECAGG_STAGES) {
    it(`restarting from a JSON snapshot before ${stage} closes gives the same result`, () => {
      const { result } = runLocalRound({
        ...cohort,
        dropAfter,
        random: seeded,
        beforeClose: (s, server) => (s === stage ? SecAggServer.restore(JSON.parse(JSON.stringify(server.snapshot()))) : server),
      });
      expect(sumBytes(result)).toBe(sumBytes(baseline.result));
    });
  }

  it('replaying the persisted messages and stage closes rebuilds the same state', () => {
    const events: ServerEvent[] = [];
    const run = runLocalRound({
      ...cohort,
      dropAfter,
      random: seeded,
      onMessage: (message) => events.push({ message }),
      beforeClose: (stage) => { events.push({ close: stage }); },
    });
    const rebuilt = SecAggServer.replay(cohort.config, events);
    expect(sumBytes(rebuilt.result()!)).toBe(sumBytes(run.result));
    // Replay up to mid-round, then continue from there: the same request for the next stage.
    const firstClose = events.findIndex((e) => 'close' in e && e.close === 'share_keys');
    const partial = SecAggServer.replay(cohort.config, events.slice(0, firstClose + 1));
    expect(partial.stage).toBe('masked_input');
    const request = partial.requestFor('m01');
    expect(request?.stage).toBe('masked_input');
    expect(request?.stage === 'masked_input' && request.shares.every((x) => x.to === 'm01')).toBe(true);
    expect(partial.requestFor('m03')?.stage).toBe('masked_input');
  });

  it('accepts the same message twice once, refuses a different one for the same slot', () => {
    const server = new SecAggServer(cohort.config);
    const client = new SecAggClient({ config: cohort.config, memberId: 'm00', identity: cohort.identities.get('m00')! });
    const ad = client.advertiseKeys();
    expect(server.receive(ad)).toBe('accepted');
    expect(server.receive(structuredClone(ad))).toBe('duplicate');
    const other = new SecAggClient({ config: cohort.config, memberId: 'm00', identity: cohort.identities.get('m00')! }).advertiseKeys();
    expect(codeOf(() => server.receive(other))).toMatch(/^CONFLICT/);
  });

  it('a duplicated masked input is counted once', () => {
    const sent = new Map<string, MaskedInputMessage>();
    let redelivered = 0;
    const { result } = runLocalRound({
      ...cohort,
      dropAfter,
      random: seeded,
      onMessage: (m) => { if (m.stage === 'masked_input') sent.set(m.memberId, m); },
      beforeClose: (stage, server) => {
        if (stage !== 'masked_input') return;
        // A retrying transport delivers every masked input a second time.
        for (const m of sent.values()) {
          expect(server.receive({ ...m, vector: m.vector.slice() })).toBe('duplicate');
          redelivered++;
        }
      },
    });
    expect(redelivered).toBe(11);
    expect(sumBytes(result)).toBe(sumBytes(baseline.result));
  });

  it('refuses messages of another round, another stage, a stranger, or with a bad signature', () => {
    const server = new SecAggServer(cohort.config);
    const otherRound = createLocalCohort({ members: 12, params: 400, seed: 3, round: 2 });
    const stale = new SecAggClient({ config: { ...cohort.config, round: 2 }, memberId: 'm00', identity: cohort.identities.get('m00')! }).advertiseKeys();
    expect(codeOf(() => server.receive(stale))).toMatch(/^STALE_STAGE.*round 2/);
    const stranger = new SecAggClient({ config: otherRound.config, memberId: 'm00', identity: otherRound.identities.get('m00')! }).advertiseKeys();
    expect(codeOf(() => server.receive({ ...stranger, round: 1 }))).toMatch(/^UNAUTHENTICATED/);
    const ad = new SecAggClient({ config: cohort.config, memberId: 'm01', identity: cohort.identities.get('m01')! }).advertiseKeys();
    const forged: AdvertiseKeysMessage = { ...ad, maskKey: stranger.maskKey };
    expect(codeOf(() => server.receive(forged))).toMatch(/^UNAUTHENTICATED.*bad signature/);
    expect(codeOf(() => server.receive({ ...ad, memberId: 'intruder' }))).toMatch(/^FORBIDDEN/);
    expect(codeOf(() => server.receive({ ...ad, stage: 'share_keys' } as never))).toMatch(/^STALE_STAGE/);
    expect(server.receive(ad)).toBe('accepted');
  });

  it('refuses a masked input that arrives after its stage closed', () => {
    let late: MaskedInputMessage | null = null;
    const run = runLocalRound({
      ...cohort,
      random: seeded,
      onMessage: (m) => { if (m.stage === 'masked_input') late = m; },
      beforeClose: (stage: SecAggStage, server) => {
        if (stage === 'consistency') expect(codeOf(() => server.receive(late!))).toMatch(/^STALE_STAGE.*current stage is "consistency"/);
      },
    });
    expect(run.result.status).toBe('completed');
  });

  it('fails with the reason when a secret has fewer than t live holders', () => {
    const small = createLocalCohort({ members: 20, params: 50, seed: 5, neighbours: 4, threshold: 4 });
    const { result } = runLocalRound({ ...small, dropAfter: { consistency: ['m02'] } });
    expect(result.status).toBe('failed');
    if (result.status === 'failed') expect(result.reason).toMatch(/member m\d+: 3 of 4 needed shares/);
  });

  it('fails when fewer than t members complete a stage', () => {
    const small = createLocalCohort({ members: 6, params: 10, seed: 5 });
    expect(small.config.threshold).toBe(3);
    const { result } = runLocalRound({ ...small, dropAfter: { advertise_keys: ['m0', 'm1', 'm2', 'm3'] } });
    expect(result).toEqual({ status: 'failed', reason: 'share_keys: only 2 members completed it; at least t = 3 needed' });
  });
});
