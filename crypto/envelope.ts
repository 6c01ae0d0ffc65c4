/**
 * @module Sealed envelopes: XChaCha20-Poly1305 AEAD with a random 24-byte nonce and associated
 * data that binds the envelope to its federation, round, stage, sender and recipient. An envelope
 * moved to another slot (another round, another recipient) fails to open rather than decrypting.
 */
import { randomBytes } from 'node:crypto';
import { TesseraError } from '../core/errors.ts';
import { sodium } from '../core/sodium.ts';

export const ENVELOPE_KEY_BYTES = 32;
export const ENVELOPE_NONCE_BYTES = 24;
export const ENVELOPE_OVERHEAD = ENVELOPE_NONCE_BYTES + 16;

/** Where an envelope belongs; every field is authenticated. */
export interface EnvelopeBinding {
  federationId: string;
  round: number;
  stage: string;
  sender: string;
  recipient: string;
}

/** The associated data: a tagged, newline-separated list (ids cannot contain newlines: checked). */
export function associatedData(b: EnvelopeBinding): Uint8Array {
  for (const [field, value] of Object.entries(b)) {
    if (typeof value === 'string' && value.includes('\n')) {
      throw new TesseraError('BAD_REQUEST', `${field}: must not contain a newline`, { field });
    }
  }
  return new TextEncoder().encode(['TESSERA-ENVELOPE-V1', b.federationId, String(b.round), b.stage, b.sender, b.recipient].join('\n'));
}

function checkKey(key: Uint8Array): void {
  if (key.length !== ENVELOPE_KEY_BYTES) {
    throw new TesseraError('BAD_REQUEST', `envelope key must be ${ENVELOPE_KEY_BYTES} bytes, got ${key.length}`, { field: 'key' });
  }
}

/** Encrypts: nonce (24 bytes) || ciphertext || tag (16 bytes). */
export function seal(plaintext: Uint8Array, key: Uint8Array, binding: EnvelopeBinding): Uint8Array {
  checkKey(key);
  // Node's CSPRNG: libsodium-wrappers' randombytes is slow in this build (one syscall per word).
  const nonce = new Uint8Array(randomBytes(ENVELOPE_NONCE_BYTES));
  const ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, associatedData(binding), null, nonce, key);
  const out = new Uint8Array(nonce.length + ct.length);
  out.set(nonce, 0);
  out.set(ct, nonce.length);
  return out;
}

/** Decrypts and authenticates; throws UNAUTHENTICATED when the key, binding or bytes differ. */
export function open(envelope: Uint8Array, key: Uint8Array, binding: EnvelopeBinding): Uint8Array {
  checkKey(key);
  const fail = (): never => {
    throw new TesseraError('UNAUTHENTICATED', `envelope from ${binding.sender} to ${binding.recipient} failed authentication (wrong key, round, stage or tampered bytes)`, { field: 'envelope' });
  };
  if (envelope.length < ENVELOPE_OVERHEAD) fail();
  try {
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      envelope.subarray(ENVELOPE_NONCE_BYTES),
      associatedData(binding),
      envelope.subarray(0, ENVELOPE_NONCE_BYTES),
      key,
    );
  } catch {
    return fail();
  }
}
