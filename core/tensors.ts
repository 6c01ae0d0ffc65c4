/** @module Model weights as named float32 tensors, and the vector math the strategies need. */
import { TesseraError } from './errors.ts';

/** One named tensor: row-major float32 data with its shape. */
export interface Tensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** A model's weights, in a fixed order. */
export type Weights = readonly Tensor[];

/** The names and shapes of a model's tensors, without data. */
export type TensorLayout = readonly { readonly name: string; readonly shape: readonly number[] }[];

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function layoutOf(weights: Weights): TensorLayout {
  return weights.map(({ name, shape }) => ({ name, shape: [...shape] }));
}

export function parameterCount(layout: TensorLayout): number {
  return layout.reduce((n, t) => n + sizeOf(t.shape), 0);
}

/** Throws BAD_TENSORS naming the first tensor whose name, shape or length differs from the layout. */
export function assertLayout(weights: Weights, layout: TensorLayout): void {
  if (weights.length !== layout.length) {
    throw new TesseraError('BAD_TENSORS', `expected ${layout.length} tensors (${layout.map((t) => t.name).join(', ')}), got ${weights.length}`, { field: 'tensors' });
  }
  layout.forEach((want, i) => {
    const got = weights[i];
    if (got.name !== want.name) {
      throw new TesseraError('BAD_TENSORS', `tensor ${i}: expected name "${want.name}", got "${got.name}"`, { field: `tensors[${i}].name` });
    }
    if (got.shape.length !== want.shape.length || got.shape.some((d, j) => d !== want.shape[j])) {
      throw new TesseraError('BAD_TENSORS', `tensor "${want.name}": expected shape [${want.shape}], got [${got.shape}]`, { field: `tensors[${i}].shape` });
    }
    if (got.data.length !== sizeOf(want.shape)) {
      throw new TesseraError('BAD_TENSORS', `tensor "${want.name}": expected ${sizeOf(want.shape)} values, got ${got.data.length}`, { field: `tensors[${i}].data` });
    }
  });
}

/** All tensors concatenated into one vector (the form secure aggregation and strategies use). */
export function flatten(weights: Weights): Float32Array {
  const out = new Float32Array(parameterCount(weights));
  let off = 0;
  for (const t of weights) {
    out.set(t.data, off);
    off += t.data.length;
  }
  return out;
}

/** The inverse of flatten: cut a vector into tensors of the layout (copies). */
export function unflatten(vector: Float32Array, layout: TensorLayout): Tensor[] {
  const total = parameterCount(layout);
  if (vector.length !== total) {
    throw new TesseraError('BAD_TENSORS', `expected a vector of ${total} values, got ${vector.length}`, { field: 'vector' });
  }
  let off = 0;
  return layout.map(({ name, shape }) => {
    const n = sizeOf(shape);
    const data = vector.slice(off, off + n);
    off += n;
    return { name, shape: [...shape], data };
  });
}

/** acc += scale * v, in place. */
export function addScaled(acc: Float32Array | Float64Array, v: Float32Array, scale = 1): void {
  if (acc.length !== v.length) throw new TesseraError('BAD_TENSORS', `length mismatch: ${acc.length} vs ${v.length}`);
  for (let i = 0; i < v.length; i++) acc[i] += scale * v[i];
}

/** a - b as a new vector. */
export function subtract(a: Float32Array, b: Float32Array): Float32Array {
  if (a.length !== b.length) throw new TesseraError('BAD_TENSORS', `length mismatch: ${a.length} vs ${b.length}`);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] - b[i];
  return out;
}

/** True when every value is finite (no NaN or Infinity smuggled into an update). */
export function allFinite(v: Float32Array): boolean {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return false;
  return true;
}
