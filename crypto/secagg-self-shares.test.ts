/**
 * @module Self-shares (SecAggRoundConfig.selfShares): each member keeps a share of its own secrets
 * at its own index and reveals its own self-mask share at unmask, so a 3-member cohort survives one
 * loss at t = 2. Pure state machines, no I/O.
 */
import { describe, expect, it } from 'vitest';
import { codeOf } from '../core/testing/errors.ts';
import type { ConsistencyMessage, ConsistencyRequest, SecAggStage, UnmaskMessage, UnmaskRequest } from '../core/secagg-wire.ts';
import { SECAGG_STAGES } from '../core/secagg-wire.ts';
import { agreementPublicKey } from './key-agreement.ts';
import { SecAggClient } from './secagg-client.ts';
import { roundContext, roundGuarantees, selfMaskCommitment } from './secagg-config.ts';
import type { LocalCohort } from './secagg-local.ts';
import { createLocalCohort, plaintextWeightedSum, runLocalRound } from './secagg-local.ts';
import { decodeBase64, signMessage, survivorSetHash } from './secagg-messages.ts';
import type { ServerSnapshot } from './secagg-server.ts';
import { SecAggServer } from './secagg-server.ts';
import type { Share } from './shamir.ts';
import { decodeShare, reconstruct } from './shamir.ts';
import { UnmaskPool } from './unmask-pool.ts';

const share = (encoded: string): Share => decodeShare(decodeBase64(encoded, 'share', 37));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The completed sum must be the plaintext weighted sum of exactly these members, within the quantization bound. */
function expectSumOf(cohort: LocalCohort, outcome: ReturnType<typeof runLocalRound>, members: string[]): void {
  expect(outcome.result.status).toBe('completed');
  if (outcome.result.status !== 'completed') return;
  const want = plaintextWeightedSum(cohort.config, members.map((id) => cohort.updates.get(id)!));
  expect(outcome.result.totalWeight).toBe(want.totalWeight);
  expect(outcome.result.clipped).toBe(want.clipped);
  let worst = 0;
  for (let i = 0; i < want.weightedSum.length; i++) worst = Math.max(worst, Math.abs(outcome.result.weightedSum[i] - want.weightedSum[i]));
  expect(worst).toBeLessThanOrEqual(outcome.result.errorBound);
}

/** Every stage before `open` for all members, through the real server. */
function driveTo(cohort: LocalCohort, open: SecAggStage): { server: SecAggServer; clients: Map<string, SecAggClient> } {
  const ids = cohort.config.members.map((m) => m.id);
  const clients = new Map(ids.map((id) => [id, new SecAggClient({ config: cohort.config, memberId: id, identity: cohort.identities.get(id)! })]));
  const server = new SecAggServer(cohort.config);
  for (const stage of SECAGG_STAGES) {
    if (stage === open) break;
    for (const [id, c] of clients) {
      const r = server.requestFor(id);
      if (!r) server.receive(c.advertiseKeys());
      else if (r.stage === 'share_keys') server.receive(c.shareKeys(r));
      else if (r.stage === 'masked_input') server.receive(c.maskedInput(r, cohort.updates.get(id)!));
      else if (r.stage === 'consistency') server.receive(c.consistency(r));
    }
    server.close();
  }
  return { server, clients };
}

describe('a 3-member cohort with self-shares (the default at k = 2)', () => {
  const cohort = createLocalCohort({ members: 3, params: 300, seed: 3 });

  it('is configured with selfShares at k = t = 2, and tolerates one loss', () => {
    expect([cohort.config.neighbours, cohort.config.threshold, cohort.config.selfShares]).toEqual([2, 2, true]);
    expect(roundGuarantees(2, 2, true)).toEqual({ dropouts: 1, colludingMembers: 1, colludingWithActiveAggregator: 0 });
    expect(roundGuarantees(2, 2)).toEqual({ dropouts: 0, colludingMembers: 1, colludingWithActiveAggregator: 1 });
  });

  it('completes when one member drops after share_keys: the sum of the two survivors', () => {
    const one = runLocalRound({ ...cohort, dropAfter: { share_keys: ['m1'] } });
    expectSumOf(cohort, one, ['m0', 'm2']);
    if (one.result.status === 'completed') expect([one.result.survivors, one.result.dropped]).toEqual([['m0', 'm2'], ['m1']]);
  });

  it('completes when one member drops after masked_input or after consistency: its input counts, its own share is gone', () => {
    for (const stage of ['masked_input', 'consistency'] as const) {
      const revealed: UnmaskMessage[] = [];
      const one = runLocalRound({ ...cohort, dropAfter: { [stage]: ['m1'] }, onMessage: (m) => void (m.stage === 'unmask' && revealed.push(m)) });
      expectSumOf(cohort, one, ['m0', 'm1', 'm2']);
      if (one.result.status === 'completed') expect([one.result.survivors, one.result.dropped]).toEqual([['m0', 'm1', 'm2'], []]);
      // m1's self mask came from its two neighbours; each survivor revealed its own self-mask share too.
      expect(revealed.map((m) => [m.memberId, m.shares.map((s) => `${s.of}:${s.kind}`)])).toEqual([
        ['m0', ['m0:self_mask', 'm1:self_mask', 'm2:self_mask']],
        ['m2', ['m0:self_mask', 'm1:self_mask', 'm2:self_mask']],
      ]);
    }
  });

  it('gives the same bytes on the unmask worker pool', async () => {
    const pool = new UnmaskPool(1);
    try {
      let beforeUnmask: ServerSnapshot | null = null;
      const run = runLocalRound({ ...cohort, dropAfter: { share_keys: ['m1'] }, beforeClose: (stage, s) => void (stage === 'unmask' && (beforeUnmask = s.snapshot())) });
      const pooled = SecAggServer.restore(beforeUnmask!);
      expect(await pooled.closeAsync({ pool, minParallelWords: 0 })).toBe('done');
      expect(pooled.unmaskPath).toBe('workers');
      expect(JSON.stringify(pooled.snapshot().result)).toBe(JSON.stringify(run.server.snapshot().result));
    } finally {
      await pool.close();
    }
  });

  it('without self-shares still fails one loss with the exact reason, never a weaker threshold', () => {
    const plain = createLocalCohort({ members: 3, params: 300, seed: 3, selfShares: false });
    expect([plain.config.threshold, 'selfShares' in plain.config]).toEqual([2, false]);
    const one = runLocalRound({ ...plain, dropAfter: { share_keys: ['m1'] } });
    expect(one.result).toEqual({ status: 'failed', reason: 'cannot unmask: member m0: 1 of 2 needed shares; member m2: 1 of 2 needed shares' });
  });

  it('a lost member before share_keys still fails the round: the other two refuse to mask with one neighbour', () => {
    const early = runLocalRound({ ...cohort, dropAfter: { advertise_keys: ['m1'] } });
    expect(early.result).toEqual({ status: 'failed', reason: 'masked_input: only 0 members completed it; at least t = 2 needed' });
  });

  it('t - 1 shares, the own share counted, reconstruct nothing; t reconstruct the committed seed', () => {
    const view: UnmaskMessage[] = [];
    const shares = new Map<string, string>();
    const run = runLocalRound({ ...cohort, dropAfter: { share_keys: ['m1'] }, onMessage: (m) => void (m.stage === 'unmask' && view.push(m)) });
    expect(run.result.status).toBe('completed');
    for (const m of view) for (const s of m.shares) if (s.of === 'm0') shares.set(m.memberId, s.share);
    const own = share(shares.get('m0')!);
    const other = share(shares.get('m2')!);
    expect([own.index, other.index]).toEqual([1, 3]);
    expect(() => reconstruct([own], 2)).toThrow(/needed shares/);
    const seed = reconstruct([own, other], 2);
    const committed = run.server.snapshot().messages.share_keys.m0.selfMaskCommitment;
    expect(selfMaskCommitment(roundContext(cohort.config), 'm0', seed)).toBe(committed);
    // A single share is consistent with every secret: degree-0 "reconstruction" from it is not the seed.
    expect(hex(reconstruct([own], 1))).not.toBe(hex(seed));
  });

  it('keeps its own share pair, at its own index, in the snapshot a restart restores from', () => {
    const { server, clients } = driveTo(cohort, 'share_keys');
    const c = clients.get('m2')!;
    const r = server.requestFor('m2')!;
    if (r.stage !== 'share_keys') throw new Error('expected share_keys');
    const sent = c.shareKeys(r);
    expect(sent.shares.map((s) => s.to)).toEqual(['m0', 'm1']);
    const snap = JSON.parse(JSON.stringify(c.snapshot()));
    expect(snap.ownShares.map((s: string) => share(s).index)).toEqual([3, 3]);
    const restored = SecAggClient.restore(snap, cohort.identities.get('m2')!);
    expect(restored.snapshot().ownShares).toEqual(snap.ownShares);
    // The restored member finishes the round (m1 lost after share_keys); its own share is what saves it.
    server.receive(sent);
    for (const id of ['m0', 'm1']) server.receive(clients.get(id)!.shareKeys(server.requestFor(id) as never));
    server.close();
    const alive = new Map([['m0', clients.get('m0')!], ['m2', restored]]);
    for (const stage of ['masked_input', 'consistency', 'unmask'] as const) {
      for (const [id, member] of alive) {
        const req = server.requestFor(id)!;
        if (req.stage === 'masked_input') server.receive(member.maskedInput(req, cohort.updates.get(id)!));
        else if (req.stage === 'consistency') server.receive(member.consistency(req));
        else if (req.stage === 'unmask') {
          const m = member.unmask(req);
          if (id === 'm2') expect(m.shares.find((s) => s.of === 'm2')).toEqual({ of: 'm2', kind: 'self_mask', share: snap.ownShares[1] });
          server.receive(m);
        }
      }
      expect(server.stage).toBe(stage);
      server.close();
    }
    expect(server.result()!.status).toBe('completed');
  });
});

describe('counting own shares toward t', () => {
  it('a ring (k = 2) survivor whose two neighbours both vanish has only its own share: the exact reason', () => {
    const ring = createLocalCohort({ members: 6, params: 50, seed: 8, neighbours: 2 });
    expect([ring.config.threshold, ring.config.selfShares]).toEqual([2, true]);
    const ctx = roundContext(ring.config);
    const [a, b] = [...ctx.neighbours.get('m0')!];
    const out = runLocalRound({ ...ring, dropAfter: { share_keys: [a, b] } });
    expect(out.result).toEqual({ status: 'failed', reason: 'cannot unmask: member m0: 1 of 2 needed shares' });
    // One of them only: m0 keeps its own share and one live neighbour's.
    const one = runLocalRound({ ...ring, dropAfter: { share_keys: [a] } });
    const survivors = ctx.ids.filter((id) => id !== a);
    expectSumOf(ring, one, survivors);
  });
});

describe('what an honest member with self-shares refuses', () => {
  const cohort = createLocalCohort({ members: 3, params: 50, seed: 5 });

  it('a request listing itself (or another survivor) as dropped: both kinds of share of one member', () => {
    const { server, clients } = driveTo(cohort, 'unmask');
    const c = clients.get('m0')!;
    const request = server.requestFor('m0') as UnmaskRequest;
    expect(codeOf(() => c.unmask({ ...request, dropped: ['m0'] }))).toMatch(/^FORBIDDEN.*both shares of member m0/);
    expect(codeOf(() => c.unmask({ ...request, dropped: ['m2'] }))).toMatch(/^FORBIDDEN.*both shares of member m2/);
    expect(codeOf(() => c.unmask({ ...request, survivors: ['m1', 'm2'], dropped: ['m0'] }))).toMatch(/^FORBIDDEN.*differs from the one this member signed/);
    const ok = c.unmask(request);
    expect(ok.shares.map((s) => `${s.of}:${s.kind}`)).toEqual(['m0:self_mask', 'm1:self_mask', 'm2:self_mask']);
  });

  it('the aggregator accepts an own share only with self-shares, and only of the self mask', () => {
    const plain = createLocalCohort({ members: 4, params: 50, seed: 6 });
    const { server, clients } = driveTo(plain, 'unmask');
    const m = clients.get('m0')!.unmask(server.requestFor('m0') as UnmaskRequest);
    const held = clients.get('m1')!.snapshot().held.m0;
    // Without self-shares a member holds no share of itself: one claimed is refused.
    const forged = signMessage<UnmaskMessage>({ ...m, shares: [...m.shares, { of: 'm0', kind: 'self_mask', share: held[1] }] }, plain.identities.get('m0')!.secretKey);
    expect(codeOf(() => server.receive(forged))).toMatch(/^BAD_REQUEST.*m0 cannot reveal a self_mask share of m0/);

    const { server: s3, clients: c3 } = driveTo(cohort, 'unmask');
    const m3 = c3.get('m0')!.unmask(s3.requestFor('m0') as UnmaskRequest);
    const ownMask = c3.get('m0')!.snapshot().ownShares![0];
    const asKey = signMessage<UnmaskMessage>({ ...m3, shares: [...m3.shares.filter((s) => s.of !== 'm0'), { of: 'm0', kind: 'mask_key', share: ownMask }] }, cohort.identities.get('m0')!.secretKey);
    expect(codeOf(() => s3.receive(asKey))).toMatch(/^BAD_REQUEST.*m0 cannot reveal a mask_key share of m0/);
    expect(s3.receive(m3)).toBe('accepted');
  });
});

describe('an active aggregator at n = 3 with self-shares (the bound 2t > k + 1 + c)', () => {
  const cohort = createLocalCohort({ members: 3, params: 50, seed: 7 });
  const sign = (id: string, survivors: string[]) =>
    signMessage<ConsistencyMessage>({ protocol: cohort.config.protocol, federationId: cohort.config.federationId, round: cohort.config.round, stage: 'consistency', memberId: id, survivorsHash: survivorSetHash(survivors) }, cohort.identities.get(id)!.secretKey);
  const base = { protocol: cohort.config.protocol, federationId: cohort.config.federationId, round: cohort.config.round };
  const all = ['m0', 'm1', 'm2'];
  const withoutVictim = ['m1', 'm2'];

  /** Lies to m0 (the victim: "you survived") and to m1 ("m0 dropped"); returns both members' answers or refusals. */
  function attack(corruptM2: boolean) {
    const { clients } = driveTo(cohort, 'consistency');
    const consistency = (id: string, survivors: string[]) => clients.get(id)!.consistency({ ...base, stage: 'consistency', memberId: id, survivors } as ConsistencyRequest);
    const s0 = consistency('m0', all);
    const s1 = consistency('m1', withoutVictim);
    // An honest m2 signs one list (here the victim's); a corrupt m2 signs both.
    const s2 = consistency('m2', all);
    const l1 = [s0, s2];
    const l2 = corruptM2 ? [s1, sign('m2', withoutVictim)] : [s1];
    const ask = (id: string, survivors: string[], dropped: string[], signed: ConsistencyMessage[]) =>
      clients.get(id)!.unmask({ ...base, stage: 'unmask', memberId: id, survivors, dropped, signatures: signed.map((m) => ({ memberId: m.memberId, signature: m.signature })) } as UnmaskRequest);
    let fromM1: UnmaskMessage | string;
    try {
      fromM1 = ask('m1', withoutVictim, ['m0'], l2);
    } catch (e) {
      fromM1 = (e as Error).message;
    }
    return { fromM0: ask('m0', all, [], l1), fromM1, m2: clients.get('m2')!.snapshot().held.m0, victim: clients.get('m0')!.snapshot().secrets };
  }

  it('with no colluder (c = 0) it gets the victim\'s self mask but never its mask key: the other holder refuses', () => {
    const { fromM1 } = attack(false);
    expect(fromM1).toMatch(/refused: 1 valid signatures on the survivor set; 2 needed/);
  });

  it('with one colluding member (c = 1, beyond the bound 2t - k - 2 = 0) it gets both, as documented', () => {
    const { fromM0, fromM1, m2, victim } = attack(true);
    if (typeof fromM1 === 'string') throw new Error(fromM1);
    const selfShares = [share(fromM0.shares.find((s) => s.of === 'm0')!.share), share(m2[1])];
    const keyShares = [share(fromM1.shares.find((s) => s.of === 'm0' && s.kind === 'mask_key')!.share), share(m2[0])];
    // b from the victim's own share and the colluder's; s_sk from the lied-to holder's and the colluder's.
    expect(hex(reconstruct(selfShares, 2))).toBe(hex(decodeBase64(victim.selfMaskSeed, 'seed', 32)));
    expect(hex(agreementPublicKey(reconstruct(keyShares, 2)))).toBe(hex(decodeBase64(victim.maskPublic, 'maskPublic', 32)));
  });
});
