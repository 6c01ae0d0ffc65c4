/**
 * @module Virtual members: synthetic LocalModels for simulations. Each member's delta and example
 * count are fixed by (seed, member, round), so the harness knows every true delta without asking
 * the member, and the model is a logistic spec whose layout has exactly `params` values (no TF.js).
 * The model records the hash of every set of weights it is handed (invariant 5).
 */
import { encodeWeights } from '../core/codec.ts';
import { contentHash } from '../core/hash.ts';
import type { ModelSpec } from '../core/model.ts';
import { createRng } from '../core/random.ts';
import type { LocalModel } from '../clients/runtime.ts';

/** A spec with exactly `params` parameters: `params - 1` inputs, one output. */
export const virtualSpec = (params: number): ModelSpec => ({ kind: 'logistic', inputs: Math.max(1, params - 1), outputs: 1 });

/** Largest absolute delta coordinate: well inside the secure default clip, so nothing is clipped. */
export const DELTA_SCALE = 0.05;

/** Member `member`'s true delta in `round` (flat, in layout order). */
export function trueDelta(seed: number, member: number, round: number, params: number): Float32Array {
  const rng = createRng(`delta/${seed}/${member}/${round}`);
  const out = new Float32Array(params);
  for (let i = 0; i < params; i++) out[i] = (rng.next() * 2 - 1) * DELTA_SCALE;
  return out;
}

/** Member `member`'s training-example count (its weight in FedAvg): 10..99. */
export function trueExamples(seed: number, member: number): number {
  return 10 + createRng(`examples/${seed}/${member}`).int(90);
}

/** What a virtual member was handed: the hash of the weights it trained on or evaluated. */
export interface ModelObservation {
  member: number;
  round: number;
  use: 'train' | 'evaluate';
  hash: string;
}

/** A LocalModel whose local weights are global + trueDelta; evaluation reports fixed counts. */
export function virtualModel(opts: { seed: number; member: number; observe: (o: ModelObservation) => void }): LocalModel {
  const { seed, member } = opts;
  return {
    async train(global, { round }) {
      opts.observe({ member, round, use: 'train', hash: contentHash(encodeWeights(global)) });
      const params = global.reduce((n, t) => n + t.data.length, 0);
      const delta = trueDelta(seed, member, round, params);
      let j = 0;
      const weights = global.map((t) => ({ ...t, data: t.data.map((v) => v + delta[j++]) }));
      return { weights, examples: trueExamples(seed, member) };
    },
    async evaluate(weights, { round }) {
      opts.observe({ member, round, use: 'evaluate', hash: contentHash(encodeWeights(weights)) });
      return { examples: 20, correct: 10 + (member % 10), lossSum: 5 };
    },
  };
}
