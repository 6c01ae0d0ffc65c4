/**
 * @module `npm run bench:accuracy`: the heart-disease federation with every strategy over 5 seeds,
 * beside FLamby's published numbers and a pooled model trained in the same run on the same splits.
 * Runs the real aggregator and member runtime in one process (simulations/in-process.ts).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { STRATEGY_NAMES } from '../core/federation.ts';
import type { TrainingConfig } from '../core/federation.ts';
import { parseFederationConfig } from '../core/federation.ts';
import { initialWeights } from '../core/model.ts';
import { openDatabase } from '../aggregator/db/database.ts';
import { selectBackend } from '../clients/backend.ts';
import type { PreparedDataset } from '../clients/dataset.ts';
import { loadDataset } from '../clients/dataset.ts';
import { tabularMember } from '../clients/tabular-member.ts';
import { createTrainer, trainPooled } from '../clients/trainer.ts';
import { runInProcess } from '../simulations/in-process.ts';
import type { BenchOptions, BenchResult, BenchSection } from './harness.ts';
import { isMain, runBenchmarks } from './harness.ts';

const FILE = resolve(import.meta.dirname ?? dirname(new URL(import.meta.url).pathname), '../examples/heart-disease/federation.json');

interface LocalFile {
  members: { name: string; dataset: string }[];
  reference: { meanAccuracy: Record<string, number> };
  [k: string]: unknown;
}

async function pooledAccuracy(file: LocalFile, data: PreparedDataset[], seed: number): Promise<number> {
  const config = parseFederationConfig({ ...file, seed });
  // The same total work as the federation: rounds x local epochs over the pooled train splits.
  const training: TrainingConfig = { ...config.training, localEpochs: config.training.localEpochs * config.rounds, localSteps: null };
  const { weights } = await trainPooled(config.model, initialWeights(config.model, seed), data.map((d) => d.train), { ...training, seed });
  const trainer = await createTrainer(config.model);
  let sum = 0;
  for (const d of data) {
    const r = await trainer.evaluate(weights, d.test);
    sum += r.correct / r.examples / data.length;
  }
  trainer.dispose();
  return sum;
}

export const accuracySection: BenchSection = {
  name: 'heart-disease: mean test accuracy over the 4 hospitals, mean over seeds',
  async run({ quick, flags }: BenchOptions): Promise<BenchResult[]> {
    const file = JSON.parse(readFileSync(FILE, 'utf8')) as LocalFile;
    const seeds = quick ? [1, 2] : [1, 2, 3, 4, 5];
    // FLamby's protocol: one fixed split per hospital (the specs' split.seed), seeds vary training.
    // --resample-splits draws a new split per seed as well.
    const resample = flags.includes('resample-splits');
    const strategies = quick ? (['fedavg', 'fedyogi'] as const) : STRATEGY_NAMES;
    const backend = await selectBackend();
    const database = await openDatabase({ dataDir: 'memory' });
    const results: BenchResult[] = [];
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    try {
      const pooled: number[] = [];
      const perStrategy = new Map<string, number[]>(strategies.map((s) => [s, []]));
      for (const seed of seeds) {
        const data = await Promise.all(file.members.map((m) => loadDataset(resolve(dirname(FILE), m.dataset), resample ? { seed } : {})));
        pooled.push(await pooledAccuracy(file, data, seed));
        for (const strategy of strategies) {
          const members = await Promise.all(file.members.map(async (m, i) => ({ name: m.name, model: await tabularMember(data[i], parseFederationConfig({ ...file, seed }).model, { seed }) })));
          const { members: _m, reference: _r, ...federation } = file;
          const out = await runInProcess({ ...federation, strategy: { ...(typeof file.strategy === 'object' ? file.strategy : {}), name: strategy }, seed }, members, { database });
          for (const m of members) (m.model as unknown as { dispose(): void }).dispose();
          perStrategy.get(strategy)!.push(out.final!.meanAccuracy!);
          process.stderr.write(`seed ${seed} ${strategy}: ${out.final!.meanAccuracy!.toFixed(3)}\n`);
        }
      }
      const ref = file.reference.meanAccuracy;
      for (const [strategy, accs] of perStrategy) {
        results.push({ section: 'accuracy', metric: `${strategy} (FLamby ${ref[strategy]?.toFixed(3) ?? '—'})`, value: mean(accs), unit: 'mean accuracy', detail: { strategy, seeds, perSeed: accs, flamby: ref[strategy] ?? null, backend } });
      }
      results.push({ section: 'accuracy', metric: `pooled, same splits, same run (FLamby ${ref.pooled.toFixed(3)})`, value: mean(pooled), unit: 'mean accuracy', detail: { seeds, perSeed: pooled, flamby: ref.pooled } });
      return results;
    } finally {
      await database.close();
    }
  },
};

if (isMain(import.meta.url)) await runBenchmarks('accuracy', [accuracySection]);
