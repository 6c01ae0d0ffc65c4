/**
 * @module X25519 key agreement with a KDF: one Diffie-Hellman secret per pair of members, turned
 * into independent keys for independent purposes.
 *
 * key = BLAKE2b-256(key = X25519(sk_a, pk_b), msg = context || 0 || binding || 0 || pk_lo || pk_hi)
 * where pk_lo/pk_hi are the two public keys in byte order, so both sides derive the same key.
 * The context string separates uses (a pairwise mask seed never equals a share-encryption key
 * even though both come from the same kind of secret); the binding (federation and round) keeps
 * keys of one round useless in any other.
 *
 * The X25519 operation itself runs in Node's OpenSSL (RFC 7748, same clamping as libsodium's
 * crypto_scalarmult; tested equal), about ten times faster than libsodium's WebAssembly build,
 * which matters when the aggregator recomputes thousands of pairwise masks of dropped members.
 */
import type { KeyObject } from 'node:crypto';
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { TesseraError } from '../core/errors.ts';
import { sodium } from '../core/sodium.ts';

export const AGREEMENT_KEY_BYTES = 32;

/** The purposes a derived key may serve; each is a distinct KDF context. */
export const KDF_CONTEXTS = {
  /** Seed of the pairwise mask PRG between two members (from their mask key pairs). */
  pairwiseMask: 'tessera/secagg/pairwise-mask/v1',
  /** Key of the envelopes that carry Shamir shares between two members (from their encryption key pairs). */
  shareEncryption: 'tessera/secagg/share-encryption/v1',
} as const;

export type KdfContext = keyof typeof KDF_CONTEXTS;

/** An X25519 key pair (raw 32-byte keys). */
export interface AgreementKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
const fromB64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64url'));
/** JWK import wants an `x`; OpenSSL derives the real public key from `d`, so any placeholder works. */
const PLACEHOLDER_X = b64(new Uint8Array(32).fill(9));

function checkLength(key: Uint8Array, field: string): void {
  if (!(key instanceof Uint8Array) || key.length !== AGREEMENT_KEY_BYTES) {
    throw new TesseraError('BAD_REQUEST', `${field}: expected a ${AGREEMENT_KEY_BYTES}-byte X25519 key`, { field });
  }
}

// Keyed by the secret's array object, so the cache dies with the caller's key pair and never
// keeps a secret alive on its own.
const privateCache = new WeakMap<Uint8Array, KeyObject>();
function privateKeyObject(secretKey: Uint8Array): KeyObject {
  checkLength(secretKey, 'secretKey');
  let key = privateCache.get(secretKey);
  if (!key) {
    key = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64(secretKey), x: PLACEHOLDER_X }, format: 'jwk' });
    privateCache.set(secretKey, key);
  }
  return key;
}

// Public keys recur (each survivor's key is used with every dropped neighbour): keep their key objects.
const publicCache = new Map<string, KeyObject>();
function publicKeyObject(publicKey: Uint8Array): KeyObject {
  checkLength(publicKey, 'publicKey');
  const x = b64(publicKey);
  let key = publicCache.get(x);
  if (!key) {
    if (publicCache.size >= 20_000) publicCache.clear();
    key = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' });
    publicCache.set(x, key);
  }
  return key;
}

/** A fresh random X25519 key pair. */
export function generateAgreementKeyPair(): AgreementKeyPair {
  const jwk = generateKeyPairSync('x25519').privateKey.export({ format: 'jwk' });
  return { publicKey: fromB64(jwk.x!), secretKey: fromB64(jwk.d!) };
}

/** The public key of an X25519 secret key (checks a reconstructed secret against what was advertised). */
export function agreementPublicKey(secretKey: Uint8Array): Uint8Array {
  return fromB64(createPublicKey(privateKeyObject(secretKey)).export({ format: 'jwk' }).x!);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

const encoder = new TextEncoder();

/**
 * Derives a 32-byte key shared by the holders of (mine, theirPublic) and (theirs, mine.publicKey).
 * Throws on a low-order public key (the DH output would be all zeros, known to everyone).
 */
export function deriveSharedKey(mine: AgreementKeyPair, theirPublic: Uint8Array, context: KdfContext, binding: string): Uint8Array {
  checkLength(mine.publicKey, 'publicKey');
  const lowOrder = (): never => {
    throw new TesseraError('BAD_REQUEST', 'publicKey: a low-order X25519 point gives no shared secret', { field: 'publicKey' });
  };
  let dh: Uint8Array;
  try {
    dh = new Uint8Array(diffieHellman({ privateKey: privateKeyObject(mine.secretKey), publicKey: publicKeyObject(theirPublic) }));
  } catch (e) {
    if (e instanceof TesseraError) throw e;
    return lowOrder();
  }
  if (dh.every((b) => b === 0)) lowOrder();
  const [lo, hi] = compareBytes(mine.publicKey, theirPublic) <= 0 ? [mine.publicKey, theirPublic] : [theirPublic, mine.publicKey];
  const ctx = encoder.encode(KDF_CONTEXTS[context]);
  const bind = encoder.encode(binding);
  const msg = new Uint8Array(ctx.length + 1 + bind.length + 1 + 64);
  msg.set(ctx, 0);
  msg.set(bind, ctx.length + 1);
  msg.set(lo, ctx.length + bind.length + 2);
  msg.set(hi, ctx.length + bind.length + 2 + 32);
  const key = sodium.crypto_generichash(32, msg, dh);
  dh.fill(0);
  return key;
}
