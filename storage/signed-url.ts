/**
 * @module Time-limited read URLs for one object of a store, so a member can hand its update to
 * the aggregator through its own bucket: a GCS V4 signed URL or an Azure Blob SAS (needs the
 * account key: a connection string, `accountKey` or AZURE_STORAGE_KEY). Local directories have no
 * URL. A GCS URL is signed with a service-account key when there is one (a key file or
 * `credentials` with client_email and private_key); without a key, with `signAs` naming a service
 * account, the signature comes from the IAM Credentials signBlob API called with the ambient
 * credentials (the GCE / Cloud Run / GKE metadata server, workload identity, gcloud's ADC), which
 * need roles/iam.serviceAccountTokenCreator on that account (docs/deploy.md).
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
    /** Keyless signing: the service account the URL is signed as, through IAM signBlob (used when no key is given). */
    signAs?: string;
    /** The IAM Credentials endpoint signBlob is called at (default https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/). */
    signingEndpoint?: string;
    /** What makes the signBlob call, instead of Application Default Credentials: a google-auth-library
     *  AuthClient (an Impersonated client, or a test's). */
    authClient?: unknown;
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
    const file = gcsSigner(storeUrl, opts.gcs ?? {}).bucket(bucket).file(prefix ? `${prefix}/${key}` : key);
    try {
      const [url] = await file.getSignedUrl({ version: 'v4', action: 'read', expires, ...(opts.gcs?.signingEndpoint ? { signingEndpoint: opts.gcs.signingEndpoint } : {}) });
      return url;
    } catch (e) {
      // A keyless signer whose signBlob call is refused: say which role is missing.
      throw new TesseraError('STORE_UNAVAILABLE', `${storeUrl}: signing the URL failed: ${(e as Error).message}${opts.gcs?.signAs ? ` (signing as ${opts.gcs.signAs} through IAM signBlob needs roles/iam.serviceAccountTokenCreator on it)` : ''}`, { field: 'store' });
    }
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

type GcsSignOptions = NonNullable<SignedUrlOptions['gcs']>;

/** A Storage client that signs with the service-account key, or (no key, `signAs` set) through IAM signBlob. */
function gcsSigner(storeUrl: string, o: GcsSignOptions): Storage {
  const keyFile = o.keyFilename ?? process.env.GOOGLE_APPLICATION_CREDENTIALS;
  const fromFile = keyFile ? (JSON.parse(readFileSync(keyFile, 'utf8')) as { client_email?: string; private_key?: string }) : undefined;
  const credentials = o.credentials ?? fromFile;
  if (credentials?.client_email && credentials.private_key) {
    return new Storage({ apiEndpoint: o.apiEndpoint, projectId: o.projectId, credentials: { client_email: credentials.client_email, private_key: credentials.private_key } });
  }
  if (!o.signAs) {
    throw new TesseraError('STORE_UNAVAILABLE', `${storeUrl}: a V4 signed URL needs a service-account key (GOOGLE_APPLICATION_CREDENTIALS pointing at a key file) or, without one, the service account to sign as through IAM (TESSERA_GCS_SIGN_AS)`, { field: 'store' });
  }
  if (!/^[^@\s]+@[^@\s]+$/.test(o.signAs)) throw new TesseraError('BAD_REQUEST', `signAs: expected a service-account email, got ${JSON.stringify(o.signAs)}`, { field: 'signAs' });
  // Keyless: the library names the URL's signer by getCredentials().client_email and, when its
  // auth client holds no private key, signs through IAM signBlob as that account.
  const storage = new Storage({ apiEndpoint: o.apiEndpoint, projectId: o.projectId, ...(o.authClient ? { authClient: o.authClient as never } : {}) });
  const signAs = o.signAs;
  storage.authClient.getCredentials = (async () => ({ client_email: signAs })) as typeof storage.authClient.getCredentials;
  return storage;
}
