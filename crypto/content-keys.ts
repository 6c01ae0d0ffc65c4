/**
 * @module Federation content keys in transit and at rest. A member receives each key sealed to
 * its Ed25519 identity (converted to X25519, `crypto_box_seal`: anonymous sender, only the member
 * opens it). The aggregator keeps keys wrapped (XSalsa20-Poly1305) under a key derived from its
 * own signing key, so a copy of the database alone does not reveal them.
 */
import { TesseraError } from '../core/errors.ts';
import { sodium } from '../core/sodium.ts';
import { fromBase64, toBase64 } from './identity.ts';

const WRAP_CONTEXT = new TextEncoder().encode('tessera-content-key-wrap-v1');

/** A content key as a member receives it: its id and the key sealed to the member. */
export interface SealedContentKey {
  keyId: string;
  /** crypto_box_seal of the 32-byte key to the member's X25519 key, URL-safe base64. */
  sealed: string;
}

/** Seals a content key to a member's Ed25519 public key. */
export function sealContentKeyFor(memberPublicKey: Uint8Array, keyId: string, contentKey: Uint8Array): SealedContentKey {
  const x25519 = sodium.crypto_sign_ed25519_pk_to_curve25519(memberPublicKey);
  return { keyId, sealed: toBase64(sodium.crypto_box_seal(contentKey, x25519)) };
}

/** Opens a content key sealed to this member; FORBIDDEN when it was sealed to someone else. */
export function openContentKey(sealed: SealedContentKey, memberSecretKey: Uint8Array): Uint8Array {
  const box = fromBase64(sealed.sealed);
  const pk = sodium.crypto_sign_ed25519_pk_to_curve25519(memberSecretKey.subarray(32));
  const sk = sodium.crypto_sign_ed25519_sk_to_curve25519(memberSecretKey);
  try {
    if (!box) throw new Error('not base64');
    return sodium.crypto_box_seal_open(box, pk, sk);
  } catch {
    throw new TesseraError('FORBIDDEN', `content key ${sealed.keyId}: not sealed to this member's key (re-fetch the keys, or re-enroll)`, { details: { keyId: sealed.keyId } });
  } finally {
    sodium.memzero(sk);
  }
}

const wrapKey = (signingSecretKey: Uint8Array): Uint8Array => sodium.crypto_generichash(32, WRAP_CONTEXT, signingSecretKey);

/** Wraps a content key for storage (nonce || secretbox), URL-safe base64. */
export function wrapContentKey(contentKey: Uint8Array, signingSecretKey: Uint8Array): string {
  const nonce = sodium.randombytes_buf(sodium.crypto_secretbox_NONCEBYTES);
  const box = sodium.crypto_secretbox_easy(contentKey, nonce, wrapKey(signingSecretKey));
  const out = new Uint8Array(nonce.length + box.length);
  out.set(nonce);
  out.set(box, nonce.length);
  return toBase64(out);
}

/** Unwraps a stored content key; INTEGRITY when the signing key is not the one that wrapped it. */
export function unwrapContentKey(wrapped: string, signingSecretKey: Uint8Array): Uint8Array {
  const bytes = fromBase64(wrapped);
  const n = sodium.crypto_secretbox_NONCEBYTES;
  try {
    if (!bytes || bytes.length <= n) throw new Error('short');
    return sodium.crypto_secretbox_open_easy(bytes.subarray(n), bytes.subarray(0, n), wrapKey(signingSecretKey));
  } catch {
    throw new TesseraError('INTEGRITY', 'a stored content key does not open with this aggregator\'s signing key (ledger.key swapped or the row altered)');
  }
}
