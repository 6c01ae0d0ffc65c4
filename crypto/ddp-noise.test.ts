import { describe, expect, it } from 'vitest';
import { epsilonFromRdp } from '../core/privacy/rdp.ts';
import { addDistributedNoise, discreteGaussianSumRdp, roundedL2Sensitivity, sampleDiscreteGaussian, samplePoisson, sampleSkellam, seededNoiseSource, skellamSumRdp } from './ddp-noise.ts';

const moments = (xs: number[]) => {
  const mean = xs.reduce((s, v) => s + v, 0) / xs.length;
  return { mean, variance: xs.reduce((s, v) => s + (v - mean) ** 2, 0) / (xs.length - 1) };
};

describe('discrete Gaussian sampler (Canonne, Kamath, Steinke 2020)', () => {
  it.each([0.7, 4, 37.5, 1000])('has mean 0 and variance close to sigma^2 = %s (fixed seed, 20000 samples)', (v) => {
    const src = seededNoiseSource(`dg:${v}`);
    const xs = Array.from({ length: 20_000 }, () => sampleDiscreteGaussian(v, src));
    const { mean, variance } = moments(xs);
    expect(xs.every(Number.isInteger)).toBe(true);
    // Var of N_Z(0, s^2) is at most s^2 and within 1% of it for s >= 1; sample error ~ sqrt(2/n) = 1%.
    expect(Math.abs(variance / v - 1)).toBeLessThan(v < 1 ? 0.15 : 0.05);
    expect(Math.abs(mean)).toBeLessThan(5 * Math.sqrt(v / xs.length));
  });

  it('matches the probability mass function at small sigma', () => {
    const src = seededNoiseSource('pmf');
    const v = 1, n = 40_000;
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) { const x = sampleDiscreteGaussian(v, src); counts.set(x, (counts.get(x) ?? 0) + 1); }
    let z = 0;
    for (let k = -30; k <= 30; k++) z += Math.exp(-(k * k) / 2);
    for (const k of [0, 1, 2, 3]) {
      const p = Math.exp(-(k * k) / 2) / z;
      expect(Math.abs((counts.get(k) ?? 0) / n - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / n));
    }
  });
});

describe('Skellam sampler', () => {
  it.each([3, 50, 5000])('Poisson(%s) has mean and variance lambda', (lambda) => {
    const src = seededNoiseSource(`p:${lambda}`);
    const { mean, variance } = moments(Array.from({ length: 20_000 }, () => samplePoisson(lambda, src)));
    expect(Math.abs(mean / lambda - 1)).toBeLessThan(0.02);
    expect(Math.abs(variance / lambda - 1)).toBeLessThan(0.05);
  });

  it('has variance mu', () => {
    const src = seededNoiseSource('sk');
    const { mean, variance } = moments(Array.from({ length: 20_000 }, () => sampleSkellam(200, src)));
    expect(Math.abs(variance / 200 - 1)).toBeLessThan(0.05);
    expect(Math.abs(mean)).toBeLessThan(0.6);
  });
});

describe('addDistributedNoise', () => {
  it('adds integer noise mod 2^32 whose sum over members has members x variance', () => {
    const members = 8, d = 4000, v = 25;
    const sum = new Uint32Array(d);
    for (let m = 0; m < members; m++) {
      const q = new Uint32Array(d).fill(100);
      addDistributedNoise(q, { mechanism: 'discrete-gaussian', variance: v }, seededNoiseSource(`m${m}`));
      for (let i = 0; i < d; i++) sum[i] = (sum[i] + q[i]) >>> 0;
    }
    const noise = Array.from(sum, (s) => (s | 0) - members * 100);
    expect(Math.abs(moments(noise).variance / (members * v) - 1)).toBeLessThan(0.07);
  });

  it('wraps negative noise around 2^32 and refuses bad parameters', () => {
    const q = addDistributedNoise(new Uint32Array(2000), { mechanism: 'skellam', variance: 4 }, seededNoiseSource('w'));
    expect(Array.from(q).some((x) => x > 2 ** 31)).toBe(true);
    expect(() => addDistributedNoise(new Uint32Array(1), { mechanism: 'skellam', variance: 0 })).toThrow(/variance/);
    expect(() => addDistributedNoise(new Uint32Array(1), { mechanism: 'laplace' as never, variance: 1 })).toThrow(/mechanism/);
  });
});

describe('distributed DP accountants', () => {
  it('discrete Gaussian: approaches the continuous Gaussian alpha * D^2 / (2 n s^2) for large variance', () => {
    const p = { members: 10, variance: 400, dimension: 1000, l2Sensitivity: 50 };
    const rdp = discreteGaussianSumRdp(p, [2, 8, 32]);
    [2, 8, 32].forEach((a, i) => expect(rdp[i]).toBeCloseTo((a * 2500) / (2 * 4000), 9));
  });

  it('discrete Gaussian: tiny per-member variance is penalised (tau term)', () => {
    const big = discreteGaussianSumRdp({ members: 10, variance: 0.05, dimension: 1000, l2Sensitivity: 1 }, [2])[0];
    expect(big).toBeGreaterThan(2 / (2 * 0.5));
  });

  it('Skellam: the Gaussian term plus a surcharge that vanishes as the variance grows', () => {
    const p = { members: 10, variance: 1e4, dimension: 100, l2Sensitivity: 30 };
    const [r] = skellamSumRdp(p, [4]);
    const gauss = (4 * 900) / (2 * 1e5);
    expect(r).toBeGreaterThan(gauss);
    expect(r / gauss - 1).toBeLessThan(0.05);
    expect(() => skellamSumRdp(p, [2.5])).toThrow(/integer orders/);
  });

  it('gives a finite epsilon through the same conversion as DP-SGD', () => {
    const orders = Array.from({ length: 62 }, (_, i) => i + 2);
    const eps = epsilonFromRdp(discreteGaussianSumRdp({ members: 100, variance: 100, dimension: 10_000, l2Sensitivity: roundedL2Sensitivity(100, 10_000, 1e-9) }, orders), 1e-5, orders).epsilon;
    expect(eps).toBeGreaterThan(0);
    expect(eps).toBeLessThan(20);
  });
});
