/** @module The sealed-artifact format: XChaCha20-Poly1305 secretstream under a federation content key, signed by the aggregator (Ed25519). Pure: no store, no I/O; members and the aggregator share it. */
import { TesseraError } from '../core/errors.ts';
import { createHasher } from '../core/hash.ts';
import { sodium } from '../core/sodium.ts';
import { concatBytes } from '../core/artifact-store.ts';
import type { ByteSource } from '../core/artifact-store.ts';
import { sign, verify } from './identity.ts';

// Layout: MAGIC | u32 header length | header JSON | secretstream header (24 B)
//         | frames (u32 length | ciphertext), the last tagged FINAL | Ed25519 signature (64 B)
// The signature covers "tessera-sealed-v1" || BLAKE2b-256(everything before it), so the cloud can
// neither read (no content key) nor alter, reorder, truncate or re-sign (no aggregator key) an artifact.
const MAGIC = new TextEncoder().encode('TSEALv1\n');
const DOMAIN = new TextEncoder().encode('tessera-sealed-v1');
const SIG_BYTES = 64;
const MAX_HEADER = 4096;

/** The keys that seal: the federation's content key (and its id, for rotation) and the aggregator's signing key. */
export interface SealingKeys {
  keyId: string;
  contentKey: Uint8Array;
  signingKey: Uint8Array;
}

/** What opening needs: content keys by id (revoked ones absent) and the aggregator's public key. */
export interface OpeningKeys {
  contentKeys: (keyId: string) => Uint8Array | undefined;
  signerPublicKey: Uint8Array;
}

/** A fresh 32-byte content key. */
export function generateContentKey(): Uint8Array {
  return sodium.crypto_secretstream_xchacha20poly1305_keygen();
}

const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};
const readU32 = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
const signedDigest = (digest: Uint8Array): Uint8Array => concatBytes([DOMAIN, digest]);
/** An INTEGRITY error about a sealed artifact. */
export const sealedIntegrityError = (what: string): TesseraError => new TesseraError('INTEGRITY', `sealed artifact: ${what}; refusing it (fetch again or from another replica)`);

/** Seals a plaintext stream; yields the sealed bytes as they are produced. */
export async function* sealArtifact(source: ByteSource, keys: SealingKeys, chunkSize = 1 << 20): AsyncGenerator<Uint8Array> {
  const hasher = createHasher();
  const emit = (b: Uint8Array): Uint8Array => (hasher.update(b), b);
  const header = new TextEncoder().encode(JSON.stringify({ v: 1, alg: 'xchacha20poly1305-secretstream', keyId: keys.keyId }));
  const { state, header: streamHeader } = sodium.crypto_secretstream_xchacha20poly1305_init_push(keys.contentKey);
  yield emit(concatBytes([MAGIC, u32(header.length), header, streamHeader]));
  const frame = (plain: Uint8Array, final: boolean, ad: Uint8Array | null): Uint8Array => {
    const tag = final ? sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL : sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    const c = sodium.crypto_secretstream_xchacha20poly1305_push(state, plain, ad, tag);
    return emit(concatBytes([u32(c.length), c]));
  };
  // The first frame binds the clear header as associated data; every frame holds one chunk.
  let ad: Uint8Array | null = header;
  let pending: Uint8Array = new Uint8Array(0);
  for await (const chunk of source instanceof Uint8Array ? [source] : source) {
    pending = pending.length ? concatBytes([pending, chunk]) : chunk;
    while (pending.length > chunkSize) {
      yield frame(pending.subarray(0, chunkSize), false, ad);
      ad = null;
      pending = pending.subarray(chunkSize);
    }
  }
  yield frame(pending, true, ad);
  yield sign(signedDigest(sodium.from_hex(hasher.digest())), keys.signingKey);
}

/** Reads exact byte counts from a chunk stream. */
class ByteReader {
  private buf: Uint8Array = new Uint8Array(0);
  private readonly it: AsyncIterator<Uint8Array>;
  constructor(source: ByteSource) {
    this.it = (source instanceof Uint8Array ? (async function* () { yield source; })() : source)[Symbol.asyncIterator]();
  }
  async exact(n: number, what: string): Promise<Uint8Array> {
    while (this.buf.length < n) {
      const next = await this.it.next();
      if (next.done) throw sealedIntegrityError(`truncated in the ${what}`);
      this.buf = this.buf.length ? concatBytes([this.buf, next.value]) : next.value;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  async atEnd(): Promise<boolean> {
    if (this.buf.length) return false;
    const next = await this.it.next();
    if (next.done) return true;
    this.buf = next.value;
    return this.buf.length === 0 ? this.atEnd() : false;
  }
}

/**
 * Opens a sealed artifact: checks its signature and every frame before returning anything, so the
 * caller never sees bytes that were altered, truncated, re-ordered or sealed by someone else.
 */
export async function openSealed(source: ByteSource, keys: OpeningKeys): Promise<{ plaintext: Uint8Array; keyId: string }> {
  const r = new ByteReader(source);
  const hasher = sodium.crypto_generichash_init(null, 32);
  const take = async (n: number, what: string): Promise<Uint8Array> => {
    const b = await r.exact(n, what);
    sodium.crypto_generichash_update(hasher, b);
    return b;
  };
  const magic = await take(MAGIC.length, 'magic');
  if (!magic.every((b, i) => b === MAGIC[i])) throw sealedIntegrityError('not a Tessera sealed artifact');
  const headerLength = readU32(await take(4, 'header'));
  if (headerLength > MAX_HEADER) throw sealedIntegrityError('header too large');
  const header = await take(headerLength, 'header');
  let keyId: string;
  try {
    keyId = String((JSON.parse(new TextDecoder().decode(header)) as { keyId: unknown }).keyId);
  } catch {
    throw sealedIntegrityError('unreadable header');
  }
  const key = keys.contentKeys(keyId);
  if (!key) throw new TesseraError('FORBIDDEN', `sealed artifact: no content key ${keyId} (revoked, rotated, or this member is not enrolled yet)`, { details: { keyId } });
  const state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(await take(sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES, 'stream header'), key);
  const plain: Uint8Array[] = [];
  let ad: Uint8Array | null = header;
  for (;;) {
    const length = readU32(await take(4, 'frame'));
    if (length > (64 << 20)) throw sealedIntegrityError('frame too large');
    const opened = sodium.crypto_secretstream_xchacha20poly1305_pull(state, await take(length, 'frame'), ad);
    if (!opened) throw sealedIntegrityError('a frame failed authentication (altered, or sealed under another key)');
    ad = null;
    plain.push(opened.message);
    if (opened.tag === sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL) break;
  }
  const digest = sodium.crypto_generichash_final(hasher, 32);
  const signature = await r.exact(SIG_BYTES, 'signature');
  if (!(await r.atEnd())) throw sealedIntegrityError('bytes after the signature');
  if (!verify(signedDigest(digest), signature, keys.signerPublicKey)) throw sealedIntegrityError('signature does not verify with the aggregator key');
  return { plaintext: concatBytes(plain), keyId };
}
