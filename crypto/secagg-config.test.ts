import { describe, expect, it } from 'vitest';
import { generateIdentity, toBase64 } from './identity.ts';
import { checkRoundConfig, createRoundConfig, defaultGraphSeed, roundContext } from './secagg-config.ts';

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
  });
});
