/** @module Checks a strategy config before any step runs, so a bad value fails loudly, not as NaN weights. */
import { TesseraError } from '../../core/errors.ts';
import type { StrategyConfig } from '../../core/federation.ts';
import { STRATEGY_NAMES } from '../../core/federation.ts';

function bad(key: string, expected: string, got: unknown): never {
  throw new TesseraError('BAD_REQUEST', `strategy.${key}: expected ${expected}, got ${JSON.stringify(got)}`, { field: `strategy.${key}` });
}

function inRange(config: StrategyConfig, key: keyof StrategyConfig, lo: number, hi: number, loOpen: boolean, hiOpen: boolean): void {
  const v = config[key];
  const ok = typeof v === 'number' && Number.isFinite(v) && (loOpen ? v > lo : v >= lo) && (hiOpen ? v < hi : v <= hi);
  if (!ok) bad(key, `a number in ${loOpen ? '(' : '['}${lo}, ${hi}${hiOpen ? ')' : ']'}`, v);
}

/**
 * Throws BAD_REQUEST naming the field when a hyperparameter the named strategy reads is out of
 * range. Hyperparameters a strategy ignores are not checked (FedAvg does not care about beta2).
 */
export function assertStrategyConfig(config: StrategyConfig): void {
  if (!STRATEGY_NAMES.includes(config?.name)) bad('name', `one of ${STRATEGY_NAMES.join(', ')}`, config?.name);
  inRange(config, 'serverLearningRate', 0, Infinity, true, true);
  switch (config.name) {
    case 'fedavg':
      return;
    case 'fedprox':
      inRange(config, 'proximalMu', 0, Infinity, false, true);
      return;
    case 'fedavgm':
      inRange(config, 'momentum', 0, 1, false, true);
      return;
    case 'fedadagrad':
      inRange(config, 'beta1', 0, 1, false, true);
      inRange(config, 'tau', 0, Infinity, true, true);
      return;
    case 'fedadam':
    case 'fedyogi':
      inRange(config, 'beta1', 0, 1, false, true);
      inRange(config, 'beta2', 0, 1, false, true);
      inRange(config, 'tau', 0, Infinity, true, true);
      return;
  }
}
