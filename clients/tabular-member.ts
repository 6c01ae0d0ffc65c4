/**
 * @module The ready-made LocalModel for tabular data: a prepared dataset (see dataset.ts) and the
 * TF.js trainer. The CLI's `client run` uses it; a member with its own loader or model can build
 * the same shape (see docs/clients.md). With the federation's `privacy` set it trains with
 * record-level DP-SGD (clients/dp-sgd.ts) and says what each round costs (core/privacy/plan.ts).
 */
import type { FederationConfig } from '../core/federation.ts';
import type { ModelSpec } from '../core/model.ts';
import type { DpSgdPlan } from '../core/privacy/plan.ts';
import { planDpSgd } from '../core/privacy/plan.ts';
import { createRng } from '../core/random.ts';
import type { PreparedDataset } from './dataset.ts';
import { assertDatasetFitsModel } from './dataset.ts';
import type { LocalModel } from './runtime.ts';
import { createTrainer } from './trainer.ts';

/** `dpNoiseSeed`: seeds DP sampling and noise for reproducible benchmarks and tests only (default: a CSPRNG). */
export async function tabularMember(data: PreparedDataset, model: ModelSpec, opts: { seed?: number; dpNoiseSeed?: number } = {}): Promise<LocalModel & { dispose(): void }> {
  assertDatasetFitsModel(data, model);
  const trainer = await createTrainer(model);
  const seed = opts.seed ?? 0;
  const plans = new Map<string, DpSgdPlan>();
  const privacyPlan = (config: FederationConfig): DpSgdPlan | null => {
    const privacy = config.privacy ?? null;
    if (!privacy) return null;
    // Calibration is a bisection over the accountant: done once per distinct setting.
    const key = JSON.stringify([privacy, config.training, config.rounds]);
    if (!plans.has(key)) plans.set(key, planDpSgd(privacy, config.training, data.train.n, config.rounds));
    return plans.get(key)!;
  };
  return {
    async train(global, { round, config }: { round: number; config: FederationConfig }) {
      const proximalMu = config.strategy.name === 'fedprox' ? config.strategy.proximalMu : 0;
      const plan = privacyPlan(config);
      const dp = plan ? { noiseMultiplier: plan.noiseMultiplier, clipNorm: plan.clipNorm, sampling: plan.sampling, ...(opts.dpNoiseSeed !== undefined ? { rng: createRng(`${opts.dpNoiseSeed}:${round}`) } : {}) } : undefined;
      const result = await trainer.train(global, data.train, { ...config.training, proximalMu, seed: seed * 100_003 + round, dp });
      return { weights: result.weights, examples: result.examples };
    },
    async evaluate(weights) {
      const r = await trainer.evaluate(weights, data.test);
      return { examples: r.examples, correct: r.correct, lossSum: r.lossSum, auc: r.auc ?? null };
    },
    privacyPlan,
    dispose: () => trainer.dispose(),
  };
}
