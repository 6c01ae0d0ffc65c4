/** @module Signing a member request: the headers that carry identity, time, nonce and signature. */
import { contentHash } from '../core/hash.ts';
import { SIGNATURE_HEADERS, canonicalRequest } from '../core/request-signing.ts';
import { randomToken, sign, toBase64 } from './identity.ts';

/** The four signature headers for one request; a fresh nonce and timestamp every call. */
export function signedRequestHeaders(req: { method: string; path: string; body: Uint8Array; memberId: string; secretKey: Uint8Array; now?: () => number }): Record<string, string> {
  const timestamp = (req.now ?? Date.now)();
  const nonce = randomToken(18);
  const message = canonicalRequest({ method: req.method, path: req.path, bodyHash: contentHash(req.body), memberId: req.memberId, timestamp, nonce });
  return {
    [SIGNATURE_HEADERS.member]: req.memberId,
    [SIGNATURE_HEADERS.timestamp]: String(timestamp),
    [SIGNATURE_HEADERS.nonce]: nonce,
    [SIGNATURE_HEADERS.signature]: toBase64(sign(message, req.secretKey)),
  };
}
