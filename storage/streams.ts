/** @module Byte plumbing the adapters share: hashing while streaming, spooling to a temp file, error mapping. */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TesseraError } from '../core/errors.ts';
import { contentHash, createHasher } from '../core/hash.ts';
import type { ByteSource } from '../core/artifact-store.ts';

/** A source wrapped so that its BLAKE2b-256 and size are known once it has been consumed. */
export interface HashingSource {
  chunks: AsyncIterable<Uint8Array>;
  /** Valid after `chunks` has been fully consumed. */
  result(): { hash: string; size: number };
}

/** Wraps bytes or chunks in a hashing pass-through. */
export function hashingSource(source: ByteSource): HashingSource {
  const hasher = createHasher();
  let size = 0;
  let digest: string | null = null;
  async function* run(): AsyncGenerator<Uint8Array> {
    const input: AsyncIterable<Uint8Array> | Iterable<Uint8Array> = source instanceof Uint8Array ? [source] : source;
    for await (const chunk of input) {
      const bytes = chunk instanceof Uint8Array ? chunk : new Uint8Array(chunk as ArrayBuffer);
      hasher.update(bytes);
      size += bytes.length;
      yield bytes;
    }
    digest = hasher.digest();
  }
  return {
    chunks: run(),
    result() {
      if (digest === null) throw new Error('hashingSource: result() before the source was consumed');
      return { hash: digest, size };
    },
  };
}

/** A Node Readable over chunks (the cloud SDKs want Node streams). */
export function toReadable(chunks: AsyncIterable<Uint8Array> | Uint8Array): Readable {
  return Readable.from(chunks instanceof Uint8Array ? [chunks] : chunks, { objectMode: false });
}

/** Bytes spooled to a private temp file, hashed on the way; `remove()` deletes it. */
export interface SpooledFile {
  path: string;
  hash: string;
  size: number;
  open(): Readable;
  remove(): Promise<void>;
}

/**
 * Streams a source of unknown content to a temp file while hashing it, so a cloud adapter can
 * upload it under its content address without holding it in memory.
 */
export async function spoolToTempFile(source: ByteSource): Promise<SpooledFile> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-spool-'));
  const path = join(dir, 'bytes');
  const hashing = hashingSource(source);
  try {
    await pipeline(toReadable(hashing.chunks), createWriteStream(path));
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const { hash, size } = hashing.result();
  return { path, hash, size, open: () => createReadStream(path), remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The HTTP status a cloud SDK error carries, if any. */
export function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown; status?: unknown; response?: { status?: unknown } };
  for (const v of [e.statusCode, e.status, e.code, e.response?.status]) {
    if (typeof v === 'number' && v >= 100 && v < 600) return v;
  }
  return undefined;
}

/** Turns a backend failure into a TesseraError naming the store and key; TesseraErrors pass through. */
export function storeError(err: unknown, url: string, key: string): TesseraError {
  if (err instanceof TesseraError) return err;
  const status = statusOf(err);
  const message = err instanceof Error ? err.message : String(err);
  const details = { store: url, key, status, cause: message.slice(0, 500) };
  if (status === 404) return new TesseraError('NOT_FOUND', `${url}: ${key} does not exist`, { details });
  if (status === 409 || status === 412) return new TesseraError('CONFLICT', `${url}: ${key} was changed by someone else (precondition failed)`, { details });
  if (status === 401 || status === 403) {
    return new TesseraError('STORE_UNAVAILABLE', `${url}: access to ${key} refused (${status}); check the store's credentials and permissions`, { details });
  }
  const code = (err as { code?: unknown })?.code;
  if ((typeof code === 'string' && /MISMATCH/.test(code)) || /did not match|checksum|crc32c|md5/i.test(message)) {
    return new TesseraError('INTEGRITY', `${url}: ${key} failed the transport checksum: ${message}`, { details });
  }
  return new TesseraError('STORE_UNAVAILABLE', `${url}: ${key}: ${message}`, { details });
}

/**
 * Wraps a backend stream so its errors become TesseraErrors, and so that a reader who stops early
 * (break, return) releases the stream: its file handle or socket.
 */
export function mappedBody(body: AsyncIterable<Uint8Array>, url: string, key: string, release?: () => unknown): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      let it: AsyncIterator<Uint8Array> | null = null;
      return {
        async next() {
          try {
            it ??= body[Symbol.asyncIterator]();
            return await it.next();
          } catch (err) {
            throw storeError(err, url, key);
          }
        },
        async return() {
          // Closed before the first read: the stream never started, so release what get() opened.
          if (it) await it.return?.();
          else await release?.();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

/**
 * Content-addresses a source for a create-only upload: bytes are hashed directly; a stream is
 * spooled to a temp file first, since the object's key (its hash) must be known before upload.
 */
export async function withContentHash<T>(source: ByteSource, create: (hash: string, body: ByteSource, size: number) => Promise<T>): Promise<T> {
  if (source instanceof Uint8Array) return create(contentHash(source), source, source.length);
  const spooled = await spoolToTempFile(source);
  try {
    return await create(spooled.hash, spooled.open(), spooled.size);
  } finally {
    await spooled.remove();
  }
}
