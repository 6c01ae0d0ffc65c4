import { describe, expect, it } from 'vitest';
import { createRng } from '../core/random.ts';
import type { DistributedNoiseRound, SecAggRoundConfig } from '../core/secagg-wire.ts';
import { seededNoiseSource } from './ddp-noise.ts';
import { calibrateVariance, checkRoundNoise, distributedEpsilon, memberSensitivity, noiseTail, planDistributedNoise, roundSpend } from './ddp-round.ts';
import { quantizationStep } from './quantization.ts';
import { SecAggClient } from './secagg-client.ts';
import { SecAggServer } from './secagg-server.ts';
import type { LocalCohort } from './secagg-local.ts';
import { createLocalCohort, runLocalRound } from './secagg-local.ts';

const settings = (over: Partial<Omit<DistributedNoiseRound, 'variance'>> = {}) => ({ mechanism: 'discrete-gaussian' as const, epsilon: 2, delta: 1e-5, l2Clip: 1, minSurvivors: 3, ...over });

/** A cohort whose round config carries the planned distributed noise. */
function noisyCohort(members: number, params: number, over: Parameters<typeof settings>[0] = {}, seed = 3): LocalCohort {
  const { bits, noise } = planDistributedNoise({ members, params, clip: 1, settings: settings(over) });
  const c = createLocalCohort({ members, params, seed, clip: 1, maxWeight: 100, bits });
  return { ...c, config: { ...c.config, distributedNoise: noise } };
}

describe('distributed DP accountant', () => {
  it('discrete Gaussian, hand-checked: sum variance 4e6, sensitivity 2000 -> rho 0.5, epsilon 4.7285 at delta 1e-5 (order 5.4)', () => {
    // tau = 10 * sum_k exp(-2 pi^2 * 1e6 * k/(k+1)) underflows to 0, so RDP(alpha) = alpha * 2000^2 / (2 * 4 * 1e6) = 0.5 alpha;
    // improved conversion: min over orders of 0.5a + ln(1 - 1/a) - ln(1e-5 a)/(a - 1), attained at a = 5.4.
    const eps = distributedEpsilon('discrete-gaussian', { members: 4, variance: 1e6, dimension: 100, l2Sensitivity: 2000 }, 1e-5);
    expect(eps).toBeCloseTo(4.728507067217623, 9);
    // Below the classic zCDP conversion rho + 2 sqrt(rho ln(1/delta)) = 5.2985.
    expect(eps).toBeLessThan(0.5 + 2 * Math.sqrt(0.5 * Math.log(1e5)));
  });

  it('sensitivity, hand-checked: clip 2047 steps in 10 coordinates, beta e^-1/2 -> sqrt(2047^2 + 10/4 + 2047 + sqrt(10)/2) = 2047.5009', () => {
    const q = { clip: 1, bits: 12 }; // L = 2047, step = 1/2047
    expect(memberSensitivity(1, q, 10)).toBeCloseTo(2047.5009355648242, 6);
  });

  it('calibration: the sum over minSurvivors reaches the stated epsilon; more survivors spend less, fewer more', () => {
    const p = { mechanism: 'skellam' as const, epsilon: 1, delta: 1e-5, members: 5, dimension: 50, l2Sensitivity: 1000 };
    const v = calibrateVariance(p);
    const at = (members: number, variance = v) => distributedEpsilon('skellam', { members, variance, dimension: 50, l2Sensitivity: 1000 }, 1e-5);
    expect(at(5)).toBeLessThanOrEqual(1);
    expect(at(5, v * 0.99)).toBeGreaterThan(1);
    expect(at(10)).toBeLessThan(0.75);
    expect(at(3)).toBeGreaterThan(1.2);
  });

  it('headroom: a small epsilon needs fewer bits so values plus noise fit the 32-bit sum', () => {
    const wide = planDistributedNoise({ members: 10, params: 100, clip: 1, settings: settings({ epsilon: 5 }) });
    const narrow = planDistributedNoise({ members: 10, params: 100, clip: 1, settings: settings({ epsilon: 0.05 }) });
    expect(wide.bits).toBe(24);
    expect(narrow.bits).toBeLessThan(24);
    const L = 2 ** (narrow.bits - 1) - 1;
    expect(10 * L + noiseTail(10 * narrow.noise.variance, 100)).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(() => planDistributedNoise({ members: 10, params: 100, clip: 1, bits: 24, settings: settings({ epsilon: 0.05 }) })).toThrow(/quantization.bits/);
    expect(() => planDistributedNoise({ members: 10, params: 100, clip: 1, settings: settings({ l2Clip: 2 }) })).toThrow(/secure.distributedNoise.l2Clip/);
  });

  it('a member refuses an announced variance below what it computes itself', () => {
    const c = noisyCohort(4, 20);
    const cheap: SecAggRoundConfig = { ...c.config, distributedNoise: { ...c.config.distributedNoise!, variance: c.config.distributedNoise!.variance / 2 } };
    expect(() => checkRoundNoise(cheap)).toThrow(/distributedNoise.variance/);
    // The client's constructor (through the round config check) refuses it too, as does the server's.
    expect(() => new SecAggClient({ config: cheap, memberId: 'm0', identity: c.identities.get('m0')! })).toThrow(/distributedNoise.variance/);
    expect(() => new SecAggServer(cheap)).toThrow(/distributedNoise.variance/);
    expect(checkRoundNoise(c.config)).toEqual(c.config.distributedNoise);
  });

  it("roundSpend: the member's epsilon at the minimum cohort is the stated one", () => {
    const c = noisyCohort(4, 20, { epsilon: 1.5 });
    const { epsilon } = roundSpend(c.config, 3, 1e-5);
    expect(epsilon).toBeLessThanOrEqual(1.5);
    expect(epsilon).toBeGreaterThan(1.49);
    expect(roundSpend(c.config, 4, 1e-5).epsilon).toBeLessThan(epsilon);
  });
});

describe('secure aggregation with distributed noise (real client and server state machines)', () => {
  for (const mechanism of ['discrete-gaussian', 'skellam'] as const) {
    it(`${mechanism}: the secure sum's noise has variance survivors x per-member variance (fixed seeds)`, () => {
      const members = 5, params = 4000;
      const c = noisyCohort(members, params, { mechanism, epsilon: 3 });
      const noise = c.config.distributedNoise!;
      const { result } = runLocalRound({ ...c, random: (id) => { const r = createRng(`round:${id}`); return () => r.next(); }, noise: (id) => seededNoiseSource(`${mechanism}:${id}`) });
      if (result.status !== 'completed') throw new Error(result.reason);
      expect(result.survivors.length).toBe(members);
      // Every member weighs maxWeight under distributed DP: the weight words reveal only the survivor count.
      expect(result.totalWeight).toBe(members * c.config.maxWeight);
      const unit = quantizationStep(c.config.quantization) * c.config.maxWeight;
      const diffs: number[] = [];
      for (let i = 0; i < params; i++) {
        let clippedSum = 0;
        for (const id of result.survivors) {
          const d = c.updates.get(id)!.delta;
          let norm = 0;
          for (let j = 0; j < params; j++) norm += d[j] ** 2;
          clippedSum += d[i] * Math.min(1, noise.l2Clip / Math.sqrt(norm));
        }
        diffs.push(result.weightedSum[i] / unit - clippedSum / quantizationStep(c.config.quantization));
      }
      const mean = diffs.reduce((s, v) => s + v, 0) / params;
      const variance = diffs.reduce((s, v) => s + (v - mean) ** 2, 0) / (params - 1);
      // Sample variance of 4000 values: relative standard error sqrt(2/4000) = 2.2%; rounding adds < 5/4 steps^2.
      expect(Math.abs(variance / (members * noise.variance) - 1)).toBeLessThan(0.09);
      expect(Math.abs(mean)).toBeLessThan(5 * Math.sqrt((members * noise.variance) / params));
    });
  }

  it('a restored client recomputes the identical noisy masked input (noise and rounding come from its kept seed)', () => {
    const c = noisyCohort(4, 200, { mechanism: 'skellam' });
    const ids = c.config.members.map((m) => m.id);
    const clients = new Map(ids.map((id) => [id, new SecAggClient({ config: c.config, memberId: id, identity: c.identities.get(id)! })]));
    const server = new SecAggServer(c.config);
    for (const [, client] of clients) server.receive(client.advertiseKeys());
    server.close();
    for (const [id, client] of clients) {
      const r = server.requestFor(id);
      if (r?.stage !== 'share_keys') throw new Error('expected share_keys');
      server.receive(client.shareKeys(r));
    }
    server.close();
    const request = server.requestFor('m2');
    if (request?.stage !== 'masked_input') throw new Error('expected masked_input');
    const first = clients.get('m2')!.maskedInput(request, c.updates.get('m2')!);
    const restored = SecAggClient.restore(JSON.parse(JSON.stringify(clients.get('m2')!.snapshot())), c.identities.get('m2')!);
    expect(restored.maskedInput(request, c.updates.get('m2')!).vectorHash).toBe(first.vectorHash);
  });

  it('members refuse to sign a survivor set smaller than minSurvivors, so no sum with less noise is released', () => {
    const c = noisyCohort(6, 30, { minSurvivors: 5 });
    const { result, refusals } = runLocalRound({ ...c, dropAfter: { share_keys: ['m0', 'm1'] } });
    expect(result.status).toBe('failed');
    expect([...refusals.values()].some((r) => /calibrated for a sum over at least 5 members/.test(r))).toBe(true);
  });
});
