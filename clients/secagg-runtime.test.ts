import { describe, expect, it } from 'vitest';
import { DEFAULT_SECURE } from '../core/federation.ts';
import type { SecureConfig } from '../core/federation.ts';
import { generateIdentity, toBase64 } from '../crypto/identity.ts';
import { createRoundConfig } from '../crypto/secagg-config.ts';
import { announcedConfigProblem } from './secagg-runtime.ts';

const members = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `m${String(i).padStart(3, '0')}`, identityKey: toBase64(generateIdentity().publicKey) }));
const settings: SecureConfig = { ...DEFAULT_SECURE, enabled: true };
const at = { federationId: 'f', round: 3 };
const announced = (n: number, over: Partial<Parameters<typeof createRoundConfig>[0]> = {}) =>
  createRoundConfig({ federationId: 'f', round: 3, members: members(n), params: 10, clip: settings.clip, maxWeight: settings.maxWeight, ...over });

describe('a member checks the announced round configuration against the published settings', () => {
  it('accepts what the federation rule gives, at every cohort size', () => {
    for (const n of [3, 4, 9, 100]) expect(announcedConfigProblem(announced(n), at, settings)).toBeNull();
    const custom = { ...settings, neighbours: 10, threshold: 7 };
    expect(announcedConfigProblem(announced(100, { neighbours: 10, threshold: 7 }), at, custom)).toBeNull();
  });

  it('refuses a threshold or neighbour count the rule does not give (an aggregator weakening the round)', () => {
    expect(announcedConfigProblem(announced(100, { threshold: 2 }), at, settings)).toBe("threshold 2 (the federation's settings give 15 for 100 members)");
    expect(announcedConfigProblem(announced(100, { neighbours: 10 }), at, settings)).toBe("10 neighbours (the federation's settings give 28 for 100 members)");
  });

  it('refuses self-shares the federation does not publish, and their absence where it does', () => {
    expect(announcedConfigProblem(announced(8, { selfShares: true }), at, settings)).toBe("threshold 5 (the federation's settings give 4 for 8 members)");
    expect(announcedConfigProblem(announced(3, { selfShares: false }), at, settings)).toBe("selfShares false (the federation's settings give true)");
    expect(announcedConfigProblem(announced(8, { selfShares: true }), at, { ...settings, selfShares: true })).toBeNull();
  });

  it('refuses another federation, round, clip or weight cap', () => {
    expect(announcedConfigProblem(announced(4), { federationId: 'g', round: 3 }, settings)).toBe('federation f');
    expect(announcedConfigProblem(announced(4), { federationId: 'f', round: 4 }, settings)).toBe('round 3');
    expect(announcedConfigProblem(announced(4, { clip: settings.clip * 2 }), at, settings)).toMatch(/^clip /);
    expect(announcedConfigProblem(announced(4, { maxWeight: settings.maxWeight + 1 }), at, settings)).toMatch(/^maxWeight /);
  });
});
