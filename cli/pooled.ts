/**
 * @module The pooled (centralised) reference line for a local run: the same model trained once on
 * every member's train split stacked together, with the same total epochs, evaluated on each
 * member's own test split. Only for demos and benchmarks on public data: it pools the data that a
 * real federation never pools, to show what federated training gives up (or not).
 */
import type { FederationConfig } from '../core/federation.ts';
import { initialWeights } from '../core/model.ts';
import { loadDataset } from '../clients/dataset.ts';
import { createTrainer, trainPooled } from '../clients/trainer.ts';
import type { LocalMember } from './local-file.ts';

export interface PooledResult {
  meanAccuracy: number;
  perMember: Record<string, { accuracy: number; testExamples: number; auc: number | null }>;
}

export async function pooledReference(members: readonly LocalMember[], config: FederationConfig, opts: { seed: number; splitSeed?: number }): Promise<PooledResult> {
  const data = await Promise.all(members.map((m) => loadDataset(m.dataset, { seed: opts.splitSeed })));
  const epochs = config.training.localEpochs * config.rounds;
  const { weights } = await trainPooled(config.model, initialWeights(config.model, opts.seed), data.map((d) => d.train), { ...config.training, localEpochs: epochs, localSteps: null, seed: opts.seed });
  const trainer = await createTrainer(config.model);
  try {
    const perMember: PooledResult['perMember'] = {};
    for (let i = 0; i < members.length; i++) {
      const r = await trainer.evaluate(weights, data[i].test);
      perMember[members[i].name] = { accuracy: r.correct / r.examples, testExamples: r.examples, auc: r.auc ?? null };
    }
    const accs = Object.values(perMember).map((v) => v.accuracy);
    return { meanAccuracy: accs.reduce((a, b) => a + b, 0) / accs.length, perMember };
  } finally {
    trainer.dispose();
  }
}
