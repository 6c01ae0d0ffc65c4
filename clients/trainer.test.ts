import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TesseraError } from '../core/errors.ts';
import type { ModelSpec } from '../core/model.ts';
import { initialWeights, modelLayout } from '../core/model.ts';
import { flatten } from '../core/tensors.ts';
import { selectBackend } from './backend.ts';
import type { PreparedDataset } from './dataset.ts';
import { loadDataset } from './dataset.ts';
import type { TrainOptions, Trainer } from './trainer.ts';
import { createTrainer, trainPooled } from './trainer.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const csv = path.resolve(root, '../shared/data/heart-disease/processed.cleveland.data');
const logistic: ModelSpec = { kind: 'logistic', inputs: 13, outputs: 1 };
const sgd: TrainOptions = { optimizer: 'sgd', learningRate: 0.1, batchSize: 8, localEpochs: 3, localSteps: null, seed: 1 };

let data: PreparedDataset;
let trainer: Trainer;

beforeAll(async () => {
  await selectBackend('cpu');
  data = await loadDataset(path.join(root, 'examples/heart-disease/cleveland.dataset.json'), { csvPath: csv });
  trainer = await createTrainer(logistic);
});
afterAll(() => trainer.dispose());

const distance = (a: Float32Array, b: Float32Array): number => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0));

describe('Trainer', () => {
  it('round-trips weights by name and shape', () => {
    const w = initialWeights(logistic, 3);
    trainer.setWeights(w);
    const back = trainer.getWeights();
    expect(back.map((t) => [t.name, t.shape])).toEqual([['dense_0/kernel', [13, 1]], ['dense_0/bias', [1]]]);
    expect(flatten(back)).toEqual(flatten(w));
  });

  it('refuses weights with the wrong names or shapes', () => {
    const w = initialWeights(logistic, 3);
    expect(() => trainer.setWeights([{ ...w[0], name: 'dense_1/kernel' }, w[1]])).toThrow(TesseraError);
    expect(() => trainer.setWeights(initialWeights({ kind: 'logistic', inputs: 12, outputs: 1 }, 3))).toThrow(/expected shape \[13,1\]/);
  });

  it('beats the majority-class baseline on Cleveland after a few epochs', async () => {
    const result = await trainer.train(initialWeights(logistic, 0), data.train, sgd);
    expect(result.examples).toBe(199);
    expect(result.steps).toBe(3 * 25);
    const again = await trainer.train(result.weights, data.train, sgd);
    expect(again.meanLoss).toBeLessThan(result.meanLoss);
    const report = await trainer.evaluate(result.weights, data.test);
    const majority = Math.max(...data.stats.testLabelCounts) / data.test.n;
    expect(report.examples).toBe(104);
    expect(report.correct / report.examples).toBeGreaterThan(majority + 0.1);
    expect(report.auc).toBeGreaterThan(0.8);
    expect(report.lossSum / report.examples).toBeLessThan(0.6);
  });

  it('is deterministic for a seed on the cpu backend, and local steps count batches', async () => {
    const opts = { ...sgd, localSteps: 7 };
    const a = await trainer.train(initialWeights(logistic, 0), data.train, opts);
    const b = await trainer.train(initialWeights(logistic, 0), data.train, opts);
    const c = await trainer.train(initialWeights(logistic, 0), data.train, { ...opts, seed: 2 });
    expect(a.steps).toBe(7);
    expect(flatten(b.weights)).toEqual(flatten(a.weights));
    expect(flatten(c.weights)).not.toEqual(flatten(a.weights));
  });

  it('FedProx pulls the weights toward the global ones', async () => {
    const global = initialWeights(logistic, 0);
    const g = flatten(global);
    const moved = (mu: number) => trainer.train(global, data.train, { ...sgd, learningRate: 0.05, proximalMu: mu }).then((r) => distance(flatten(r.weights), g));
    const free = await moved(0);
    const small = await moved(0.1);
    const large = await moved(15);
    expect(small).toBeLessThan(free);
    expect(large).toBeLessThan(free * 0.1);
  });

  it('trains with Adam, and an MLP with softmax outputs', async () => {
    const adam = await trainer.train(initialWeights(logistic, 0), data.train, { ...sgd, optimizer: 'adam', learningRate: 0.01 });
    expect((await trainer.evaluate(adam.weights, data.test)).correct / data.test.n).toBeGreaterThan(0.7);
    const mlp: ModelSpec = { kind: 'mlp', inputs: 13, hidden: [8], outputs: 2, activation: 'relu' };
    const t = await createTrainer(mlp);
    try {
      const r = await t.train(initialWeights(mlp, 0), data.train, sgd);
      expect(r.weights.map((w) => w.name)).toEqual(modelLayout(mlp).map((l) => l.name));
      const report = await t.evaluate(r.weights, data.test);
      expect(report.correct / report.examples).toBeGreaterThan(0.7);
      expect(report.auc).toBeGreaterThan(0.75);
    } finally {
      t.dispose();
    }
  });

  it('leaks no tensors across train and evaluate calls', async () => {
    const w = initialWeights(logistic, 0);
    await trainer.train(w, data.train, { ...sgd, localEpochs: 1, proximalMu: 0.01 });
    await trainer.evaluate(w, data.test);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await trainer.train(w, data.train, { ...sgd, localEpochs: 1, proximalMu: 0.01, optimizer: i === 1 ? 'adam' : 'sgd' });
      await trainer.evaluate(w, data.test);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('takes a member-supplied TF.js model whose weights follow the layout, and refuses one that does not', async () => {
    const own = tfl.sequential({ layers: [tfl.layers.dense({ units: 1, inputShape: [13], activation: 'sigmoid' })] });
    const t = await createTrainer(logistic, own);
    const r = await t.train(initialWeights(logistic, 0), data.train, sgd);
    expect(r.weights[0].shape).toEqual([13, 1]);
    t.dispose();
    const wrong = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [13], activation: 'softmax' })] });
    await expect(createTrainer(logistic, wrong)).rejects.toThrow(/do not match the model spec/);
    wrong.dispose();
  });

  it('refuses data with a different number of features than the model', async () => {
    await expect(trainer.train(initialWeights(logistic, 0), { ...data.train, features: 12 }, sgd)).rejects.toThrow(/takes 13 inputs/);
  });

  it('trains a pooled reference on stacked splits', async () => {
    const other = await loadDataset(path.join(root, 'examples/heart-disease/hungarian.dataset.json'));
    const r = await trainPooled(logistic, initialWeights(logistic, 0), [data.train, other.train], { ...sgd, localEpochs: 1 });
    expect(r.examples).toBe(199 + 172);
  });
});
