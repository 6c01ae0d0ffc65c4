/**
 * @module The ready-made LocalModel for tabular data: a prepared dataset (see dataset.ts) and the
 * TF.js trainer. The CLI's `client run` uses it; a member with its own loader or model can build
 * the same shape (see docs/clients.md).
 */
import type { FederationConfig } from '../core/federation.ts';
import type { ModelSpec } from '../core/model.ts';
import type { PreparedDataset } from './dataset.ts';
import { assertDatasetFitsModel } from './dataset.ts';
import type { LocalModel } from './runtime.ts';
import { createTrainer } from './trainer.ts';

/** A LocalModel that trains on `data.train` and evaluates on `data.test`. */
export async function tabularMember(data: PreparedDataset, model: ModelSpec, opts: { seed?: number } = {}): Promise<LocalModel & { dispose(): void }> {
  assertDatasetFitsModel(data, model);
  const trainer = await createTrainer(model);
  const seed = opts.seed ?? 0;
  return {
    async train(global, { round, config }: { round: number; config: FederationConfig }) {
      const proximalMu = config.strategy.name === 'fedprox' ? config.strategy.proximalMu : 0;
      const result = await trainer.train(global, data.train, { ...config.training, proximalMu, seed: seed * 100_003 + round });
      return { weights: result.weights, examples: result.examples };
    },
    async evaluate(weights) {
      const r = await trainer.evaluate(weights, data.test);
      return { examples: r.examples, correct: r.correct, lossSum: r.lossSum, auc: r.auc ?? null };
    },
    dispose: () => trainer.dispose(),
  };
}
