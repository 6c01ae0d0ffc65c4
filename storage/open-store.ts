/** @module Opens an artifact store from its URL: a path or `file:///path`, `gs://bucket/prefix`, `az://account/container/prefix`. */
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TesseraError } from '../core/errors.ts';
import type { ArtifactStore } from '../core/artifact-store.ts';
import { AzureStore } from './azure.ts';
import type { AzureStoreOptions } from './azure.ts';
import { GcsStore } from './gcs.ts';
import type { GcsStoreOptions } from './gcs.ts';
import { LocalStore } from './local.ts';
import type { LocalStoreOptions } from './local.ts';

/** Per-backend options; only the one matching the URL's scheme is used. */
export interface OpenStoreOptions {
  local?: LocalStoreOptions;
  gcs?: GcsStoreOptions;
  azure?: AzureStoreOptions;
  /** Create the bucket or container when missing (tests, first-time setup). */
  create?: boolean;
}

/** Opens the store a URL names. A bad URL raises BAD_REQUEST naming it. */
export function openStore(url: string, opts: OpenStoreOptions = {}): ArtifactStore {
  if (typeof url !== 'string' || url.trim() === '') {
    throw new TesseraError('BAD_REQUEST', 'store URL: expected a path, file:///path, gs://bucket/prefix or az://account/container/prefix', { field: 'store' });
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case undefined:
      if (/^[a-z][a-z0-9+.-]*:/i.test(url) && !/^[a-z]:[\\/]/i.test(url)) break; // "s3:foo", not a Windows drive
      return new LocalStore(isAbsolute(url) ? url : resolve(url), opts.local);
    case 'file': {
      let path: string;
      try {
        path = fileURLToPath(url);
      } catch (err) {
        throw new TesseraError('BAD_REQUEST', `store URL ${url}: ${(err as Error).message}`, { field: 'store' });
      }
      return new LocalStore(path, opts.local);
    }
    case 'gs':
      return GcsStore.open(url, { createBucket: opts.create, ...opts.gcs });
    case 'az':
      return AzureStore.open(url, { createContainer: opts.create, ...opts.azure });
  }
  throw new TesseraError('BAD_REQUEST', `store URL ${url}: unsupported scheme; use a path, file:///path, gs://bucket/prefix or az://account/container/prefix`, {
    field: 'store',
  });
}
