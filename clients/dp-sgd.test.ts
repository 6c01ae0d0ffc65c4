import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelSpec } from '../core/model.ts';
import { initialWeights } from '../core/model.ts';
import { createRng } from '../core/random.ts';
import { flatten } from '../core/tensors.ts';
import { selectBackend } from './backend.ts';
import type { PreparedDataset } from './dataset.ts';
import { loadDataset } from './dataset.ts';
import type { DpTrainSettings } from './dp-sgd.ts';
import { DenseNet, clipToNorm, dpSgdTrain, secureRng } from './dp-sgd.ts';
import type { Trainer } from './trainer.ts';
import { createTrainer } from './trainer.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const csv = path.resolve(root, '../shared/data/heart-disease/processed.cleveland.data');
const logistic: ModelSpec = { kind: 'logistic', inputs: 13, outputs: 1 };
const mlp: ModelSpec = { kind: 'mlp', inputs: 13, hidden: [64], outputs: 1, activation: 'tanh' };
const oneStep: DpTrainSettings = { optimizer: 'sgd', learningRate: 1, batchSize: 1, localEpochs: 1, localSteps: 1 };

let data: PreparedDataset;
let trainer: Trainer;
beforeAll(async () => {
  await selectBackend('cpu');
  data = await loadDataset(path.join(root, 'examples/heart-disease/cleveland.dataset.json'), { csvPath: csv });
  trainer = await createTrainer(logistic);
});
afterAll(() => trainer.dispose());

const norm = (a: ArrayLike<number>, b?: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v, i) => s + (v - (b ? b[i] : 0)) ** 2, 0));
const flat = (spec: ModelSpec, seed: number) => Float64Array.from(flatten(initialWeights(spec, seed)));

describe('per-example gradients', () => {
  it.each([
    ['logistic, binary', logistic, 0],
    ['mlp tanh, 3 classes', { kind: 'mlp', inputs: 13, hidden: [5, 4], outputs: 3, activation: 'tanh' } as ModelSpec, 2],
    ['mlp sigmoid', { kind: 'mlp', inputs: 13, hidden: [6], outputs: 1, activation: 'sigmoid' } as ModelSpec, 1],
  ])('match central finite differences (%s)', (_name, spec, label) => {
    const net = new DenseNet(spec);
    const params = flat(spec, 5);
    const x = data.train.x.subarray(0, 13);
    const grad = new Float64Array(net.size);
    net.forward(params, x, label);
    net.backward(params, label, grad);
    const h = 1e-6;
    for (let k = 0; k < net.size; k += Math.max(1, Math.floor(net.size / 25))) {
      const p = Float64Array.from(params), m = Float64Array.from(params);
      p[k] += h;
      m[k] -= h;
      const numeric = (net.forward(p, x, label) - net.forward(m, x, label)) / (2 * h);
      expect(Math.abs(numeric - grad[k])).toBeLessThan(1e-5);
    }
  });
});

describe('clipping', () => {
  it('bounds every per-example gradient by the clip norm', () => {
    const net = new DenseNet(mlp);
    // Large weights make large gradients, so clipping is exercised on most records.
    const params = flat(mlp, 3).map((v) => v * 20);
    const grad = new Float64Array(net.size);
    let above = 0;
    for (let r = 0; r < data.train.n; r++) {
      const y = data.train.y[r];
      net.forward(params, data.train.x.subarray(r * 13, (r + 1) * 13), y);
      net.backward(params, y, grad);
      if (clipToNorm(grad, 0.5) > 0.5) above++;
      expect(norm(grad)).toBeLessThanOrEqual(0.5 * (1 + 1e-12));
    }
    expect(above).toBeGreaterThan(data.train.n / 2);
  });

  it('bounds what one record can move the model: one step of batch 1 without noise moves it by at most lr x C', () => {
    const start = initialWeights(mlp, 3).map((t) => ({ ...t, data: t.data.map((v) => v * 20) }));
    for (let seed = 0; seed < 40; seed++) {
      const out = dpSgdTrain(mlp, start, data.train, oneStep, { noiseMultiplier: 0, clipNorm: 0.25, sampling: 'fixed', rng: createRng(seed) });
      expect(norm(flatten(out.weights), flatten(start))).toBeLessThanOrEqual(0.25 * (1 + 1e-5));
    }
  });
});

describe('noise', () => {
  it('has standard deviation sigma * C / batch per coordinate (fixed seed)', () => {
    // Same seed, same sample: the two runs differ by exactly the noise term of one step.
    const sigma = 1.7, C = 0.8, batch = 16;
    const settings = { ...oneStep, batchSize: batch };
    const start = initialWeights(mlp, 4);
    const diffs: number[] = [];
    for (let seed = 0; seed < 5; seed++) {
      const quiet = dpSgdTrain(mlp, start, data.train, settings, { noiseMultiplier: 0, clipNorm: C, sampling: 'poisson', rng: createRng(seed) });
      const noisy = dpSgdTrain(mlp, start, data.train, settings, { noiseMultiplier: sigma, clipNorm: C, sampling: 'poisson', rng: createRng(seed) });
      const a = flatten(quiet.weights), b = flatten(noisy.weights);
      for (let k = 0; k < a.length; k++) diffs.push(b[k] - a[k]);
    }
    const n = diffs.length;
    const mean = diffs.reduce((s, v) => s + v, 0) / n;
    const sd = Math.sqrt(diffs.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
    const want = (sigma * C) / batch;
    expect(n).toBe(5 * 961);
    expect(Math.abs(sd / want - 1)).toBeLessThan(0.04);
    expect(Math.abs(mean)).toBeLessThan((4 * want) / Math.sqrt(n));
  });

  it('draws from a CSPRNG by default: uniform in [0, 1) and standard normal', () => {
    const rng = secureRng();
    const xs = Array.from({ length: 20_000 }, () => rng.normal());
    const mean = xs.reduce((s, v) => s + v, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((s, v) => s + (v - mean) ** 2, 0) / xs.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(sd - 1)).toBeLessThan(0.03);
    for (let i = 0; i < 1000; i++) {
      const u = rng.next();
      expect(u >= 0 && u < 1).toBe(true);
    }
  });
});

describe('Trainer with dp', () => {
  it('trains a useful logistic model under moderate noise and reports what it did', async () => {
    const result = await trainer.train(initialWeights(logistic, 0), data.train, { optimizer: 'sgd', learningRate: 0.2, batchSize: 32, localEpochs: 5, localSteps: null, dp: { noiseMultiplier: 1, clipNorm: 1, sampling: 'poisson', rng: createRng(7) } });
    expect(result.steps).toBe(5 * 7);
    expect(result.dp?.sampleRate).toBeCloseTo(32 / 199, 12);
    expect(result.dp!.meanBatch).toBeGreaterThan(20);
    const report = await trainer.evaluate(result.weights, data.test);
    expect(report.correct / report.examples).toBeGreaterThan(0.7);
  });

  it('refuses DP-SGD on a member-supplied TF.js model', async () => {
    const { buildModel } = await import('./trainer.ts');
    const own = await createTrainer(logistic, buildModel(logistic));
    await expect(own.train(initialWeights(logistic, 0), data.train, { optimizer: 'sgd', learningRate: 0.1, batchSize: 8, localEpochs: 1, localSteps: null, dp: { noiseMultiplier: 1, clipNorm: 1, sampling: 'poisson' } })).rejects.toThrow(/member-supplied/);
    own.dispose();
  });
});
