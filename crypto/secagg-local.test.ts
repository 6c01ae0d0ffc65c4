import { describe, expect, it } from 'vitest';
import { createRng, shuffle } from '../core/random.ts';
import type { SecAggStage } from '../core/secagg-wire.ts';
import type { LocalCohort } from './secagg-local.ts';
import { createLocalCohort, plaintextWeightedSum, runLocalRound } from './secagg-local.ts';
import type { SecAggResult } from './secagg-server.ts';

function expectMatchesPlaintext(cohort: LocalCohort, result: SecAggResult): void {
  if (result.status !== 'completed') throw new Error(`round failed: ${result.reason}`);
  const ref = plaintextWeightedSum(cohort.config, result.survivors.map((id) => cohort.updates.get(id)!));
  expect(result.totalWeight).toBe(ref.totalWeight);
  expect(result.clipped).toBe(ref.clipped);
  let worst = 0;
  for (let i = 0; i < ref.weightedSum.length; i++) worst = Math.max(worst, Math.abs(result.weightedSum[i] - ref.weightedSum[i]));
  // The documented bound: survivors * step * maxWeight per coordinate (float slack for the reference sum).
  expect(worst).toBeLessThanOrEqual(result.errorBound * (1 + 1e-9) + 1e-9);
}

const STAGES_TO_DROP_AFTER: SecAggStage[] = ['advertise_keys', 'share_keys', 'masked_input', 'consistency'];

function pickDropped(cohort: LocalCohort, fraction: number, seed: number): string[] {
  const ids = cohort.config.members.map((m) => m.id);
  return shuffle([...ids], createRng(seed)).slice(0, Math.round(ids.length * fraction));
}

describe('secure aggregation end to end', () => {
  it('10 members, full SecAgg, nobody drops: the sum equals the plaintext weighted sum within the bound', () => {
    const cohort = createLocalCohort({ members: 10, params: 3000, seed: 1 });
    expect(cohort.config.neighbours).toBe(9);
    const { result } = runLocalRound(cohort);
    expectMatchesPlaintext(cohort, result);
    expect(result.status === 'completed' && result.clipped).toBeGreaterThan(0);
  });

  for (const [label, members, overrides] of [
    ['full SecAgg, 10 members', 10, {}],
    ['SecAgg+, 30 members, k = 12', 30, { neighbours: 12, threshold: 7 }],
  ] as const) {
    for (const fraction of [0.1, 0.3]) {
      for (const stage of STAGES_TO_DROP_AFTER) {
        it(`${label}: ${fraction * 100}% drop after ${stage}`, () => {
          const cohort = createLocalCohort({ members, params: 500, seed: 7, ...overrides });
          const dropped = pickDropped(cohort, fraction, 11);
          const { result } = runLocalRound({ ...cohort, dropAfter: { [stage]: dropped } });
          expectMatchesPlaintext(cohort, result);
          if (result.status !== 'completed') return;
          const expectedSurvivors = stage === 'masked_input' || stage === 'consistency' ? members : members - dropped.length;
          expect(result.survivors.length).toBe(expectedSurvivors);
          if (stage === 'share_keys') expect(result.dropped).toEqual([...dropped].sort());
        });
      }
    }
  }
});
