/**
 * @module The weighted mean of members' updates, streamed: one float64 running sum of model size,
 * fed one update at a time as it arrives, so the aggregator's memory grows with the model, not with
 * members times the model. float64 keeps the sum exact enough that the order of arrival does not
 * visibly change the result (float32 would lose ~log2(members) bits).
 */
import { TesseraError } from '../../core/errors.ts';

/** One member's update and its weight (its number of training examples). */
export interface WeightedUpdate {
  readonly vector: Float32Array;
  readonly weight: number;
}

/** A running sum of weight * vector over float64; mean() divides by the total weight. */
export class WeightedSum {
  readonly length: number;
  private readonly acc: Float64Array;
  private total = 0;
  private added = 0;

  constructor(length: number) {
    if (!Number.isSafeInteger(length) || length < 0) throw new TesseraError('BAD_TENSORS', `vector length must be a non-negative integer, got ${length}`);
    this.length = length;
    this.acc = new Float64Array(length);
  }

  /** Adds weight * vector. Throws BAD_TENSORS on a length mismatch, BAD_REQUEST on a weight that is not finite and > 0. */
  add(vector: Float32Array, weight: number): void {
    if (vector.length !== this.length) {
      throw new TesseraError('BAD_TENSORS', `update has ${vector.length} values, expected ${this.length}`, { field: 'vector' });
    }
    if (!(weight > 0 && Number.isFinite(weight))) {
      throw new TesseraError('BAD_REQUEST', `update weight must be a finite number > 0, got ${weight}`, { field: 'weight' });
    }
    const acc = this.acc;
    const n = this.length;
    // The hot loop: memory-bound, no closures, no bounds surprises (both lengths checked above).
    if (weight === 1) for (let i = 0; i < n; i++) acc[i] += vector[i];
    else for (let i = 0; i < n; i++) acc[i] += weight * vector[i];
    this.total += weight;
    this.added++;
  }

  /** Number of updates added. */
  get count(): number {
    return this.added;
  }

  /** Sum of the weights added. */
  get totalWeight(): number {
    return this.total;
  }

  /** The weighted mean as float32. Throws ROUND_STATE when empty, BAD_TENSORS when the sum is not finite. */
  mean(): Float32Array {
    if (this.added === 0) throw new TesseraError('ROUND_STATE', 'no updates to average: the mean of zero updates is undefined');
    const out = new Float32Array(this.length);
    const acc = this.acc;
    const total = this.total;
    for (let i = 0; i < out.length; i++) out[i] = acc[i] / total;
    for (let i = 0; i < out.length; i++) {
      if (!Number.isFinite(out[i])) {
        throw new TesseraError('BAD_TENSORS', `the weighted mean is not finite at index ${i}: an update held NaN or Infinity, or overflowed float32`, { field: 'vector' });
      }
    }
    return out;
  }
}

/** The weighted mean of a list of updates (all in memory); for streams use WeightedSum. */
export function weightedMean(updates: readonly WeightedUpdate[]): Float32Array {
  if (updates.length === 0) throw new TesseraError('ROUND_STATE', 'no updates to average: the mean of zero updates is undefined');
  const sum = new WeightedSum(updates[0].vector.length);
  for (const u of updates) sum.add(u.vector, u.weight);
  return sum.mean();
}
