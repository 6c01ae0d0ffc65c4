/** @module The seeded stratified train/test split and the train-only z-score. */
import type { Rng } from '../core/random.ts';
import { shuffle } from '../core/random.ts';

/** Examples in row-major form: x holds n rows of `features` values, y one label per row. */
export interface DataSplit {
  x: Float32Array;
  y: Float32Array;
  n: number;
  features: number;
}

/**
 * Row indexes of the train and test sets. The test set holds ceil(testFraction * n) rows (as
 * scikit-learn counts), shared among the classes in proportion by largest remainder, so each
 * class keeps its share in both sets; rows are drawn within each class by a seeded shuffle.
 */
export function stratifiedSplit(labels: ArrayLike<number>, numClasses: number, testFraction: number, stratify: boolean, rng: Rng): { train: number[]; test: number[] } {
  const n = labels.length;
  const nTest = Math.min(n - 1, Math.max(1, Math.ceil(testFraction * n - 1e-9)));
  const groups: number[][] = stratify ? Array.from({ length: numClasses }, () => []) : [[]];
  for (let i = 0; i < n; i++) groups[stratify ? labels[i] : 0].push(i);
  const exact = groups.map((g) => (nTest * g.length) / n);
  const take = exact.map(Math.floor);
  let left = nTest - take.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((e, c) => ({ c, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.c - b.c);
  for (const { c } of byRemainder) {
    if (left === 0) break;
    if (take[c] < groups[c].length) { take[c]++; left--; }
  }
  const test: number[] = [];
  const train: number[] = [];
  groups.forEach((g, c) => {
    const order = shuffle([...g], rng);
    test.push(...order.slice(0, take[c]));
    train.push(...order.slice(take[c]));
  });
  return { train: train.sort((a, b) => a - b), test: test.sort((a, b) => a - b) };
}

/** The rows `rows` of x and y as a new split. */
export function selectRows(x: Float32Array, y: Float32Array, features: number, rows: readonly number[]): DataSplit {
  const out = new Float32Array(rows.length * features);
  const labels = new Float32Array(rows.length);
  rows.forEach((r, i) => {
    out.set(x.subarray(r * features, (r + 1) * features), i * features);
    labels[i] = y[r];
  });
  return { x: out, y: labels, n: rows.length, features };
}

/** Per-feature mean and sample standard deviation (n - 1, as FLamby's torch.std) over a split. */
export function fitStandardizer(split: DataSplit, columns: readonly boolean[]): { mean: number[]; std: number[] } {
  const { x, n, features: f } = split;
  const mean = new Array<number>(f).fill(0);
  const std = new Array<number>(f).fill(0);
  for (let j = 0; j < f; j++) {
    if (!columns[j] || n === 0) continue;
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i * f + j];
    const m = s / n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (x[i * f + j] - m) ** 2;
    mean[j] = m;
    std[j] = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
  }
  return { mean, std };
}

/** Applies (x - mean) / std in place; a feature with std 0 is only centred (it carries no signal here). */
export function applyStandardizer(split: DataSplit, stats: { mean: readonly number[]; std: readonly number[] }): void {
  const { x, n, features: f } = split;
  for (let j = 0; j < f; j++) {
    const scale = stats.std[j] > 1e-12 ? 1 / stats.std[j] : 1;
    for (let i = 0; i < n; i++) x[i * f + j] = (x[i * f + j] - stats.mean[j]) * scale;
  }
}

/** Several splits with the same features stacked into one (pooled, centralised training). */
export function concatSplits(splits: readonly DataSplit[]): DataSplit {
  const features = splits[0]?.features ?? 0;
  const n = splits.reduce((a, s) => a + s.n, 0);
  const x = new Float32Array(n * features);
  const y = new Float32Array(n);
  let off = 0;
  for (const s of splits) {
    if (s.features !== features) throw new RangeError(`concatSplits: ${s.features} features, expected ${features}`);
    x.set(s.x.subarray(0, s.n * features), off * features);
    y.set(s.y.subarray(0, s.n), off);
    off += s.n;
  }
  return { x, y, n, features };
}
