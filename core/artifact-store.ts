/** @module The artifact store interface every adapter implements (local directory, GCS, Azure Blob), with key rules and verified reads. */
import { TesseraError } from './errors.ts';
import { createHasher, isContentHash } from './hash.ts';

/** Bytes to store: a whole buffer, or chunks (a Node Readable or a web ReadableStream both qualify). */
export type ByteSource = Uint8Array | AsyncIterable<Uint8Array>;

/** What a store knows about one object. `version` is opaque: a GCS generation, an Azure ETag, a local stamp. */
export interface ObjectInfo {
  key: string;
  size: number;
  version: string;
}

/** The result of a write: where it went and the BLAKE2b-256 of the bytes as they were sent. */
export interface PutResult extends ObjectInfo {
  hash: string;
}

/** An object being read: its metadata (known before the first byte) and its body as chunks. Read the body to the end or stop early with break/return(): both release it. */
export interface StoredObject extends ObjectInfo {
  body: AsyncIterable<Uint8Array>;
}

/** The current state of a named pointer (e.g. a federation's `latest` model). */
export interface PointerState {
  value: string;
  version: string;
}

/**
 * A place that keeps artifacts. Keys are relative, `/`-separated paths (see {@link validateKey}).
 * Missing keys raise TesseraError NOT_FOUND; an unreachable or refusing backend STORE_UNAVAILABLE.
 */
export interface ArtifactStore {
  /** The store URL it was opened with (`file:///...`, `gs://...`, `az://...`), for messages and logs. */
  readonly url: string;
  /** Writes (replaces) `key`, streaming; returns the hash and size of what was written. */
  put(key: string, source: ByteSource, opts?: { contentType?: string }): Promise<PutResult>;
  /** Writes bytes under their own address `objects/<blake2b-256 hex>`; a second put of the same bytes is a no-op. */
  putContent(source: ByteSource): Promise<PutResult>;
  /** Opens `key` for reading; NOT_FOUND when absent. The body is not verified: use {@link readVerified}. */
  get(key: string): Promise<StoredObject>;
  /** Metadata of `key`, or null when absent. */
  head(key: string): Promise<ObjectInfo | null>;
  /** Every object whose key starts with `prefix` (internal `.`-segments excluded), sorted by key. */
  list(prefix?: string): Promise<ObjectInfo[]>;
  /** Removes `key`; true when something was there. */
  delete(key: string): Promise<boolean>;
  /** The pointer's value and version, or null when it was never published. */
  readPointer(name: string): Promise<PointerState | null>;
  /**
   * Compare-and-swap: sets the pointer to `value` only if its version is still `expectedVersion`
   * (null: only if it does not exist yet). Anyone else having moved it raises CONFLICT.
   */
  publishPointer(name: string, value: string, expectedVersion: string | null): Promise<PointerState>;
  /** Releases clients and sockets. */
  close(): Promise<void>;
}

/** What a verified read expects: the hash always, the size when known. */
export interface ExpectedContent {
  hash: string;
  size?: number;
}

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._=+@,-]*$/;
const MAX_KEY_LENGTH = 512;

/** Prefix of content-addressed objects. */
export const CONTENT_PREFIX = 'objects/';

/**
 * Checks a key: relative, `/`-separated, no empty, `.` or `..` segments, no segment starting with
 * `.` (reserved for the store's own files), at most 512 characters. Throws BAD_REQUEST.
 */
export function validateKey(key: string, field = 'key'): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new TesseraError('BAD_REQUEST', `${field}: expected 1-${MAX_KEY_LENGTH} characters, got ${JSON.stringify(key)}`, { field });
  }
  for (const segment of key.split('/')) {
    if (!SEGMENT.test(segment)) {
      throw new TesseraError(
        'BAD_REQUEST',
        `${field}: ${JSON.stringify(key)} is not a valid store key (relative path of letters, digits and ._=+@,- ; no leading slash, no "..", no segment starting with ".")`,
        { field },
      );
    }
  }
  return key;
}

/** Checks a list prefix: empty, or a key prefix (may end with `/`). */
export function validatePrefix(prefix: string): string {
  if (prefix === '') return prefix;
  validateKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, 'prefix');
  return prefix;
}

/** True for keys the store keeps for itself (pointers, staging): some segment starts with `.`. */
export function isInternalKey(key: string): boolean {
  return key.split('/').some((s) => s.startsWith('.'));
}

/** The key of content-addressed bytes. */
export function contentKey(hash: string): string {
  if (!isContentHash(hash)) throw new TesseraError('BAD_REQUEST', `hash: expected 64 lowercase hex characters, got ${JSON.stringify(hash)}`, { field: 'hash' });
  return CONTENT_PREFIX + hash;
}

function integrityError(key: string, what: string, details: Record<string, unknown>): TesseraError {
  return new TesseraError('INTEGRITY', `artifact ${key}: ${what}; refusing it (fetch again or from another replica)`, { details: { key, ...details } });
}

/**
 * Passes chunks through while hashing them, and throws INTEGRITY before the last chunk is
 * released if the hash or size differs (or as soon as the body exceeds the expected size).
 * Whoever consumes a streamed body must still discard everything on an error.
 */
export async function* verifiedChunks(key: string, body: AsyncIterable<Uint8Array>, expected: ExpectedContent): AsyncGenerator<Uint8Array> {
  const hasher = createHasher();
  let size = 0;
  let held: Uint8Array | null = null;
  for await (const chunk of body) {
    size += chunk.length;
    if (expected.size !== undefined && size > expected.size) throw integrityError(key, `longer than the expected ${expected.size} bytes`, { expectedSize: expected.size });
    hasher.update(chunk);
    if (held) yield held;
    held = chunk;
  }
  const hash = hasher.digest();
  if (expected.size !== undefined && size !== expected.size) {
    throw integrityError(key, `${size} bytes where ${expected.size} were expected (truncated)`, { expectedSize: expected.size, actualSize: size });
  }
  if (hash !== expected.hash) throw integrityError(key, `hash ${hash} does not match the expected ${expected.hash}`, { expectedHash: expected.hash, actualHash: hash });
  if (held) yield held;
}

/** Reads a whole object and returns its bytes only if they match the expected hash (and size). */
export async function readVerified(store: ArtifactStore, key: string, expected: ExpectedContent): Promise<Uint8Array> {
  const object = await store.get(key);
  if (expected.size !== undefined && object.size !== expected.size) {
    // The store already reports the wrong size (stale or torn): close the body unread.
    await object.body[Symbol.asyncIterator]().return?.();
    throw integrityError(key, `store reports ${object.size} bytes where ${expected.size} were expected`, { expectedSize: expected.size, actualSize: object.size });
  }
  const chunks: Uint8Array[] = [];
  for await (const chunk of verifiedChunks(key, object.body, expected)) chunks.push(chunk);
  return concatBytes(chunks);
}

/** Reads content-addressed bytes by their hash, verified. */
export function getContent(store: ArtifactStore, hash: string, size?: number): Promise<Uint8Array> {
  return readVerified(store, contentKey(hash), { hash, size });
}

/** Joins chunks into one buffer. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  // A view, not a copy, and a plain Uint8Array even when the chunk is a Node Buffer.
  if (chunks.length === 1) return new Uint8Array(chunks[0].buffer, chunks[0].byteOffset, chunks[0].length);
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
