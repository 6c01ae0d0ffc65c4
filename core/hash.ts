/** @module BLAKE2b-256 content hashes, the addresses of every artifact and contribution. */
import { sodium } from './sodium.ts';

export const HASH_BYTES = 32;

/** BLAKE2b-256 of bytes, as lowercase hex. */
export function contentHash(bytes: Uint8Array): string {
  return sodium.to_hex(sodium.crypto_generichash(HASH_BYTES, bytes, null));
}

/** BLAKE2b-256 as raw bytes. */
export function contentHashBytes(bytes: Uint8Array): Uint8Array {
  return sodium.crypto_generichash(HASH_BYTES, bytes, null);
}

/** An incremental hasher for streamed bodies: feed chunks, then read the hex digest once. */
export function createHasher(): { update(chunk: Uint8Array): void; digest(): string } {
  const state = sodium.crypto_generichash_init(null, HASH_BYTES);
  let done = false;
  return {
    update(chunk) {
      if (done) throw new Error('hasher already finished');
      sodium.crypto_generichash_update(state, chunk);
    },
    digest() {
      done = true;
      return sodium.to_hex(sodium.crypto_generichash_final(state, HASH_BYTES));
    },
  };
}

/** True when s looks like a hex BLAKE2b-256 digest. */
export function isContentHash(s: unknown): s is string {
  return typeof s === 'string' && /^[0-9a-f]{64}$/.test(s);
}
