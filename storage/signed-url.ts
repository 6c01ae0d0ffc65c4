/**
 * @module Time-limited read URLs for one object of a store, so a member can hand its update to
 * the aggregator through its own bucket: a GCS V4 signed URL (needs a service-account key: a key
 * file or `credentials` with client_email and private_key) or an Azure Blob SAS (needs the account
 * key: a connection string, `accountKey` or AZURE_STORAGE_KEY). Local directories have no URL.
 */
import { readFileSync } from 'node:fs';
import { BlobSASPermissions, SASProtocol, StorageSharedKeyCredential, generateBlobSASQueryParameters } from '@azure/storage-blob';
import { Storage } from '@google-cloud/storage';
import { TesseraError } from '../core/errors.ts';
import { validateKey } from '../core/artifact-store.ts';
import { parseAzureUrl } from './azure.ts';
import { parseGcsUrl } from './gcs.ts';

export interface SignedUrlOptions {
  /** How long the URL works, seconds (default 900; GCS allows at most 7 days). */
  ttlSeconds?: number;
  gcs?: {
    apiEndpoint?: string;
    projectId?: string;
    /** A service-account key file (JSON with client_email and private_key); else GOOGLE_APPLICATION_CREDENTIALS. */
    keyFilename?: string;
    credentials?: { client_email: string; private_key: string };
  };
  azure?: { connectionString?: string; accountKey?: string; blobEndpoint?: string };
  now?: () => number;
}

/** A URL that lets its holder GET `key` of the store at `storeUrl` until it expires. */
export async function signedReadUrl(storeUrl: string, key: string, opts: SignedUrlOptions = {}): Promise<string> {
  validateKey(key);
  const ttl = opts.ttlSeconds ?? 900;
  const expires = (opts.now ?? Date.now)() + ttl * 1000;
  if (storeUrl.startsWith('gs://')) {
    const { bucket, prefix } = parseGcsUrl(storeUrl);
    const keyFile = opts.gcs?.keyFilename ?? process.env.GOOGLE_APPLICATION_CREDENTIALS;
    const credentials = opts.gcs?.credentials ?? (keyFile ? (JSON.parse(readFileSync(keyFile, 'utf8')) as { client_email: string; private_key: string }) : undefined);
    if (!credentials?.client_email || !credentials.private_key) {
      throw new TesseraError('STORE_UNAVAILABLE', `${storeUrl}: a V4 signed URL needs a service-account key (client_email, private_key): set GOOGLE_APPLICATION_CREDENTIALS to a key file`, { field: 'store' });
    }
    const storage = new Storage({ apiEndpoint: opts.gcs?.apiEndpoint, projectId: opts.gcs?.projectId, credentials });
    const [url] = await storage.bucket(bucket).file(prefix ? `${prefix}/${key}` : key).getSignedUrl({ version: 'v4', action: 'read', expires });
    return url;
  }
  if (storeUrl.startsWith('az://')) {
    const { account, container, prefix } = parseAzureUrl(storeUrl);
    const connectionString = opts.azure?.connectionString ?? process.env.AZURE_STORAGE_CONNECTION_STRING;
    const accountKey = opts.azure?.accountKey ?? (connectionString ? /AccountKey=([^;]+)/i.exec(connectionString)?.[1] : undefined) ?? process.env.AZURE_STORAGE_KEY;
    if (!accountKey) throw new TesseraError('STORE_UNAVAILABLE', `${storeUrl}: a SAS needs the account key (a connection string with AccountKey, or AZURE_STORAGE_KEY)`, { field: 'store' });
    const endpoint = (opts.azure?.blobEndpoint ?? (connectionString ? /BlobEndpoint=([^;]+)/i.exec(connectionString)?.[1] : undefined) ?? `https://${account}.blob.core.windows.net`).replace(/\/+$/, '');
    const blobName = prefix ? `${prefix}/${key}` : key;
    const sas = generateBlobSASQueryParameters(
      {
        containerName: container,
        blobName,
        permissions: BlobSASPermissions.parse('r'),
        startsOn: new Date(expires - ttl * 1000 - 60_000), // a minute of clock skew
        expiresOn: new Date(expires),
        protocol: endpoint.startsWith('https:') ? SASProtocol.Https : SASProtocol.HttpsAndHttp,
      },
      new StorageSharedKeyCredential(account, accountKey),
    ).toString();
    return `${endpoint}/${container}/${blobName.split('/').map(encodeURIComponent).join('/')}?${sas}`;
  }
  throw new TesseraError('BAD_REQUEST', `${storeUrl}: only gs:// and az:// stores can sign URLs; a local directory member uploads over HTTP`, { field: 'store' });
}
