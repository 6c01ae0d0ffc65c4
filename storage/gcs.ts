/** @module The Google Cloud Storage artifact store (`gs://bucket/prefix`); the pointer is guarded by generation preconditions. */
import { pipeline } from 'node:stream/promises';
import { Storage } from '@google-cloud/storage';
import type { Bucket, File, StorageOptions } from '@google-cloud/storage';
import { TesseraError } from '../core/errors.ts';
import { contentKey, isInternalKey, validateKey, validatePrefix } from '../core/artifact-store.ts';
import type { ArtifactStore, ByteSource, ObjectInfo, PointerState, PutResult, StoredObject } from '../core/artifact-store.ts';
import { hashingSource, mappedBody, withContentHash, storeError, statusOf, toReadable } from './streams.ts';

/** Options of the GCS store; without credentials the library uses Application Default Credentials. */
export interface GcsStoreOptions {
  /** A GCS-compatible endpoint (the test fixture, an emulator); with one, requests carry no credentials. */
  apiEndpoint?: string;
  projectId?: string;
  /** A service-account key file (else ADC: GOOGLE_APPLICATION_CREDENTIALS, workload identity, gcloud). */
  keyFilename?: string;
  /** Create the bucket if it does not exist (tests, first-time setup). */
  createBucket?: boolean;
  /** Uploads larger than this go resumable (default 8 MiB); smaller ones in one multipart request. */
  resumableThreshold?: number;
  /** Chunk size of resumable uploads (multiple of 256 KiB); unset sends one streamed request. */
  chunkSize?: number;
  /** Passed through to the client (retry options, user agent...). */
  storageOptions?: StorageOptions;
}

/** Parses `gs://bucket/prefix` into bucket and prefix (no trailing slash). */
export function parseGcsUrl(url: string): { bucket: string; prefix: string } {
  const m = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) throw new TesseraError('BAD_REQUEST', `store URL ${url}: expected gs://bucket[/prefix] with a valid bucket name`, { field: 'store' });
  const prefix = (m[2] ?? '').replace(/\/+$/, '');
  if (prefix) validateKey(prefix, 'store prefix');
  return { bucket: m[1], prefix };
}

/** An artifact store in a GCS bucket under a prefix. */
export class GcsStore implements ArtifactStore {
  private ready: Promise<void> | null;

  constructor(
    readonly url: string,
    private readonly bucket: Bucket,
    private readonly prefix: string,
    private readonly opts: GcsStoreOptions = {},
  ) {
    this.ready = opts.createBucket ? this.ensureBucket() : null;
  }

  /** Opens `gs://bucket/prefix`. */
  static open(url: string, opts: GcsStoreOptions = {}): GcsStore {
    const { bucket, prefix } = parseGcsUrl(url);
    const storage = new Storage({ ...opts.storageOptions, apiEndpoint: opts.apiEndpoint, projectId: opts.projectId, keyFilename: opts.keyFilename });
    return new GcsStore(url, storage.bucket(bucket), prefix, opts);
  }

  private async ensureBucket(): Promise<void> {
    const [exists] = await this.bucket.exists();
    if (!exists) await this.bucket.create().catch((err) => (statusOf(err) === 409 ? undefined : Promise.reject(err)));
  }

  private async file(key: string, generation?: number): Promise<File> {
    if (this.ready) await this.ready.catch((err) => Promise.reject(storeError(err, this.url, '(bucket)')));
    return this.bucket.file(this.prefix ? `${this.prefix}/${key}` : key, generation === undefined ? undefined : { generation });
  }

  private info(key: string, meta: { size?: string | number; generation?: string | number }): ObjectInfo {
    return { key, size: Number(meta.size ?? 0), version: String(meta.generation) };
  }

  /** Streams a source to `key`; `ifGenerationMatch` 0 makes it create-only. */
  private async upload(key: string, source: ByteSource, size: number | undefined, ifGenerationMatch?: number, contentType?: string): Promise<PutResult> {
    const file = await this.file(key);
    const hashing = hashingSource(source);
    const resumable = size === undefined || size > (this.opts.resumableThreshold ?? 8 << 20);
    const sink = file.createWriteStream({
      resumable,
      chunkSize: resumable ? this.opts.chunkSize : undefined,
      contentType: contentType ?? 'application/octet-stream',
      validation: 'crc32c',
      preconditionOpts: ifGenerationMatch === undefined ? undefined : { ifGenerationMatch },
      metadata: size === undefined ? undefined : { contentLength: size },
    });
    try {
      await pipeline(toReadable(hashing.chunks), sink);
    } catch (err) {
      throw storeError(err, this.url, key);
    }
    const { hash, size: written } = hashing.result();
    return { key, hash, size: written, version: String(file.metadata.generation) };
  }

  async put(key: string, source: ByteSource, opts: { contentType?: string } = {}): Promise<PutResult> {
    validateKey(key);
    return this.upload(key, source, source instanceof Uint8Array ? source.length : undefined, undefined, opts.contentType);
  }

  async putContent(source: ByteSource): Promise<PutResult> {
    return withContentHash(source, (hash, body, size) => this.createContent(hash, body, size));
  }


  /** Create-only upload under the content address; an existing object there has the same bytes. */
  private async createContent(hash: string, source: ByteSource, size: number): Promise<PutResult> {
    const key = contentKey(hash);
    const present = await this.head(key);
    if (present && present.size === size) return { ...present, hash };
    try {
      return await this.upload(key, source, size, 0);
    } catch (err) {
      if (!(err instanceof TesseraError && err.code === 'CONFLICT')) throw err;
      const existing = await this.head(key);
      if (!existing) throw err;
      return { ...existing, hash };
    }
  }

  async get(key: string): Promise<StoredObject> {
    validateKey(key);
    const info = await this.head(key);
    if (!info) throw new TesseraError('NOT_FOUND', `${this.url}: ${key} does not exist`, { details: { store: this.url, key } });
    // Pin the generation we described, so a concurrent overwrite cannot splice two versions.
    const file = await this.file(key, Number(info.version));
    const stream = file.createReadStream({ validation: 'crc32c' });
    return { ...info, body: mappedBody(stream, this.url, key) };
  }

  async head(key: string): Promise<ObjectInfo | null> {
    validateKey(key);
    const file = await this.file(key);
    try {
      const [meta] = await file.getMetadata();
      return this.info(key, meta);
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw storeError(err, this.url, key);
    }
  }

  async list(prefix = ''): Promise<ObjectInfo[]> {
    validatePrefix(prefix);
    if (this.ready) await this.ready;
    const base = this.prefix ? `${this.prefix}/` : '';
    try {
      const [files] = await this.bucket.getFiles({ prefix: base + prefix, autoPaginate: true });
      return files
        .map((f) => this.info(f.name.slice(base.length), f.metadata))
        .filter((o) => !isInternalKey(o.key))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    } catch (err) {
      throw storeError(err, this.url, prefix || '(list)');
    }
  }

  async delete(key: string): Promise<boolean> {
    validateKey(key);
    try {
      await (await this.file(key)).delete();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw storeError(err, this.url, key);
    }
  }

  private pointerKey(name: string): string {
    return `.pointers/${validateKey(name, 'pointer')}`;
  }

  async readPointer(name: string): Promise<PointerState | null> {
    const key = this.pointerKey(name);
    for (let attempt = 0; attempt < 5; attempt++) {
      let generation: number;
      try {
        const [meta] = await (await this.file(key)).getMetadata();
        generation = Number(meta.generation);
        const [bytes] = await (await this.file(key, generation)).download();
        return { value: bytes.toString('utf8'), version: String(generation) };
      } catch (err) {
        if (statusOf(err) !== 404) throw storeError(err, this.url, key);
        // Absent, or replaced between the metadata read and the download: look again.
        if (!(await this.head(key).catch(() => null))) return null;
      }
    }
    throw new TesseraError('STORE_UNAVAILABLE', `${this.url}: pointer ${name} kept changing while being read`);
  }

  async publishPointer(name: string, value: string, expectedVersion: string | null): Promise<PointerState> {
    const key = this.pointerKey(name);
    const expected = expectedVersion === null ? 0 : Number(expectedVersion);
    if (!Number.isSafeInteger(expected) || expected < 0 || (expectedVersion !== null && expected === 0)) {
      throw new TesseraError('BAD_REQUEST', `expectedVersion: ${JSON.stringify(expectedVersion)} is not a GCS generation`, { field: 'expectedVersion' });
    }
    const bytes = new TextEncoder().encode(value);
    try {
      const written = await this.upload(key, bytes, bytes.length, expected, 'text/plain; charset=utf-8');
      return { value, version: written.version };
    } catch (err) {
      if (err instanceof TesseraError && err.code === 'CONFLICT') {
        throw new TesseraError('CONFLICT', `${this.url}: pointer ${name} moved (expected ${expectedVersion ?? '(absent)'}); re-read it and retry`, {
          details: { store: this.url, pointer: name, expectedVersion },
        });
      }
      throw err;
    }
  }

  async close(): Promise<void> {}
}
