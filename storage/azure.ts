/** @module The Azure Blob artifact store (`az://account/container/prefix`); the pointer is guarded by ETag If-Match / If-None-Match. */
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { BlobRequestConditions, ContainerClient } from '@azure/storage-blob';
import { TesseraError } from '../core/errors.ts';
import { contentHash } from '../core/hash.ts';
import { contentKey, isInternalKey, validateKey, validatePrefix } from '../core/artifact-store.ts';
import type { ArtifactStore, ByteSource, ObjectInfo, PointerState, PutResult, StoredObject } from '../core/artifact-store.ts';
import { hashingSource, mappedBody, withContentHash, statusOf, storeError, toReadable } from './streams.ts';

/** A credential BlobServiceClient accepts (an Entra ID TokenCredential, a shared key, anonymous). */
export type AzureCredential = NonNullable<ConstructorParameters<typeof BlobServiceClient>[1]>;

/** How the Azure store authenticates; the first that is set wins, then the environment. */
export interface AzureStoreOptions {
  /** A storage connection string (Azurite's, or the portal's); else AZURE_STORAGE_CONNECTION_STRING. */
  connectionString?: string;
  /** The account key; else AZURE_STORAGE_KEY. */
  accountKey?: string;
  /** A SAS token (without the leading `?`) scoped to the container. */
  sasToken?: string;
  /** An Entra ID credential, e.g. `new DefaultAzureCredential()` from @azure/identity. */
  credential?: AzureCredential;
  /** The blob endpoint when not `https://<account>.blob.core.windows.net` (sovereign clouds). */
  blobEndpoint?: string;
  /** Create the container if it does not exist. */
  createContainer?: boolean;
  /** Block size and parallelism of streamed uploads (default 4 MiB x 4). */
  blockSize?: number;
  concurrency?: number;
}

/** Parses `az://account/container/prefix`. */
export function parseAzureUrl(url: string): { account: string; container: string; prefix: string } {
  const m = /^az:\/\/([a-z0-9]{3,24})\/([a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) throw new TesseraError('BAD_REQUEST', `store URL ${url}: expected az://account/container[/prefix] (account: 3-24 lowercase letters or digits; container: 3-63 of a-z, 0-9, -)`, { field: 'store' });
  const prefix = (m[3] ?? '').replace(/\/+$/, '');
  if (prefix) validateKey(prefix, 'store prefix');
  return { account: m[1], container: m[2], prefix };
}

function serviceClient(url: string, account: string, opts: AzureStoreOptions): BlobServiceClient {
  const connectionString = opts.connectionString ?? process.env.AZURE_STORAGE_CONNECTION_STRING;
  const endpoint = opts.blobEndpoint ?? `https://${account}.blob.core.windows.net`;
  if (connectionString) {
    const named = /AccountName=([^;]+)/i.exec(connectionString)?.[1] ?? (/UseDevelopmentStorage=true/i.test(connectionString) ? 'devstoreaccount1' : undefined);
    if (named && named !== account) {
      throw new TesseraError('BAD_REQUEST', `store URL ${url}: the connection string is for account ${named}, not ${account}`, { field: 'store' });
    }
    return BlobServiceClient.fromConnectionString(connectionString);
  }
  const accountKey = opts.accountKey ?? process.env.AZURE_STORAGE_KEY;
  if (accountKey) return new BlobServiceClient(endpoint, new StorageSharedKeyCredential(account, accountKey));
  if (opts.sasToken) return new BlobServiceClient(`${endpoint}?${opts.sasToken.replace(/^\?/, '')}`);
  if (opts.credential) return new BlobServiceClient(endpoint, opts.credential);
  throw new TesseraError(
    'STORE_UNAVAILABLE',
    `store URL ${url}: no Azure credentials; set AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_KEY, or pass a connection string, SAS token or credential`,
    { field: 'store' },
  );
}

/** An artifact store in an Azure Blob container under a prefix. */
export class AzureStore implements ArtifactStore {
  private ready: Promise<unknown> | null;

  constructor(
    readonly url: string,
    private readonly container: ContainerClient,
    private readonly prefix: string,
    private readonly opts: AzureStoreOptions = {},
  ) {
    this.ready = opts.createContainer ? container.createIfNotExists() : null;
  }

  /** Opens `az://account/container/prefix` with the given or ambient credentials. */
  static open(url: string, opts: AzureStoreOptions = {}): AzureStore {
    const { account, container, prefix } = parseAzureUrl(url);
    return new AzureStore(url, serviceClient(url, account, opts).getContainerClient(container), prefix, opts);
  }

  private async blob(key: string) {
    if (this.ready) await this.ready.catch((err) => Promise.reject(storeError(err, this.url, '(container)')));
    return this.container.getBlockBlobClient(this.prefix ? `${this.prefix}/${key}` : key);
  }

  /** Uploads a source; `conditions` make it create-only or compare-and-swap. */
  private async upload(key: string, source: ByteSource, conditions?: BlobRequestConditions, contentType = 'application/octet-stream'): Promise<PutResult> {
    const blob = await this.blob(key);
    const blobHTTPHeaders = { blobContentType: contentType };
    try {
      if (source instanceof Uint8Array) {
        const r = await blob.upload(source, source.length, { conditions, blobHTTPHeaders });
        return { key, hash: contentHash(source), size: source.length, version: r.etag! };
      }
      const hashing = hashingSource(source);
      const r = await blob.uploadStream(toReadable(hashing.chunks), this.opts.blockSize ?? 4 << 20, this.opts.concurrency ?? 4, { conditions, blobHTTPHeaders });
      return { key, ...hashing.result(), version: r.etag! };
    } catch (err) {
      throw storeError(err, this.url, key);
    }
  }

  async put(key: string, source: ByteSource, opts: { contentType?: string } = {}): Promise<PutResult> {
    validateKey(key);
    return this.upload(key, source, undefined, opts.contentType);
  }

  async putContent(source: ByteSource): Promise<PutResult> {
    return withContentHash(source, (hash, body, size) => this.createContent(hash, body, size));
  }


  /** Create-only upload under the content address; an existing blob there has the same bytes. */
  private async createContent(hash: string, source: ByteSource, size: number): Promise<PutResult> {
    const key = contentKey(hash);
    const present = await this.head(key);
    if (present && present.size === size) return { ...present, hash };
    try {
      return { ...(await this.upload(key, source, { ifNoneMatch: '*' })), hash };
    } catch (err) {
      const existing = err instanceof TesseraError && err.code === 'CONFLICT' ? await this.head(key) : null;
      if (!existing) throw err;
      return { ...existing, hash };
    }
  }

  async get(key: string): Promise<StoredObject> {
    validateKey(key);
    try {
      const r = await (await this.blob(key)).download(0);
      const body = r.readableStreamBody as AsyncIterable<Uint8Array> | undefined;
      if (!body) throw new Error('download returned no body');
      const release = () => (r.readableStreamBody as { destroy?: () => void }).destroy?.();
      return { key, size: r.contentLength ?? 0, version: r.etag!, body: mappedBody(body, this.url, key, release) };
    } catch (err) {
      throw storeError(err, this.url, key);
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    validateKey(key);
    try {
      const p = await (await this.blob(key)).getProperties();
      return { key, size: p.contentLength ?? 0, version: p.etag! };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw storeError(err, this.url, key);
    }
  }

  async list(prefix = ''): Promise<ObjectInfo[]> {
    validatePrefix(prefix);
    if (this.ready) await this.ready;
    const base = this.prefix ? `${this.prefix}/` : '';
    const out: ObjectInfo[] = [];
    try {
      for await (const item of this.container.listBlobsFlat({ prefix: base + prefix })) {
        const key = item.name.slice(base.length);
        if (!isInternalKey(key)) out.push({ key, size: item.properties.contentLength ?? 0, version: item.properties.etag! });
      }
    } catch (err) {
      throw storeError(err, this.url, prefix || '(list)');
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<boolean> {
    validateKey(key);
    try {
      return (await (await this.blob(key)).deleteIfExists()).succeeded;
    } catch (err) {
      throw storeError(err, this.url, key);
    }
  }

  private pointerKey(name: string): string {
    return `.pointers/${validateKey(name, 'pointer')}`;
  }

  async readPointer(name: string): Promise<PointerState | null> {
    const key = this.pointerKey(name);
    try {
      // One GET returns the value and its ETag together (the SDK resumes a broken body with If-Match).
      const r = await (await this.blob(key)).download(0);
      const value = Buffer.from(await streamToBuffer(r.readableStreamBody as AsyncIterable<Uint8Array>)).toString('utf8');
      return { value, version: r.etag! };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw storeError(err, this.url, key);
    }
  }

  async publishPointer(name: string, value: string, expectedVersion: string | null): Promise<PointerState> {
    const key = this.pointerKey(name);
    const conditions: BlobRequestConditions = expectedVersion === null ? { ifNoneMatch: '*' } : { ifMatch: expectedVersion };
    try {
      const written = await this.upload(key, new TextEncoder().encode(value), conditions, 'text/plain; charset=utf-8');
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

async function streamToBuffer(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of body) chunks.push(c);
  return Buffer.concat(chunks);
}
