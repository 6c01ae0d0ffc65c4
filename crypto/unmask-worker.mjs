/**
 * @module A worker thread of the unmask pool (crypto/unmask-pool.ts). It takes mask jobs from a
 * shared queue (a seed and a sign each) and adds sign * PRG(seed) into its own partial sum. The
 * PRG is the one in crypto/prg.ts: the ChaCha20 keystream under key = seed, nonce "LibsodiumDRG"
 * and counter 0, read as little-endian 32-bit words, all mod 2^32.
 *
 * The additions use the WebAssembly SIMD module of crypto/unmask-simd.ts when the pool passes it
 * (workerData.simd): the partial sum is copied into WebAssembly memory for each batch and back.
 *
 * The file is plain JavaScript so that a worker starts without a TypeScript loader (tsx, vitest).
 * The tests check that the pool's result is byte-identical to the in-thread path.
 */
import { createCipheriv } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { TextEncoder } from 'node:util';

const IV = new Uint8Array(16);
IV.set(new TextEncoder().encode('LibsodiumDRG'), 4);
/** As in prg.ts: 64 KiB outputs, below glibc's 128 KiB mmap threshold. */
const CHUNK_WORDS = 16 * 1024;
const ZERO = new Uint8Array(CHUNK_WORDS * 4);

function addWords(acc, offset, chunk) {
  const n = chunk.length;
  for (let i = 0; i < n; i++) acc[offset + i] = (acc[offset + i] + chunk[i]) | 0;
}

function subtractWords(acc, offset, chunk) {
  const n = chunk.length;
  for (let i = 0; i < n; i++) acc[offset + i] = (acc[offset + i] - chunk[i]) | 0;
}

function forEachChunk(seed, words, visit) {
  const cipher = createCipheriv('chacha20', seed, IV);
  for (let off = 0; off < words; off += CHUNK_WORDS) {
    const n = Math.min(CHUNK_WORDS, words - off);
    const bytes = cipher.update(n === CHUNK_WORDS ? ZERO : ZERO.subarray(0, n * 4));
    // An unaligned output is copied into a fresh (aligned) buffer; the pool runs on little-endian hosts only.
    visit(bytes.byteOffset % 4 === 0 ? new Int32Array(bytes.buffer, bytes.byteOffset, n) : new Int32Array(new Uint8Array(bytes).buffer), off);
  }
}

const round16 = (bytes) => Math.ceil(bytes / 16) * 16;
/** Kept between batches: one WebAssembly memory per vector length, not one per batch. */
let simd = null;

/** The sum in WebAssembly memory: [0, scratch) the words, then one chunk of scratch. */
function simdSum(words) {
  const x = new globalThis.WebAssembly.Instance(workerData.simd).exports;
  const scratch = round16(words * 4);
  const needed = scratch + round16(CHUNK_WORDS * 4);
  if (needed > x.memory.buffer.byteLength) x.memory.grow(Math.ceil((needed - x.memory.buffer.byteLength) / 65536));
  return {
    words,
    load(acc) {
      new Uint8Array(x.memory.buffer, 0, scratch).fill(0);
      new Int32Array(x.memory.buffer, 0, words).set(acc);
    },
    store(acc) {
      acc.set(new Int32Array(x.memory.buffer, 0, words));
    },
    apply(chunk, offset, sign) {
      const bytes = chunk.length * 4;
      const padded = round16(bytes);
      const mem = new Uint8Array(x.memory.buffer);
      mem.set(new Uint8Array(chunk.buffer, chunk.byteOffset, bytes), scratch);
      if (padded > bytes) mem.fill(0, scratch + bytes, scratch + padded);
      (sign === 1 ? x.add : x.sub)(offset * 4, scratch, padded);
    },
  };
}

function jsSum(acc) {
  return {
    load() {},
    store() {},
    apply(chunk, offset, sign) {
      if (sign === 1) addWords(acc, offset, chunk);
      else subtractWords(acc, offset, chunk);
    },
  };
}

parentPort.on('message', ({ id, partial, seeds, signs, next, count }) => {
  try {
    const acc = new Int32Array(partial);
    const seedBytes = new Uint8Array(seeds);
    const signOf = new Int8Array(signs);
    const counter = new Int32Array(next);
    if (workerData?.simd && simd?.words !== acc.length) simd = simdSum(acc.length);
    const sum = workerData?.simd ? simd : jsSum(acc);
    sum.load(acc);
    let done = 0;
    for (let j = Atomics.add(counter, 0, 1); j < count; j = Atomics.add(counter, 0, 1)) {
      const sign = signOf[j];
      forEachChunk(seedBytes.slice(j * 32, j * 32 + 32), acc.length, (chunk, offset) => sum.apply(chunk, offset, sign));
      done++;
    }
    sum.store(acc);
    parentPort.postMessage({ id, done });
  } catch (e) {
    parentPort.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
  }
});
