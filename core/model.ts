/**
 * @module Model specs: what a federation trains, validated, with the tensor layout and seeded
 * initial weights derived from it. Pure, so the aggregator (no tfjs) and the clients agree.
 */
import { TesseraError } from './errors.ts';
import { createRng } from './random.ts';
import type { Tensor, TensorLayout } from './tensors.ts';
import { sizeOf } from './tensors.ts';

export const ACTIVATIONS = ['relu', 'tanh', 'sigmoid'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/**
 * `logistic`: inputs -> outputs (1 = binary with sigmoid; >1 = softmax classes).
 * `mlp`: inputs -> hidden[0] -> ... -> outputs with the hidden activation.
 */
export type ModelSpec =
  | { kind: 'logistic'; inputs: number; outputs: number }
  | { kind: 'mlp'; inputs: number; hidden: number[]; outputs: number; activation: Activation };

const isPosInt = (v: unknown, max = 1_000_000): v is number => Number.isInteger(v) && (v as number) > 0 && (v as number) <= max;

function bad(field: string, expected: string): never {
  throw new TesseraError('BAD_MODEL_SPEC', `${field}: expected ${expected}`, { field });
}

/** Validates an untrusted model spec, naming the first bad field. */
export function parseModelSpec(input: unknown, path = 'model'): ModelSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) bad(path, 'an object');
  const o = input as Record<string, unknown>;
  if (!isPosInt(o.inputs)) bad(`${path}.inputs`, 'a positive integer');
  if (!isPosInt(o.outputs, 100_000)) bad(`${path}.outputs`, 'a positive integer');
  if (o.kind === 'logistic') return { kind: 'logistic', inputs: o.inputs, outputs: o.outputs };
  if (o.kind === 'mlp') {
    if (!Array.isArray(o.hidden) || o.hidden.length === 0 || o.hidden.length > 16) bad(`${path}.hidden`, 'a list of 1 to 16 layer widths');
    (o.hidden as unknown[]).forEach((h, i) => { if (!isPosInt(h, 100_000)) bad(`${path}.hidden[${i}]`, 'a positive integer'); });
    const activation = o.activation ?? 'relu';
    if (!ACTIVATIONS.includes(activation as Activation)) bad(`${path}.activation`, `one of ${ACTIVATIONS.join(', ')}`);
    return { kind: 'mlp', inputs: o.inputs, hidden: [...(o.hidden as number[])], outputs: o.outputs, activation: activation as Activation };
  }
  bad(`${path}.kind`, '"logistic" or "mlp"');
}

/** Layer widths from input to output. */
export function layerWidths(spec: ModelSpec): number[] {
  return spec.kind === 'logistic' ? [spec.inputs, spec.outputs] : [spec.inputs, ...spec.hidden, spec.outputs];
}

/** Tensor names and shapes: dense_i/kernel [in, out] then dense_i/bias [out], per layer. */
export function modelLayout(spec: ModelSpec): TensorLayout {
  const widths = layerWidths(spec);
  const layout: { name: string; shape: number[] }[] = [];
  for (let i = 0; i + 1 < widths.length; i++) {
    layout.push({ name: `dense_${i}/kernel`, shape: [widths[i], widths[i + 1]] });
    layout.push({ name: `dense_${i}/bias`, shape: [widths[i + 1]] });
  }
  return layout;
}

/** Glorot-uniform kernels and zero biases from a seed: the federation's model version 0. */
export function initialWeights(spec: ModelSpec, seed: number): Tensor[] {
  const rng = createRng(seed);
  return modelLayout(spec).map(({ name, shape }) => {
    const data = new Float32Array(sizeOf(shape));
    if (shape.length === 2) {
      const limit = Math.sqrt(6 / (shape[0] + shape[1]));
      for (let i = 0; i < data.length; i++) data[i] = (rng.next() * 2 - 1) * limit;
    }
    return { name, shape, data };
  });
}
