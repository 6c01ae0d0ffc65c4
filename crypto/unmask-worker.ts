/**
 * @module A worker thread of the unmask pool (crypto/unmask-pool.ts). It takes mask jobs from a
 * shared queue (a seed and a sign each) and adds sign * PRG(seed) into its own partial sum, with
 * the keystream of crypto/prg.ts and the additions of crypto/unmask-simd.ts (the JavaScript loop
 * of prg.ts where WebAssembly SIMD is missing): the same code as the in-thread path.
 *
 * Started by the pool through a bootstrap that registers tsx in the worker first (on Node 20,
 * tsx's `--import` hooks apply to the main thread only).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { applyPrgInto, PRG_SEED_BYTES } from './prg.ts';
import type { WasmModule } from './unmask-simd.ts';
import { SimdAccumulator } from './unmask-simd.ts';

/** What the pool posts for one batch (all buffers shared with the pool). */
export interface WorkerJob {
  id: number;
  partial: SharedArrayBuffer;
  seeds: SharedArrayBuffer;
  signs: SharedArrayBuffer;
  /** The batch's job counter (Atomics). */
  next: SharedArrayBuffer;
  count: number;
}

const { simd, loaded } = workerData as { simd: WasmModule | null; loaded: SharedArrayBuffer };
/** Kept between batches: one WebAssembly memory per vector length, not one per batch. */
let sum: SimdAccumulator | null = null;

function runBatch({ partial, seeds, signs, next, count }: WorkerJob): number {
  const acc = new Int32Array(partial);
  const seedBytes = new Uint8Array(seeds);
  const signOf = new Int8Array(signs);
  const counter = new Int32Array(next);
  if (simd && sum?.words !== acc.length) sum = new SimdAccumulator(simd, acc.length);
  sum?.load(acc);
  let done = 0;
  for (let j = Atomics.add(counter, 0, 1); j < count; j = Atomics.add(counter, 0, 1)) {
    const seed = seedBytes.slice(j * PRG_SEED_BYTES, (j + 1) * PRG_SEED_BYTES);
    const sign = signOf[j] === 1 ? 1 : -1;
    if (sum) sum.applyPrg(seed, sign);
    else applyPrgInto(acc, seed, sign);
    done++;
  }
  sum?.store(acc);
  return done;
}

parentPort!.on('message', (job: WorkerJob) => {
  try {
    parentPort!.postMessage({ id: job.id, done: runBatch(job) });
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) });
  }
});

// Tells the pool (without a message round trip) that this worker takes jobs from now on.
Atomics.add(new Int32Array(loaded), 0, 1);
