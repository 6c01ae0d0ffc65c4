/**
 * @module The canonical form of a signed member request. A member signs these bytes with its
 * Ed25519 identity key; the aggregator rebuilds them from the request and checks the signature,
 * the clock skew and that the nonce was never seen before.
 */

export const SIGNATURE_HEADERS = {
  member: 'x-tessera-member',
  timestamp: 'x-tessera-timestamp',
  nonce: 'x-tessera-nonce',
  signature: 'x-tessera-signature',
} as const;

/** How far a request's timestamp may be from the aggregator's clock, ms. */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

export interface SignedRequestParts {
  method: string;
  /** Path with query string, exactly as sent. */
  path: string;
  /** BLAKE2b-256 hex of the body (of the empty string when there is none). */
  bodyHash: string;
  memberId: string;
  timestamp: number;
  nonce: string;
}

/** The bytes that get signed: one field per line, prefixed by a domain-separation tag. */
export function canonicalRequest(p: SignedRequestParts): Uint8Array {
  return new TextEncoder().encode(
    ['TESSERA-REQUEST-V1', p.method.toUpperCase(), p.path, p.bodyHash, p.memberId, String(p.timestamp), p.nonce].join('\n'),
  );
}

/** What a new member signs at enrollment to prove it holds the key it registers. */
export function enrollmentMessage(federationId: string, token: string, publicKey: string): Uint8Array {
  return new TextEncoder().encode(['TESSERA-ENROLL-V1', federationId, token, publicKey].join('\n'));
}

/** Header carrying a member's training-example count with an uploaded update. */
export const EXAMPLES_HEADER = 'x-tessera-examples';
/** Header carrying a model's content hash on download. */
export const MODEL_HASH_HEADER = 'x-tessera-model-hash';
