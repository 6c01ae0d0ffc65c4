import { describe, expect, it } from 'vitest';
import { generateIdentity, toBase64 } from './identity.ts';
import { checkRoundConfig, createRoundConfig, defaultGraphSeed, roundContext, roundGuarantees } from './secagg-config.ts';
import { createLocalCohort, plaintextWeightedSum, runLocalRound } from './secagg-local.ts';

const members = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `member-${String(i).padStart(3, '0')}`, identityKey: toBase64(generateIdentity().publicKey) }));

describe('round configuration', () => {
  const cohort = members(100);

  it('applies the k/t rule and the headroom rule when the round is configured', () => {
    const config = createRoundConfig({ federationId: 'f', round: 2, members: [...cohort].reverse(), params: 10, clip: 1, maxWeight: 500 });
    expect(config.members.map((m) => m.id)).toEqual(cohort.map((m) => m.id));
    expect([config.neighbours, config.threshold]).toEqual([28, 15]);
    expect(config.quantization.bits).toBe(24);
    expect(config.graphSeed).toBe(defaultGraphSeed('f', 2, cohort.map((m) => m.id)));
    expect(() => createRoundConfig({ federationId: 'f', round: 2, members: cohort, params: 10, clip: 1, bits: 26, maxWeight: 5 })).toThrow(/quantization\.bits.*at most 25 bits/);
  });

  it('derives the same symmetric neighbour graph for every party', () => {
    const config = createRoundConfig({ federationId: 'f', round: 2, members: cohort, params: 10, clip: 1, maxWeight: 500, neighbours: 10 });
    const a = roundContext(config);
    const b = roundContext(JSON.parse(JSON.stringify(config)));
    for (const id of a.ids) {
      expect([...a.neighbours.get(id)!]).toEqual([...b.neighbours.get(id)!]);
      expect(a.neighbours.get(id)!.size).toBe(10);
      for (const v of a.neighbours.get(id)!) expect(a.neighbours.get(v)!.has(id)).toBe(true);
    }
    expect(a.indexOf.get('member-000')).toBe(1);
  });

  it('refuses malformed announced configurations, naming the field', () => {
    const good = createRoundConfig({ federationId: 'f', round: 1, members: members(5), params: 10, clip: 1, maxWeight: 5 });
    expect(() => checkRoundConfig({ ...good, members: [...good.members].reverse() })).toThrow(/sorted/);
    expect(() => checkRoundConfig({ ...good, threshold: 1 })).toThrow(/secagg\.threshold/);
    expect(() => checkRoundConfig({ ...good, graphSeed: 'xyz' })).toThrow(/graphSeed/);
    expect(() => checkRoundConfig({ ...good, maxWeight: 0 })).toThrow(/maxWeight/);
    expect(() => checkRoundConfig({ ...good, members: [{ ...good.members[0], identityKey: 'nope' }, ...good.members.slice(1)] })).toThrow(/identityKey/);
    expect(() => checkRoundConfig({ ...good, selfShares: 'yes' as never })).toThrow(/secagg\.selfShares: expected true or false/);
    // With self-shares t must be a majority of the k + 1 holders: 3 of 5 holds, 2 of 4 does not.
    expect(() => checkRoundConfig({ ...good, selfShares: true })).not.toThrow();
    const four = createRoundConfig({ federationId: 'f', round: 1, members: members(4), params: 10, clip: 1, maxWeight: 5 });
    expect(() => checkRoundConfig({ ...four, selfShares: true })).toThrow(/secagg\.threshold: with selfShares .* k \+ 1 = 4 holders; t must be a majority of them, at least 3, got 2/);
  });

  it('self-shares: on by default only at k = 2; when asked for, t is a majority of k + 1; an old config without the field keeps today\'s behaviour', () => {
    const pick = (n: number, extra: { selfShares?: boolean; neighbours?: number; threshold?: number } = {}) => {
      const c = createRoundConfig({ federationId: 'f', round: 1, members: members(n), params: 1, clip: 1, maxWeight: 1, ...extra });
      return [c.neighbours, c.threshold, c.selfShares ?? null];
    };
    expect(pick(3)).toEqual([2, 2, true]);
    expect(pick(3, { selfShares: false })).toEqual([2, 2, null]);
    expect(pick(4)).toEqual([3, 2, null]);
    expect(pick(4, { selfShares: true })).toEqual([3, 3, true]);
    expect(pick(5, { selfShares: true })).toEqual([4, 3, true]);
    expect(pick(100, { neighbours: 2 })).toEqual([2, 2, true]);
    expect(() => pick(4, { selfShares: true, threshold: 2 })).toThrow(/secagg\.threshold.*at least 3, got 2/);
    // A stored 3-member configuration from before the field: no self-shares, one loss fails the round as it did.
    const cohort = createLocalCohort({ members: 3, params: 30, seed: 3 });
    const { selfShares, ...old } = cohort.config;
    expect(selfShares).toBe(true);
    expect(roundContext(old).selfShares).toBe(false);
    expect(runLocalRound({ ...cohort, config: old, dropAfter: { share_keys: ['m1'] } }).result).toEqual({ status: 'failed', reason: 'cannot unmask: member m0: 1 of 2 needed shares; member m2: 1 of 2 needed shares' });
  });

  it('states what each small cohort tolerates (k - t dropouts, k + 1 - t with self-shares), as documented', () => {
    // [n, k, t, guarantees] of the configuration the rule gives n members (self-shares as asked, else by default).
    const guaranteesOf = (ns: number[], selfShares?: boolean) =>
      ns.map((n) => {
        const config = createRoundConfig({ federationId: 'f', round: 1, members: members(n), params: 1, clip: 1, maxWeight: 1, selfShares });
        return [n, config.neighbours, config.threshold, roundGuarantees(config.neighbours, config.threshold, config.selfShares)];
      });
    expect(guaranteesOf([3, 4, 5, 6, 7, 8, 64, 100, 500])).toEqual([
      [3, 2, 2, { dropouts: 1, colludingMembers: 1, colludingWithActiveAggregator: 0 }],
      [4, 3, 2, { dropouts: 1, colludingMembers: 1, colludingWithActiveAggregator: 0 }],
      [5, 4, 3, { dropouts: 1, colludingMembers: 2, colludingWithActiveAggregator: 1 }],
      [6, 5, 3, { dropouts: 2, colludingMembers: 2, colludingWithActiveAggregator: 0 }],
      [7, 6, 4, { dropouts: 2, colludingMembers: 3, colludingWithActiveAggregator: 1 }],
      [8, 7, 4, { dropouts: 3, colludingMembers: 3, colludingWithActiveAggregator: 0 }],
      [64, 63, 32, { dropouts: 31, colludingMembers: 31, colludingWithActiveAggregator: 0 }],
      [100, 28, 15, { dropouts: 13, colludingMembers: 14, colludingWithActiveAggregator: 1 }],
      [500, 36, 19, { dropouts: 17, colludingMembers: 18, colludingWithActiveAggregator: 1 }],
    ]);
    // Opting in elsewhere (docs table): same dropouts and one more colluder of each kind at odd k (t raised), one more dropout and one fewer active colluder at even k.
    expect(guaranteesOf([4, 5, 6, 7, 8, 100], true)).toEqual([
      [4, 3, 3, { dropouts: 1, colludingMembers: 2, colludingWithActiveAggregator: 1 }],
      [5, 4, 3, { dropouts: 2, colludingMembers: 2, colludingWithActiveAggregator: 0 }],
      [6, 5, 4, { dropouts: 2, colludingMembers: 3, colludingWithActiveAggregator: 1 }],
      [7, 6, 4, { dropouts: 3, colludingMembers: 3, colludingWithActiveAggregator: 0 }],
      [8, 7, 5, { dropouts: 3, colludingMembers: 4, colludingWithActiveAggregator: 1 }],
      [100, 28, 15, { dropouts: 14, colludingMembers: 14, colludingWithActiveAggregator: 0 }],
    ]);
  });

  it('4 members survive one dropout after share_keys; a second one fails the round with the reason', () => {
    const cohort = createLocalCohort({ members: 4, params: 300, seed: 4 });
    expect(roundGuarantees(cohort.config.neighbours, cohort.config.threshold).dropouts).toBe(1);
    const one = runLocalRound({ ...cohort, dropAfter: { share_keys: ['m2'] } });
    expect(one.result.status).toBe('completed');
    if (one.result.status === 'completed') {
      expect([one.result.survivors, one.result.dropped]).toEqual([['m0', 'm1', 'm3'], ['m2']]);
      expect(one.result.totalWeight).toBe(plaintextWeightedSum(cohort.config, ['m0', 'm1', 'm3'].map((id) => cohort.updates.get(id)!)).totalWeight);
    }
    const two = runLocalRound({ ...cohort, dropAfter: { share_keys: ['m1', 'm2'] } });
    expect(two.result).toEqual({ status: 'failed', reason: 'cannot unmask: member m0: 1 of 2 needed shares; member m3: 1 of 2 needed shares' });
  });

  it('3 members without self-shares tolerate no dropout: one after share_keys fails the round with the reason, never a wrong sum', () => {
    const cohort = createLocalCohort({ members: 3, params: 300, seed: 3, selfShares: false });
    expect([cohort.config.neighbours, cohort.config.threshold]).toEqual([2, 2]);
    expect(runLocalRound(cohort).result.status).toBe('completed');
    const one = runLocalRound({ ...cohort, dropAfter: { share_keys: ['m1'] } });
    expect(one.result).toEqual({ status: 'failed', reason: 'cannot unmask: member m0: 1 of 2 needed shares; member m2: 1 of 2 needed shares' });
    // Lost earlier (after advertising, before sharing): the other two refuse to mask with a single neighbour.
    const early = runLocalRound({ ...cohort, dropAfter: { advertise_keys: ['m1'] } });
    expect(early.result).toEqual({ status: 'failed', reason: 'masked_input: only 0 members completed it; at least t = 2 needed' });
    expect(early.refusals.get('m0')).toMatch(/only 1 neighbours exchanged shares; 2 needed/);
  });
});
