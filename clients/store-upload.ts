/**
 * @module Handing an upload in through the member's own store: the bytes go to its bucket or
 * container, the aggregator gets a small signed request naming a time-limited URL, the size and
 * the BLAKE2b-256, fetches and checks them. One helper for both uploads that can travel this way,
 * a plaintext update (clients/runtime.ts) and a secure round's masked input (secagg-runtime.ts):
 * when the store path fails for any reason a direct upload would not share, the bytes go over
 * HTTP instead.
 */
import { TesseraError } from '../core/errors.ts';
import { contentHash } from '../core/hash.ts';

/** Puts `body` in the member's own store and returns a URL the aggregator may GET until it expires. */
export type UploadVia = (body: Uint8Array, ctx: { round: number; hash: string; stage: 'fit' | 'masked_input' }) => Promise<{ url: string }>;

/** Emitted when the store path was given up and the bytes went over HTTP. */
export type UploadFallbackEvent = { kind: 'upload-fallback'; round: number; reason: string };

/** What the aggregator is told instead of the bytes. */
export interface StoreRef {
  url: string;
  hash: string;
  size: number;
}

/** Refusals a direct upload would get too (the slot is closed, taken, or not this member's): no fallback. */
const FINAL_CODES = new Set(['STALE_STAGE', 'CONFLICT', 'FORBIDDEN', 'MEMBER_REVOKED']);

export interface UploadThroughStoreOptions {
  body: Uint8Array;
  round: number;
  stage: 'fit' | 'masked_input';
  /** The member's store path; absent: straight to `direct`. */
  uploadVia?: UploadVia;
  /** Sends the reference (the aggregator fetches and checks it). */
  viaUrl: (ref: StoreRef) => Promise<unknown>;
  /** Sends the bytes in the request body. */
  direct: () => Promise<unknown>;
  /** Told why the store path was given up (then `direct` runs). */
  onFallback: (reason: string) => void;
}

/** Uploads through the store when the member has one, falling back to a direct upload; says which way the bytes went. */
export async function uploadThroughStore(opts: UploadThroughStoreOptions): Promise<'url' | 'http'> {
  if (opts.uploadVia) {
    const hash = contentHash(opts.body);
    try {
      const { url } = await opts.uploadVia(opts.body, { round: opts.round, hash, stage: opts.stage });
      await opts.viaUrl({ url, hash, size: opts.body.length });
      return 'url';
    } catch (e) {
      if (e instanceof TesseraError && FINAL_CODES.has(e.code)) throw e;
      opts.onFallback(e instanceof TesseraError ? `${e.code}: ${e.message}` : (e as Error).message);
    }
  }
  await opts.direct();
  return 'http';
}
