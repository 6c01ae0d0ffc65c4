/**
 * @module `npm run bench`: the platform's own costs. Sections run in order: aggregation against
 * a plain sum, a strategy step, one PGlite statement on both query paths, uploads over loopback HTTP with the database write, and training
 * samples/s per backend (bench/platform.ts).
 */
import type { StrategyConfig, StrategyName } from '../core/federation.ts';
import { parseStrategy } from '../core/federation.ts';
import { applyStrategy } from '../aggregator/strategies/index.ts';
import type { StrategyState } from '../aggregator/strategies/index.ts';
import { WeightedSum } from '../aggregator/strategies/weighted-mean.ts';
import type { BenchOptions, BenchResult, BenchSection } from './harness.ts';
import { isMain, runBenchmarks, timeInterleaved } from './harness.ts';
import { pgliteStatementSection, trainingSection, uploadSection } from './platform.ts';

/** Deterministic values in [-1, 1) (xorshift32), so every run sums the same data. */
function randomVector(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed | 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 0) / 2 ** 31 - 1;
  }
  return out;
}

/** The reference: the plainest typed-array sum of the same vectors. */
function plainSum(updates: readonly Float32Array[], n: number): Float32Array {
  const acc = new Float32Array(n);
  for (const u of updates) for (let i = 0; i < n; i++) acc[i] += u[i];
  return acc;
}

/** What the aggregator does: a streamed, weighted float64 sum, then the mean. */
function streamedMean(updates: readonly Float32Array[], weights: readonly number[], n: number): Float32Array {
  const sum = new WeightedSum(n);
  for (let k = 0; k < updates.length; k++) sum.add(updates[k], weights[k]);
  return sum.mean();
}

/** Aggregation of `members` updates of `parameters` float32 values: WeightedSum against a plain sum. */
export const aggregationSection: BenchSection = {
  name: 'aggregation (WeightedSum vs plain Float32Array sum, same data, same run)',
  run({ quick }: BenchOptions): BenchResult[] {
    const members = quick ? 20 : 100;
    const parameters = 1_000_000;
    const repetitions = quick ? 3 : 7;
    const warmup = quick ? 1 : 2;
    const updates = Array.from({ length: members }, (_, k) => randomVector(parameters, 0x9e3779b9 + k));
    const weights = updates.map((_, k) => 50 + ((k * 37) % 500));
    let sink = 0;
    const t = timeInterleaved(
      {
        plain: () => (sink += plainSum(updates, parameters)[7]),
        weightedSum: () => (sink += streamedMean(updates, weights, parameters)[7]),
      },
      { warmup, repetitions },
    );
    if (!Number.isFinite(sink)) throw new Error('aggregation produced a non-finite value');
    const mb = (members * parameters * 4) / 1e6;
    const detail = { members, parameters, repetitions, warmup };
    const section = 'aggregation';
    return [
      { section, metric: `plain sum, ${members} x ${parameters / 1e6}M float32`, value: t.plain.medianMs, unit: 'ms (median)', detail: { ...detail, samplesMs: t.plain.samplesMs } },
      { section, metric: `WeightedSum add + mean, same data`, value: t.weightedSum.medianMs, unit: 'ms (median)', detail: { ...detail, samplesMs: t.weightedSum.samplesMs } },
      { section, metric: 'ratio WeightedSum / plain (goal <= 1.5)', value: t.weightedSum.medianMs / t.plain.medianMs, unit: 'x', detail },
      { section, metric: 'WeightedSum read bandwidth', value: mb / (t.weightedSum.medianMs / 1000), unit: 'MB/s', detail },
    ];
  },
};

/** One server step of each strategy on a 1M-parameter model (runs once per round, after the mean). */
export const strategyStepSection: BenchSection = {
  name: 'strategy step (once per round, after the mean)',
  run({ quick }: BenchOptions): BenchResult[] {
    const parameters = 1_000_000;
    const global = randomVector(parameters, 11);
    const delta = randomVector(parameters, 12).map((x) => x * 0.01);
    const names: StrategyName[] = ['fedavg', 'fedavgm', 'fedadagrad', 'fedadam', 'fedyogi'];
    const configs = Object.fromEntries(names.map((n) => [n, parseStrategy(n)])) as Record<StrategyName, StrategyConfig>;
    // Time the second round: the one that reads a persisted state, like every round after the first.
    const states = Object.fromEntries(names.map((n) => [n, applyStrategy(configs[n], global, delta, null).state])) as Record<StrategyName, StrategyState>;
    const t = timeInterleaved(
      Object.fromEntries(names.map((n) => [n, () => applyStrategy(configs[n], global, delta, states[n])])) as Record<StrategyName, () => unknown>,
      { warmup: 1, repetitions: quick ? 3 : 5 },
    );
    return names.map((n) => ({ section: 'strategy', metric: `${n}, ${parameters / 1e6}M parameters`, value: t[n].medianMs, unit: 'ms (median)', detail: { parameters } }));
  },
};

/** Every section `npm run bench` runs, in order. */
export const coreSections: BenchSection[] = [aggregationSection, strategyStepSection, pgliteStatementSection, uploadSection, trainingSection];

if (isMain(import.meta.url)) await runBenchmarks('core', coreSections);
