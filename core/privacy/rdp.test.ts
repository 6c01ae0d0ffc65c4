import { describe, expect, it } from 'vitest';
import { TesseraError } from '../errors.ts';
import { DEFAULT_ORDERS, calibrateNoise, composeRdp, computeRdp, dpSgdEpsilon, epsilonFromRdp, logErfc } from './rdp.ts';

// The orders TF-Privacy's compute_dp_sgd_privacy used when its tutorial README was written.
const OLD_ORDERS = [1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5, ...Array.from({ length: 59 }, (_, i) => i + 5), 128, 256, 512];

describe('computeRdp (sampled Gaussian mechanism)', () => {
  // Expected values: tensorflow/privacy, tensorflow_privacy/privacy/analysis/rdp_accountant_test.py.
  it('matches TF-Privacy at an integer order (test_compute_rdp_scalar: 0.07737)', () => {
    expect(computeRdp(0.1, 2, 10, [5])[0]).toBeCloseTo(0.07737, 5);
  });

  it('matches TF-Privacy at integer and fractional orders (test_compute_rdp_sequence)', () => {
    const got = computeRdp(0.01, 2.5, 50, [1.5, 2.5, 5, 50, 100]);
    const want = [0.00065, 0.001085, 0.00218075, 0.023846, 167.416307];
    got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-5));
  });

  it('is alpha / (2 sigma^2) without subsampling and 0 without data', () => {
    expect(computeRdp(1, 10, 1, [20])[0]).toBeCloseTo(0.1, 12);
    expect(computeRdp(0, 10, 1, [20])[0]).toBe(0);
  });

  it('composes by adding', () => {
    const a = computeRdp(0.05, 1.2, 10), b = computeRdp(0.05, 1.2, 20);
    composeRdp(a, a).forEach((v, i) => expect(v).toBeCloseTo(b[i], 9));
  });

  it('refuses a sampling rate outside [0, 1], naming the field', () => {
    expect(() => computeRdp(1.5, 1, 1)).toThrow(TesseraError);
    try { computeRdp(1.5, 1, 1); } catch (e) { expect((e as TesseraError).field).toBe('sampleRate'); }
  });
});

describe('epsilonFromRdp and DP-SGD', () => {
  it('improved conversion: constant RDP 1.1 at orders 2..32, delta 1e-5 -> 1.32783806176 (test_get_privacy_spent_check_target_delta)', () => {
    const orders = Array.from({ length: 31 }, (_, i) => i + 2);
    const { epsilon, order } = epsilonFromRdp(orders.map(() => 1.1), 1e-5, orders);
    expect(epsilon).toBeCloseTo(1.32783806176, 9);
    expect(order).toBe(32);
  });

  // compute_dp_sgd_privacy_test.py (tensorflow/privacy): Test0 and Test1 with their optimal orders.
  it('matches compute_dp_sgd_privacy: n 60000, batch 150, noise 1.3, 15 epochs, delta 1e-5 -> 0.7242234026109595 at order 19', () => {
    const rdp = computeRdp(150 / 60000, 1.3, Math.ceil((15 * 60000) / 150));
    const { epsilon, order } = epsilonFromRdp(rdp, 1e-5);
    expect(epsilon).toBeCloseTo(0.7242234026109595, 8);
    expect(order).toBe(19);
  });

  it('matches compute_dp_sgd_privacy: n 100000, batch 100, noise 1.0, 30 epochs, delta 1e-7 -> 1.4154988495444842 at order 13', () => {
    const { epsilon, order } = epsilonFromRdp(computeRdp(100 / 100000, 1.0, 30_000), 1e-7);
    expect(epsilon).toBeCloseTo(1.4154988495444842, 8);
    expect(order).toBe(13);
  });

  // tensorflow/privacy tutorials/README.md (MNIST, N 60000, batch 256, delta 1e-5, standard
  // RDP conversion of that time): "satisfies differential privacy with eps = 3.01" for noise 1.1
  // over 60 epochs; the parameter table lists 1.19 for noise 1.3 over 15 epochs and 7.10 for 0.7 over 45.
  it('reproduces the TF-Privacy MNIST tutorial figures (3.01, 1.19, 7.10) with the standard conversion', () => {
    const eps = (sigma: number, epochs: number) => dpSgdEpsilon({ sampleRate: 256 / 60000, noiseMultiplier: sigma, steps: Math.ceil((epochs * 60000) / 256), delta: 1e-5, orders: OLD_ORDERS, conversion: 'standard' });
    expect(eps(1.1, 60)).toBeCloseTo(3.01, 2);
    expect(eps(1.3, 15)).toBeCloseTo(1.19, 2);
    expect(Math.abs(eps(0.7, 45) - 7.1)).toBeLessThan(0.03);
    // The improved conversion is never worse.
    expect(dpSgdEpsilon({ sampleRate: 256 / 60000, noiseMultiplier: 1.1, steps: 14063, delta: 1e-5 })).toBeLessThan(3.01);
  });
});

describe('calibrateNoise', () => {
  it('finds the smallest sigma that meets the target (within 0.1%)', () => {
    const p = { targetEpsilon: 1, delta: 1e-3, sampleRate: 8 / 199, steps: 1125 };
    const sigma = calibrateNoise(p);
    expect(dpSgdEpsilon({ ...p, noiseMultiplier: sigma })).toBeLessThanOrEqual(1);
    expect(dpSgdEpsilon({ ...p, noiseMultiplier: sigma * 0.995 })).toBeGreaterThan(1);
  });

  it('recovers the tutorial noise from its epsilon', () => {
    const sigma = calibrateNoise({ targetEpsilon: 0.7242234026109595, delta: 1e-5, sampleRate: 150 / 60000, steps: 6000 });
    expect(sigma).toBeGreaterThanOrEqual(1.3 - 1e-9);
    expect(sigma).toBeLessThan(1.3 * 1.002);
  });
});

describe('logErfc', () => {
  it('is continuous across the series / continued-fraction switch and right in the tail', () => {
    expect(logErfc(2)).toBeCloseTo(Math.log(0.004677734981047266), 10);
    expect(logErfc(1.999999) - logErfc(2.000001)).toBeLessThan(1e-4);
    expect(logErfc(10)).toBeCloseTo(Math.log(2.088487583762545e-45), 8);
    expect(Math.exp(logErfc(-1))).toBeCloseTo(1.842700792949715, 12);
  });
  it('has the default orders of TF-Privacy', () => expect(DEFAULT_ORDERS.length).toBe(99 + 53 + 3));
});
