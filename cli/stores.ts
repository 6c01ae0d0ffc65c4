/** @module Store endpoints and credentials from the environment, for `serve` (publishing) and `client run` (home store, signed URLs). */
import type { OpenStoreOptions } from '../storage/open-store.ts';
import type { SignedUrlOptions } from '../storage/signed-url.ts';

/**
 * TESSERA_GCS_ENDPOINT points GCS at an emulator or the test server (`http://gcs:4443`);
 * TESSERA_GCS_PROJECT names the project. Real GCS needs neither: Application Default Credentials
 * (GOOGLE_APPLICATION_CREDENTIALS, workload identity). Azure reads AZURE_STORAGE_CONNECTION_STRING
 * or AZURE_STORAGE_KEY itself (see docs/storage.md).
 */
export function storeOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): OpenStoreOptions {
  const apiEndpoint = env.TESSERA_GCS_ENDPOINT || undefined;
  const projectId = env.TESSERA_GCS_PROJECT || undefined;
  return apiEndpoint || projectId ? { gcs: { apiEndpoint, projectId } } : {};
}

/**
 * The same endpoints for signing URLs. The GCS key comes from GOOGLE_APPLICATION_CREDENTIALS;
 * without a key, TESSERA_GCS_SIGN_AS names the service account to sign as through IAM signBlob
 * (on GCE / Cloud Run / GKE, the attached one). Azure's key comes from the connection string.
 */
export function signedUrlOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): SignedUrlOptions {
  const gcs = { apiEndpoint: env.TESSERA_GCS_ENDPOINT || undefined, projectId: env.TESSERA_GCS_PROJECT || undefined, signAs: env.TESSERA_GCS_SIGN_AS || undefined };
  return { gcs, ttlSeconds: Number(env.TESSERA_SIGNED_URL_TTL ?? 900) };
}
