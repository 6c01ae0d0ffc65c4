/**
 * @module Signing, verifying and binding-checking secure-aggregation messages, and the byte
 * form of masked vectors. The signed bytes are the tag, then canonical JSON (sorted keys) of
 * every field except the signature and the raw vector (whose hash is a signed field).
 */
import { TesseraError } from '../core/errors.ts';
import { contentHash } from '../core/hash.ts';
import type { SecAggMessage, SecAggRoundConfig, SecAggStage } from '../core/secagg-wire.ts';
import { SECAGG_PROTOCOL, SECAGG_SIGNATURE_TAG } from '../core/secagg-wire.ts';
import { fromBase64, sign, toBase64, verify } from './identity.ts';

/** JSON with object keys sorted at every level: one byte string per value. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The bytes a message's signature covers. */
export function signedBytes(message: Omit<SecAggMessage, 'signature'> | SecAggMessage): Uint8Array {
  const fields: Record<string, unknown> = { ...message };
  delete fields.signature;
  delete fields.vector;
  return new TextEncoder().encode(`${SECAGG_SIGNATURE_TAG}\n${canonicalJson(fields)}`);
}

/** What a consistency message signs for a survivor list (sorted, as members sign it): BLAKE2b-256 of its canonical JSON. */
export function survivorSetHash(survivors: readonly string[]): string {
  return contentHash(new TextEncoder().encode(`tessera-survivors:${canonicalJson(survivors)}`));
}

/** Adds the member's Ed25519 signature. */
export function signMessage<M extends SecAggMessage>(unsigned: Omit<M, 'signature'>, identitySecret: Uint8Array): M {
  return { ...unsigned, signature: toBase64(sign(signedBytes(unsigned), identitySecret)) } as M;
}

/** True when the signature is valid under the given identity key. */
export function verifyMessage(message: SecAggMessage, identityKey: Uint8Array): boolean {
  const signature = fromBase64(message.signature ?? '');
  return signature !== null && verify(signedBytes(message), signature, identityKey);
}

/** A stable fingerprint of a message's content (signed fields and signature) for idempotency. */
export function messageFingerprint(message: SecAggMessage): string {
  return contentHash(new TextEncoder().encode(`${canonicalJson({ ...message, vector: undefined })}`));
}

/** Throws STALE_STAGE unless the message (or request) belongs to this federation, round and stage. */
export function checkBinding(
  message: { protocol?: unknown; federationId?: unknown; round?: unknown; stage?: unknown },
  config: SecAggRoundConfig,
  stage: SecAggStage,
): void {
  if (message.protocol !== SECAGG_PROTOCOL) {
    throw new TesseraError('BAD_REQUEST', `protocol: expected "${SECAGG_PROTOCOL}", got ${JSON.stringify(message.protocol)}`, { field: 'protocol' });
  }
  if (message.federationId !== config.federationId || message.round !== config.round) {
    throw new TesseraError('STALE_STAGE', `message belongs to federation ${JSON.stringify(message.federationId)} round ${JSON.stringify(message.round)}; this is federation "${config.federationId}" round ${config.round}`, { field: 'round' });
  }
  if (message.stage !== stage) {
    throw new TesseraError('STALE_STAGE', `message belongs to stage ${JSON.stringify(message.stage)}; the current stage is "${stage}"`, { field: 'stage' });
  }
}

/** Decodes base64url or throws naming the field. */
export function decodeBase64(s: unknown, field: string, bytes?: number): Uint8Array {
  const out = typeof s === 'string' ? fromBase64(s) : null;
  if (!out || (bytes !== undefined && out.length !== bytes)) {
    throw new TesseraError('BAD_REQUEST', `${field}: expected base64url${bytes !== undefined ? ` of ${bytes} bytes` : ''}`, { field });
  }
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** u32 words as little-endian bytes (a view when the host is little-endian). */
export function vectorToBytes(words: Uint32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  const out = new Uint8Array(words.length * 4);
  const view = new DataView(out.buffer);
  words.forEach((w, i) => view.setUint32(i * 4, w, true));
  return out;
}

/** Little-endian bytes as u32 words (copied, so the result is aligned and owned). */
export function bytesToVector(bytes: Uint8Array): Uint32Array {
  if (bytes.length % 4 !== 0) throw new TesseraError('BAD_REQUEST', `vector: ${bytes.length} bytes is not a whole number of 32-bit words`, { field: 'vector' });
  const out = new Uint32Array(bytes.length / 4);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, true);
  }
  return out;
}
