import { describe, expect, it } from 'vitest';
import { TesseraError } from '../../core/errors.ts';
import type { StrategyConfig, StrategyName } from '../../core/federation.ts';
import { parseStrategy, STRATEGY_NAMES } from '../../core/federation.ts';
import { applyStrategy, assertStrategyConfig } from './index.ts';

const config = (name: StrategyName, over: Partial<StrategyConfig> = {}): StrategyConfig => ({ ...parseStrategy(name), ...over });
const w = Float32Array.of(1, 2);
const d = Float32Array.of(0.5, -0.5);

function errorOf(fn: () => unknown): TesseraError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TesseraError) return e;
    throw e;
  }
  throw new Error('expected a TesseraError');
}

describe('applyStrategy', () => {
  it('accepts every default config from parseStrategy', () => {
    for (const name of STRATEGY_NAMES) expect(() => assertStrategyConfig(parseStrategy(name))).not.toThrow();
  });

  it.each([
    ['fedavg', { serverLearningRate: 0 }, 'strategy.serverLearningRate'],
    ['fedavg', { serverLearningRate: -1 }, 'strategy.serverLearningRate'],
    ['fedavg', { serverLearningRate: Number.NaN }, 'strategy.serverLearningRate'],
    ['fedprox', { proximalMu: -0.1 }, 'strategy.proximalMu'],
    ['fedavgm', { momentum: 1 }, 'strategy.momentum'],
    ['fedavgm', { momentum: -0.5 }, 'strategy.momentum'],
    ['fedadam', { beta1: 1 }, 'strategy.beta1'],
    ['fedadam', { beta2: 1 }, 'strategy.beta2'],
    ['fedyogi', { beta2: 1.5 }, 'strategy.beta2'],
    ['fedyogi', { tau: 0 }, 'strategy.tau'],
    ['fedadagrad', { tau: Infinity }, 'strategy.tau'],
    ['fedadagrad', { beta1: -0.1 }, 'strategy.beta1'],
  ] as const)('%s with %o fails with BAD_REQUEST naming %s', (name, over, field) => {
    const e = errorOf(() => applyStrategy(config(name, over), w, d, null));
    expect(e.code).toBe('BAD_REQUEST');
    expect(e.field).toBe(field);
    expect(e.message).toContain(field);
  });

  it('refuses an unknown strategy name', () => {
    const e = errorOf(() => applyStrategy({ ...config('fedavg'), name: 'fedsgd' as StrategyName }, w, d, null));
    expect([e.code, e.field]).toEqual(['BAD_REQUEST', 'strategy.name']);
  });

  it('ignores hyperparameters the strategy does not read', () => {
    expect(Array.from(applyStrategy(config('fedavg', { beta2: 5, tau: -1 }), w, d, null).weights)).toEqual([1.5, 1.5]);
  });

  it('refuses a mean delta of the wrong length or with NaN or Infinity (BAD_TENSORS)', () => {
    expect(errorOf(() => applyStrategy(config('fedavg'), w, Float32Array.of(1), null)).code).toBe('BAD_TENSORS');
    expect(errorOf(() => applyStrategy(config('fedadam'), w, Float32Array.of(Number.NaN, 0), null)).code).toBe('BAD_TENSORS');
    expect(errorOf(() => applyStrategy(config('fedavg'), w, Float32Array.of(0, Infinity), null)).code).toBe('BAD_TENSORS');
  });

  it('refuses a state from another strategy or another model size (ROUND_STATE)', () => {
    const adam = applyStrategy(config('fedadam'), w, d, null).state;
    expect(errorOf(() => applyStrategy(config('fedyogi'), w, d, adam)).message).toMatch(/written by fedadam/);
    expect(errorOf(() => applyStrategy(config('fedadam'), Float32Array.of(1, 2, 3), Float32Array.of(0, 0, 0), adam)).code).toBe('ROUND_STATE');
    expect(errorOf(() => applyStrategy(config('fedadam'), w, d, { ...adam, buffers: { m: adam.buffers.m } })).code).toBe('ROUND_STATE');
  });

  it.each(STRATEGY_NAMES)('%s never modifies its inputs (the old state stays valid if a commit fails)', (name) => {
    const first = applyStrategy(config(name), w, d, null).state;
    const saved = structuredClone(first);
    const [wCopy, dCopy] = [w.slice(), d.slice()];
    applyStrategy(config(name), w, d, first);
    expect(first).toEqual(saved);
    expect(w).toEqual(wCopy);
    expect(d).toEqual(dCopy);
  });
});
