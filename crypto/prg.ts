/**
 * @module The mask PRG: a 32-byte seed expanded into a stream of 32-bit words.
 *
 * Definition: libsodium `randombytes_buf_deterministic(len, seed)`, i.e. the ChaCha20 (IETF)
 * keystream under key = seed, nonce = "LibsodiumDRG", block counter starting at 0, read as
 * little-endian u32 words. Fast path: Node's OpenSSL `chacha20` cipher, whose 16-byte IV is the
 * 4-byte little-endian counter followed by the 12-byte nonce; encrypting zeros yields the same
 * keystream byte for byte (prg.test.ts compares it with libsodium on multi-megabyte outputs).
 * This module does not load libsodium itself, so the unmask pool's worker threads start without it.
 *
 * Masks are added into Int32Array/Uint32Array accumulators in chunks so expanding m words costs
 * one chunk of memory, not m, and the add loop stays on int32 arithmetic (no float deopt).
 */
import { createCipheriv } from 'node:crypto';
import { TesseraError } from '../core/errors.ts';

export const PRG_SEED_BYTES = 32;
const NONCE = new TextEncoder().encode('LibsodiumDRG');
const IV = new Uint8Array(16);
IV.set(NONCE, 4);
/**
 * Words generated per cipher call: large enough to amortise the call, small enough for cache.
 * Each call allocates its output, and 128 KiB sits at glibc's mmap threshold (measured on
 * 100K-word expand-and-add: 32-64 KiB chunks 0.23-0.26 ms, 128 KiB 0.27-0.32, 256 KiB 1.2-1.5).
 */
export const CHUNK_WORDS = 16 * 1024;
const ZERO = new Uint8Array(CHUNK_WORDS * 4);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function checkSeed(seed: Uint8Array): void {
  if (seed.length !== PRG_SEED_BYTES) {
    throw new TesseraError('BAD_REQUEST', `PRG seed must be ${PRG_SEED_BYTES} bytes, got ${seed.length}`, { field: 'seed' });
  }
}

/** `len` keystream bytes: `sodium.randombytes_buf_deterministic(len, seed)`, through Node's chacha20 cipher. */
export function prgBytes(seed: Uint8Array, len: number): Uint8Array {
  checkSeed(seed);
  const cipher = createCipheriv('chacha20', seed, IV);
  const out = new Uint8Array(len);
  for (let off = 0; off < len; off += ZERO.length) {
    const n = Math.min(ZERO.length, len - off);
    out.set(cipher.update(n === ZERO.length ? ZERO : ZERO.subarray(0, n)), off);
  }
  return out;
}

/** Calls `visit(words, offset)` with successive keystream chunks as int32 words (views valid only during the call). */
export function forEachMaskChunk(seed: Uint8Array, words: number, visit: (chunk: Int32Array, offset: number) => void): void {
  checkSeed(seed);
  const cipher = createCipheriv('chacha20', seed, IV);
  for (let off = 0; off < words; off += CHUNK_WORDS) {
    const n = Math.min(CHUNK_WORDS, words - off);
    const bytes = cipher.update(n === CHUNK_WORDS ? ZERO : ZERO.subarray(0, n * 4));
    let chunk: Int32Array;
    if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) {
      chunk = new Int32Array(bytes.buffer, bytes.byteOffset, n);
    } else {
      // Unaligned pool slice or a big-endian host: decode explicitly (rare, so the copy is fine).
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      chunk = new Int32Array(n);
      for (let i = 0; i < n; i++) chunk[i] = view.getInt32(i * 4, true);
    }
    visit(chunk, off);
  }
}

/** Expands a seed into `words` 32-bit words (little-endian reading of the keystream). */
export function expandWords(seed: Uint8Array, words: number): Uint32Array {
  const out = new Uint32Array(words);
  const asInt = new Int32Array(out.buffer);
  forEachMaskChunk(seed, words, (chunk, off) => asInt.set(chunk, off));
  return out;
}

type Accumulator = Uint32Array | Int32Array;

function int32View(acc: Accumulator): Int32Array {
  return acc instanceof Int32Array ? acc : new Int32Array(acc.buffer, acc.byteOffset, acc.length);
}

// Standalone, monomorphic loops (Int32Array only): V8 keeps them on int32 arithmetic.
function addWords(acc: Int32Array, offset: number, chunk: Int32Array): void {
  const n = chunk.length;
  for (let i = 0; i < n; i++) acc[offset + i] = (acc[offset + i] + chunk[i]) | 0;
}

function subtractWords(acc: Int32Array, offset: number, chunk: Int32Array): void {
  const n = chunk.length;
  for (let i = 0; i < n; i++) acc[offset + i] = (acc[offset + i] - chunk[i]) | 0;
}

/** acc += PRG(seed) mod 2^32, in place, without allocating m words. */
export function addPrgInto(acc: Accumulator, seed: Uint8Array): void {
  const a = int32View(acc);
  forEachMaskChunk(seed, a.length, (chunk, off) => addWords(a, off, chunk));
}

/** acc -= PRG(seed) mod 2^32, in place. */
export function subtractPrgInto(acc: Accumulator, seed: Uint8Array): void {
  const a = int32View(acc);
  forEachMaskChunk(seed, a.length, (chunk, off) => subtractWords(a, off, chunk));
}

/** acc += sign * PRG(seed), sign = +1 or -1: the pairwise-mask form. */
export function applyPrgInto(acc: Accumulator, seed: Uint8Array, sign: 1 | -1): void {
  if (sign === 1) addPrgInto(acc, seed);
  else subtractPrgInto(acc, seed);
}
