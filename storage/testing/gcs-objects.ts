/** @module The GCS test server's in-memory model: buckets, object generations, preconditions, listings, JSON resources. */
import { createHash } from 'node:crypto';
import { crc32c, crc32cBase64 } from './crc32c.ts';

/** One stored object (the live generation only: the fixture keeps no object versioning). */
export interface GcsObject {
  bucket: string;
  name: string;
  bytes: Buffer;
  generation: number;
  metageneration: number;
  contentType: string;
  metadata?: Record<string, string>;
  md5Hash: string;
  crc32c: string;
  created: Date;
  updated: Date;
}

/** A failure the server answers with GCS's JSON error body. */
export class GcsHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

/** The query parameters GCS uses as preconditions. */
export interface Preconditions {
  ifGenerationMatch?: string | null;
  ifGenerationNotMatch?: string | null;
  ifMetagenerationMatch?: string | null;
  ifMetagenerationNotMatch?: string | null;
}

/** Reads the four precondition parameters from a query string. */
export function preconditionsOf(q: URLSearchParams): Preconditions {
  return {
    ifGenerationMatch: q.get('ifGenerationMatch'),
    ifGenerationNotMatch: q.get('ifGenerationNotMatch'),
    ifMetagenerationMatch: q.get('ifMetagenerationMatch'),
    ifMetagenerationNotMatch: q.get('ifMetagenerationNotMatch'),
  };
}

/**
 * Checks GCS preconditions against the live object. `ifGenerationMatch=0` means "only if absent".
 * Reads answer 304 for a failed NotMatch, as GCS does; everything else that fails is 412.
 */
export function checkPreconditions(obj: GcsObject | undefined, p: Preconditions, read = false): void {
  const fail = (what: string): never => {
    throw new GcsHttpError(412, `At least one of the pre-conditions you specified did not hold (${what}).`, 'conditionNotMet');
  };
  if (p.ifGenerationMatch != null) {
    const g = Number(p.ifGenerationMatch);
    if (g === 0 ? obj !== undefined : obj?.generation !== g) fail(`ifGenerationMatch=${g}`);
  }
  if (p.ifMetagenerationMatch != null && obj?.metageneration !== Number(p.ifMetagenerationMatch)) fail('ifMetagenerationMatch');
  const notMatch = (ok: boolean, what: string): void => {
    if (ok) return;
    if (read) throw new GcsHttpError(304, 'Not Modified', 'notModified');
    fail(what);
  };
  if (p.ifGenerationNotMatch != null) {
    const g = Number(p.ifGenerationNotMatch);
    notMatch(g === 0 ? obj === undefined : obj?.generation !== g, 'ifGenerationNotMatch');
  }
  if (p.ifMetagenerationNotMatch != null) notMatch(obj?.metageneration !== Number(p.ifMetagenerationNotMatch), 'ifMetagenerationNotMatch');
}

/** Checks an `X-Goog-Hash: crc32c=...,md5=...` header against received bytes (400 on a mismatch). */
export function checkUploadHashes(header: string | undefined, obj: Pick<GcsObject, 'crc32c' | 'md5Hash'>): void {
  if (!header) return;
  for (const pair of header.split(',')) {
    const at = pair.indexOf('=');
    const kind = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    if ((kind === 'crc32c' && value !== obj.crc32c) || (kind === 'md5' && value !== obj.md5Hash)) {
      throw new GcsHttpError(400, `Provided ${kind} hash "${value}" doesn't match calculated hash.`, 'invalid');
    }
  }
}

let lastGeneration = Date.now() * 1000;
/** Generations are unique and increasing, like GCS's microsecond timestamps. */
export function nextGeneration(): number {
  lastGeneration = Math.max(lastGeneration + 1, Date.now() * 1000);
  return lastGeneration;
}

/** Builds an object record for new bytes (checksums computed here). */
export function newObject(bucket: string, name: string, bytes: Buffer, contentType?: string, metadata?: Record<string, string>): GcsObject {
  const now = new Date();
  return {
    bucket,
    name,
    bytes,
    generation: nextGeneration(),
    metageneration: 1,
    contentType: contentType || 'application/octet-stream',
    metadata,
    md5Hash: createHash('md5').update(bytes).digest('base64'),
    crc32c: crc32cBase64(crc32c(bytes)),
    created: now,
    updated: now,
  };
}

/** The `storage#object` resource the JSON API returns. */
export function objectResource(o: GcsObject, base: string): Record<string, unknown> {
  const enc = encodeURIComponent(o.name);
  return {
    kind: 'storage#object',
    id: `${o.bucket}/${o.name}/${o.generation}`,
    selfLink: `${base}/storage/v1/b/${o.bucket}/o/${enc}`,
    mediaLink: `${base}/download/storage/v1/b/${o.bucket}/o/${enc}?generation=${o.generation}&alt=media`,
    name: o.name,
    bucket: o.bucket,
    generation: String(o.generation),
    metageneration: String(o.metageneration),
    contentType: o.contentType,
    storageClass: 'STANDARD',
    size: String(o.bytes.length),
    md5Hash: o.md5Hash,
    crc32c: o.crc32c,
    etag: Buffer.from(`${o.generation}/${o.metageneration}`).toString('base64'),
    timeCreated: o.created.toISOString(),
    updated: o.updated.toISOString(),
    ...(o.metadata ? { metadata: o.metadata } : {}),
  };
}

/** The `storage#bucket` resource. */
export function bucketResource(name: string, created: Date): Record<string, unknown> {
  return {
    kind: 'storage#bucket',
    id: name,
    name,
    projectNumber: '0',
    metageneration: '1',
    location: 'US',
    storageClass: 'STANDARD',
    etag: 'CAE=',
    timeCreated: created.toISOString(),
    updated: created.toISOString(),
  };
}

/** One page of a listing with prefix, delimiter and page token, names in lexicographic order. */
export function listPage(
  objects: Iterable<GcsObject>,
  q: URLSearchParams,
): { items: GcsObject[]; prefixes: string[]; nextPageToken?: string } {
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const max = Math.max(1, Math.min(Number(q.get('maxResults') ?? 1000) || 1000, 1000));
  const after = q.get('pageToken') ? Buffer.from(q.get('pageToken')!, 'base64url').toString('utf8') : null;
  const startOffset = q.get('startOffset') ?? '';
  const endOffset = q.get('endOffset');
  // Entries are objects or collapsed prefixes, each with the name it sorts by.
  const entries = new Map<string, GcsObject | null>();
  for (const o of objects) {
    if (!o.name.startsWith(prefix) || o.name < startOffset || (endOffset && o.name >= endOffset)) continue;
    const cut = delimiter ? o.name.indexOf(delimiter, prefix.length) : -1;
    if (cut >= 0) entries.set(o.name.slice(0, cut + delimiter.length), null);
    else entries.set(o.name, o);
  }
  const names = [...entries.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).filter((n) => after === null || n > after);
  const page = names.slice(0, max);
  return {
    items: page.filter((n) => entries.get(n)).map((n) => entries.get(n)!),
    prefixes: page.filter((n) => entries.get(n) === null),
    nextPageToken: names.length > max ? Buffer.from(page[page.length - 1]).toString('base64url') : undefined,
  };
}
