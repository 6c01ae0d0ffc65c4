/**
 * @module The local trainer: a TF.js model built from the federation's ModelSpec (or supplied by
 * the member), weights in and out as core tensors, a seeded SGD/Adam loop with the optional
 * FedProx term, and evaluation reports the aggregator can combine.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { TesseraError } from '../core/errors.ts';
import type { ModelSpec } from '../core/model.ts';
import { layerWidths, modelLayout } from '../core/model.ts';
import { createRng, shuffle } from '../core/random.ts';
import type { Tensor, TensorLayout, Weights } from '../core/tensors.ts';
import { assertLayout } from '../core/tensors.ts';
import { selectBackend } from './backend.ts';
import type { DpSgdOptions, DpSgdReport } from './dp-sgd.ts';
import { dpSgdTrain } from './dp-sgd.ts';
import type { DataSplit } from './dataset-split.ts';
import { concatSplits } from './dataset-split.ts';
import { scoreProbabilities } from './metrics.ts';
import type { EvaluationReport } from './metrics.ts';
import type { TrainingConfig } from '../core/federation.ts';

/** Local training settings: core's TrainingConfig plus FedProx's mu and the shuffling seed. */
export interface TrainOptions extends TrainingConfig {
  /** FedProx: adds mu/2 * ||w - w_global||^2 to the loss; 0 or absent turns it off. */
  proximalMu?: number;
  /** Seeds the batch order (default 0). */
  seed?: number;
  /** Record-level DP-SGD (clients/dp-sgd.ts): per-example clipping, Gaussian noise, sampling. */
  dp?: DpSgdOptions;
}

export interface TrainResult {
  /** The trained weights, same names and shapes as the layout. */
  weights: Tensor[];
  /** The number of training examples: the member's weight in the average. */
  examples: number;
  /** Mean data loss over the steps (without the proximal term). */
  meanLoss: number;
  steps: number;
  /** With `dp`: what DP-SGD did (noise, sampling rate, share of clipped gradients). */
  dp?: DpSgdReport;
}

/** A TF.js Sequential of Dense layers for the spec: sigmoid output for 1 output, softmax otherwise. */
export function buildModel(spec: ModelSpec): tfl.LayersModel {
  const widths = layerWidths(spec);
  const model = tfl.sequential();
  for (let i = 1; i < widths.length; i++) {
    const last = i === widths.length - 1;
    const activation = last ? (spec.outputs === 1 ? 'sigmoid' : 'softmax') : spec.kind === 'mlp' ? spec.activation : 'linear';
    model.add(tfl.layers.dense({ units: widths[i], activation, ...(i === 1 ? { inputShape: [widths[0]] } : {}) }));
  }
  return model;
}

/** Trains and evaluates one model; keep one per process and call dispose() at the end. */
export class Trainer {
  readonly spec: ModelSpec;
  readonly layout: TensorLayout;
  readonly model: tfl.LayersModel;
  private readonly variables: tf.Variable[];
  private readonly ownModel: boolean;

  /** `model` (optional) is the member's own TF.js model; its trainable weights must follow the layout in order. */
  constructor(spec: ModelSpec, model?: tfl.LayersModel) {
    this.spec = spec;
    this.layout = modelLayout(spec);
    this.model = model ?? buildModel(spec);
    this.ownModel = model !== undefined;
    this.variables = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const shapes = this.variables.map((v) => `[${v.shape}]`).join(', ');
    const want = this.layout.map((t) => `[${t.shape}]`).join(', ');
    if (shapes !== want) {
      throw new TesseraError('BAD_TENSORS', `the TF.js model's trainable weights ${shapes} do not match the model spec's ${want} (${this.layout.map((t) => t.name).join(', ')})`, { field: 'model' });
    }
  }

  /** Loads core tensors into the model, checked against the layout by name and shape. */
  setWeights(weights: Weights): void {
    assertLayout(weights, this.layout);
    weights.forEach((t, i) => {
      const value = tf.tensor(t.data, [...t.shape], 'float32');
      this.variables[i].assign(value);
      value.dispose();
    });
  }

  /** The model's weights as core tensors (copies), named `dense_i/kernel` and `dense_i/bias`. */
  getWeights(): Tensor[] {
    return this.layout.map(({ name, shape }, i) => ({ name, shape: [...shape], data: new Float32Array(this.variables[i].dataSync()) }));
  }

  /** Trains from `global` on `data` and returns the new weights; the model keeps them afterwards. */
  async train(global: Weights, data: DataSplit, options: TrainOptions): Promise<TrainResult> {
    await selectBackend();
    if (data.n === 0) throw new TesseraError('BAD_DATASET', 'train: the training split is empty', { field: 'train' });
    if (data.features !== this.spec.inputs) throw new TesseraError('BAD_DATASET', `features: the model takes ${this.spec.inputs} inputs, the data has ${data.features}`, { field: 'features' });
    if (options.dp) {
      // Per-example gradients come from the spec's architecture, so a member's own TF.js model is refused.
      if (this.ownModel) throw new TesseraError('BAD_REQUEST', 'dp: DP-SGD runs on the model built from the federation\'s spec, not on a member-supplied TF.js model', { field: 'dp' });
      const r = dpSgdTrain(this.spec, global, data, options, options.dp);
      this.setWeights(r.weights);
      return { weights: r.weights, examples: data.n, meanLoss: r.meanLoss, steps: r.steps, dp: r.report };
    }
    this.setWeights(global);
    const batch = Math.min(options.batchSize, data.n);
    const steps = options.localSteps ?? options.localEpochs * Math.ceil(data.n / batch);
    const mu = options.proximalMu ?? 0;
    const optimizer = options.optimizer === 'adam' ? tf.train.adam(options.learningRate) : tf.train.sgd(options.learningRate);
    const anchors = mu > 0 ? global.map((t) => tf.tensor(t.data, [...t.shape], 'float32')) : [];
    const rng = createRng(options.seed ?? 0);
    const all = Array.from({ length: data.n }, (_, i) => i);
    let order: number[] = [];
    let lossSum = tf.scalar(0);
    for (let step = 0; step < steps; step++) {
      if (order.length === 0) order = shuffle([...all], rng);
      const rows = order.splice(0, batch);
      const { xb, yb } = this.batchTensors(data, rows);
      let dataLoss: tf.Scalar | null = null;
      optimizer.minimize(() => {
        const probs = this.model.apply(xb, { training: true }) as tf.Tensor;
        const loss = this.loss(probs, yb);
        dataLoss = tf.keep(loss.clone());
        if (mu === 0) return loss;
        const prox = tf.addN(this.variables.map((v, i) => tf.sum(tf.square(tf.sub(v, anchors[i])))));
        return tf.add(loss, tf.mul(mu / 2, prox)) as tf.Scalar;
      }, false, this.variables);
      const next = tf.add(lossSum, dataLoss!);
      tf.dispose([lossSum, dataLoss!, xb, yb]);
      lossSum = next as tf.Scalar;
    }
    const meanLoss = (await lossSum.data())[0] / steps;
    tf.dispose([lossSum, ...anchors]);
    optimizer.dispose();
    return { weights: this.getWeights(), examples: data.n, meanLoss, steps };
  }

  /** Class probabilities for n rows: n values (binary, sigmoid) or n * outputs (softmax). */
  predict(weights: Weights, data: Pick<DataSplit, 'x' | 'n' | 'features'>): Float32Array {
    this.setWeights(weights);
    const out = new Float32Array(data.n * this.spec.outputs);
    const chunk = 4096;
    for (let start = 0; start < data.n; start += chunk) {
      const end = Math.min(data.n, start + chunk);
      const probs = tf.tidy(() => this.model.predict(tf.tensor2d(data.x.subarray(start * data.features, end * data.features), [end - start, data.features])) as tf.Tensor);
      out.set(probs.dataSync(), start * this.spec.outputs);
      probs.dispose();
    }
    return out;
  }

  /** Examples, correct predictions (0.5 threshold or argmax), summed loss, and AUC for a binary label. */
  async evaluate(weights: Weights, data: DataSplit): Promise<EvaluationReport> {
    await selectBackend();
    return scoreProbabilities(this.predict(weights, data), data.y, this.spec.outputs);
  }

  dispose(): void {
    this.model.dispose();
  }

  private batchTensors(data: DataSplit, rows: readonly number[]): { xb: tf.Tensor2D; yb: tf.Tensor } {
    const f = data.features;
    const x = new Float32Array(rows.length * f);
    const y = new Float32Array(rows.length);
    rows.forEach((r, i) => {
      x.set(data.x.subarray(r * f, (r + 1) * f), i * f);
      y[i] = data.y[r];
    });
    const xb = tf.tensor2d(x, [rows.length, f]);
    const yb = this.spec.outputs === 1 ? tf.tensor2d(y, [rows.length, 1]) : tf.tensor1d(Int32Array.from(y), 'int32');
    return { xb, yb };
  }

  /** Binary cross-entropy on sigmoid outputs, or sparse categorical cross-entropy on softmax ones (Keras' clipping). */
  private loss(probs: tf.Tensor, y: tf.Tensor): tf.Scalar {
    const eps = 1e-7;
    const p = tf.clipByValue(probs, eps, 1 - eps);
    if (this.spec.outputs === 1) {
      return tf.neg(tf.mean(tf.add(tf.mul(y, tf.log(p)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, p)))))) as tf.Scalar;
    }
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(y as tf.Tensor1D, this.spec.outputs), tf.log(p)), 1))) as tf.Scalar;
  }
}

/** Selects the backend (see backend.ts) and builds a trainer for the spec, or around the member's own model. */
export async function createTrainer(spec: ModelSpec, model?: tfl.LayersModel): Promise<Trainer> {
  await selectBackend();
  return new Trainer(spec, model);
}

/** A centralised reference: the same training on several members' train splits stacked together. */
export async function trainPooled(spec: ModelSpec, initial: Weights, splits: readonly DataSplit[], options: TrainOptions): Promise<TrainResult> {
  const trainer = await createTrainer(spec);
  try {
    return await trainer.train(initial, concatSplits(splits), options);
  } finally {
    trainer.dispose();
  }
}
