/**
 * @module Record-level DP-SGD (Abadi et al. 2016) for the spec-built models (logistic, MLP):
 * per-example gradients by exact backpropagation through the dense layers, each clipped to L2
 * norm C, summed, plus Gaussian noise N(0, sigma^2 C^2) per coordinate, divided by the expected
 * batch size; batches by Poisson sampling (each record with probability q) or fixed-size
 * sampling without replacement. Sampling and noise come from a CSPRNG unless a seeded Rng is
 * given (tests and benchmarks only: a known seed lets anyone subtract the noise).
 */
import type { TrainingConfig } from '../core/federation.ts';
import { randomFillSync } from 'node:crypto';
import { TesseraError } from '../core/errors.ts';
import type { ModelSpec } from '../core/model.ts';
import { layerWidths, modelLayout } from '../core/model.ts';
import type { Rng } from '../core/random.ts';
import type { Tensor, Weights } from '../core/tensors.ts';
import { assertLayout } from '../core/tensors.ts';
import type { DataSplit } from './dataset-split.ts';

/** How the trainer privatizes one round (the noise multiplier already resolved, see core/privacy/plan.ts). */
export interface DpSgdOptions {
  noiseMultiplier: number;
  clipNorm: number;
  sampling: 'poisson' | 'fixed';
  /** Sampling and noise source; default: a CSPRNG. */
  rng?: Rng;
}

/** What DP-SGD did in a round (reported, never hidden). */
export interface DpSgdReport {
  noiseMultiplier: number;
  clipNorm: number;
  sampling: 'poisson' | 'fixed';
  sampleRate: number;
  /** Share of per-example gradients whose norm exceeded the clip norm. */
  clippedFraction: number;
  /** Mean records per step (Poisson batches vary). */
  meanBatch: number;
}

/** Uniforms and normals from node:crypto, buffered. */
export function secureRng(): Rng {
  const buf = new Uint32Array(1024);
  let at = buf.length;
  const next32 = (): number => {
    if (at === buf.length) { randomFillSync(buf); at = 0; }
    return buf[at++];
  };
  // 53 random bits per uniform.
  const next = (): number => ((next32() >>> 5) * 67108864 + (next32() >>> 6)) / 9007199254740992;
  let spare: number | null = null;
  return {
    next,
    int: (n) => Math.floor(next() * n),
    normal: () => {
      if (spare !== null) { const s = spare; spare = null; return s; }
      let u = 0;
      while (u === 0) u = next();
      const r = Math.sqrt(-2 * Math.log(u)), t = 2 * Math.PI * next();
      spare = r * Math.sin(t);
      return r * Math.cos(t);
    },
  };
}

/** A dense network over one flat parameter vector, in the layout's order (kernel [in, out] row-major, then bias). */
export class DenseNet {
  readonly widths: number[];
  readonly size: number;
  private readonly offsets: { kernel: number; bias: number }[] = [];
  private readonly hidden: 'relu' | 'tanh' | 'sigmoid' | 'linear';
  private readonly acts: Float64Array[];
  private readonly deltas: Float64Array[];

  constructor(readonly spec: ModelSpec) {
    this.widths = layerWidths(spec);
    this.hidden = spec.kind === 'mlp' ? spec.activation : 'linear';
    let at = 0;
    for (let l = 0; l + 1 < this.widths.length; l++) {
      const kernel = at;
      at += this.widths[l] * this.widths[l + 1];
      this.offsets.push({ kernel, bias: at });
      at += this.widths[l + 1];
    }
    this.size = at;
    this.acts = this.widths.map((w) => new Float64Array(w));
    this.deltas = this.widths.map((w) => new Float64Array(w));
  }

  /** Forward pass for one example; returns its cross-entropy loss and leaves activations for backward(). */
  forward(params: Float64Array, x: Float32Array, y: number): number {
    const L = this.widths.length - 1;
    this.acts[0].set(x);
    for (let l = 0; l < L; l++) {
      const { kernel, bias } = this.offsets[l];
      const nIn = this.widths[l], nOut = this.widths[l + 1], a = this.acts[l], z = this.acts[l + 1];
      for (let j = 0; j < nOut; j++) z[j] = params[bias + j];
      for (let i = 0; i < nIn; i++) {
        const ai = a[i];
        if (ai === 0) continue;
        const row = kernel + i * nOut;
        for (let j = 0; j < nOut; j++) z[j] += ai * params[row + j];
      }
      if (l < L - 1) activate(z, this.hidden);
    }
    const out = this.acts[L];
    const eps = 1e-7;
    if (out.length === 1) {
      const p = 1 / (1 + Math.exp(-out[0]));
      out[0] = p;
      const pc = Math.min(1 - eps, Math.max(eps, p));
      return -(y * Math.log(pc) + (1 - y) * Math.log(1 - pc));
    }
    let max = -Infinity, sum = 0;
    for (const v of out) max = Math.max(max, v);
    for (let k = 0; k < out.length; k++) { out[k] = Math.exp(out[k] - max); sum += out[k]; }
    for (let k = 0; k < out.length; k++) out[k] /= sum;
    return -Math.log(Math.min(1 - eps, Math.max(eps, out[y])));
  }

  /** The gradient of the last forward()'s loss, written into `grad` (length `size`). */
  backward(params: Float64Array, y: number, grad: Float64Array): void {
    const L = this.widths.length - 1;
    const top = this.deltas[L], out = this.acts[L];
    // Sigmoid + binary cross-entropy and softmax + cross-entropy both give p - onehot(y).
    for (let k = 0; k < out.length; k++) top[k] = out[k] - (out.length === 1 ? y : k === y ? 1 : 0);
    for (let l = L - 1; l >= 0; l--) {
      const { kernel, bias } = this.offsets[l];
      const nIn = this.widths[l], nOut = this.widths[l + 1], a = this.acts[l], d = this.deltas[l + 1], below = this.deltas[l];
      for (let j = 0; j < nOut; j++) grad[bias + j] = d[j];
      for (let i = 0; i < nIn; i++) {
        const row = kernel + i * nOut;
        let back = 0;
        for (let j = 0; j < nOut; j++) {
          grad[row + j] = a[i] * d[j];
          back += params[row + j] * d[j];
        }
        if (l > 0) below[i] = back * derivative(a[i], this.hidden);
      }
    }
  }
}

function activate(z: Float64Array, kind: DenseNet['hidden'] | string): void {
  for (let j = 0; j < z.length; j++) {
    if (kind === 'relu') z[j] = z[j] > 0 ? z[j] : 0;
    else if (kind === 'tanh') z[j] = Math.tanh(z[j]);
    else if (kind === 'sigmoid') z[j] = 1 / (1 + Math.exp(-z[j]));
  }
}

/** The activation's derivative from its output a. */
function derivative(a: number, kind: string): number {
  if (kind === 'relu') return a > 0 ? 1 : 0;
  if (kind === 'tanh') return 1 - a * a;
  if (kind === 'sigmoid') return a * (1 - a);
  return 1;
}

/** Scales g in place to L2 norm at most c; returns the norm before clipping. */
export function clipToNorm(g: Float64Array, c: number): number {
  let s = 0;
  for (const v of g) s += v * v;
  const norm = Math.sqrt(s);
  if (norm > c) {
    const f = c / norm;
    for (let i = 0; i < g.length; i++) g[i] *= f;
  }
  return norm;
}

/** Options the DP loop shares with the plain trainer. */
export type DpTrainSettings = TrainingConfig & { proximalMu?: number };

/** Trains from `global` with DP-SGD; the weights come back in the layout's names and shapes. */
export function dpSgdTrain(spec: ModelSpec, global: Weights, data: DataSplit, settings: DpTrainSettings, dp: DpSgdOptions): { weights: Tensor[]; steps: number; meanLoss: number; report: DpSgdReport } {
  const layout = modelLayout(spec);
  assertLayout(global, layout);
  if (!(dp.clipNorm > 0)) throw new TesseraError('BAD_REQUEST', 'dp.clipNorm: expected a positive number', { field: 'clipNorm' });
  if (!(dp.noiseMultiplier >= 0)) throw new TesseraError('BAD_REQUEST', 'dp.noiseMultiplier: expected a number >= 0', { field: 'noiseMultiplier' });
  const net = new DenseNet(spec);
  const rng = dp.rng ?? secureRng();
  const params = new Float64Array(net.size);
  let at = 0;
  for (const t of global) { params.set(t.data, at); at += t.data.length; }
  const anchor = Float64Array.from(params);
  const n = data.n, f = data.features;
  const batch = Math.min(settings.batchSize, n);
  const steps = settings.localSteps ?? settings.localEpochs * Math.ceil(n / batch);
  const q = batch / n;
  const mu = settings.proximalMu ?? 0;
  const grad = new Float64Array(net.size), sum = new Float64Array(net.size);
  const m = new Float64Array(net.size), v = new Float64Array(net.size);
  const index = Array.from({ length: n }, (_, i) => i);
  let lossSum = 0, seen = 0, clipped = 0;
  for (let step = 1; step <= steps; step++) {
    let rows: number[];
    if (dp.sampling === 'poisson') {
      rows = [];
      for (let i = 0; i < n; i++) if (rng.next() < q) rows.push(i);
    } else {
      // Partial Fisher-Yates: the first `batch` entries are a uniform sample without replacement.
      for (let i = 0; i < batch; i++) {
        const j = i + rng.int(n - i);
        [index[i], index[j]] = [index[j], index[i]];
      }
      rows = index.slice(0, batch);
    }
    sum.fill(0);
    for (const r of rows) {
      const y = data.y[r];
      lossSum += net.forward(params, data.x.subarray(r * f, (r + 1) * f), y);
      net.backward(params, y, grad);
      if (clipToNorm(grad, dp.clipNorm) > dp.clipNorm) clipped++;
      for (let k = 0; k < sum.length; k++) sum[k] += grad[k];
    }
    seen += rows.length;
    const std = dp.noiseMultiplier * dp.clipNorm;
    for (let k = 0; k < sum.length; k++) {
      // Divided by the expected batch size: a Poisson batch's actual size would leak it.
      let g = (sum[k] + std * rng.normal()) / batch;
      if (mu > 0) g += mu * (params[k] - anchor[k]);
      if (settings.optimizer === 'adam') {
        m[k] = 0.9 * m[k] + 0.1 * g;
        v[k] = 0.999 * v[k] + 0.001 * g * g;
        const mh = m[k] / (1 - 0.9 ** step), vh = v[k] / (1 - 0.999 ** step);
        params[k] -= (settings.learningRate * mh) / (Math.sqrt(vh) + 1e-7);
      } else {
        params[k] -= settings.learningRate * g;
      }
    }
  }
  at = 0;
  const weights = layout.map(({ name, shape }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const data32 = Float32Array.from(params.subarray(at, at + size));
    at += size;
    return { name, shape: [...shape], data: data32 };
  });
  return {
    weights,
    steps,
    meanLoss: seen ? lossSum / seen : 0,
    report: { noiseMultiplier: dp.noiseMultiplier, clipNorm: dp.clipNorm, sampling: dp.sampling, sampleRate: q, clippedFraction: seen ? clipped / seen : 0, meanBatch: seen / steps },
  };
}
