/** Store options from the environment: endpoints, and the account a keyless GCS signer signs as. */
import { describe, expect, it } from 'vitest';
import { signedUrlOptionsFromEnv, storeOptionsFromEnv } from './stores.ts';

describe('store options from the environment', () => {
  it('passes TESSERA_GCS_SIGN_AS through as the keyless signer, and leaves it unset otherwise', () => {
    const env = { TESSERA_GCS_ENDPOINT: 'http://gcs:4443', TESSERA_GCS_PROJECT: 'p', TESSERA_GCS_SIGN_AS: 'tessera-member@p.iam.gserviceaccount.com', TESSERA_SIGNED_URL_TTL: '600' };
    expect(signedUrlOptionsFromEnv(env)).toEqual({ gcs: { apiEndpoint: 'http://gcs:4443', projectId: 'p', signAs: 'tessera-member@p.iam.gserviceaccount.com' }, ttlSeconds: 600 });
    expect(signedUrlOptionsFromEnv({}).gcs?.signAs).toBeUndefined();
    expect(storeOptionsFromEnv({ TESSERA_GCS_ENDPOINT: 'http://gcs:4443' })).toEqual({ gcs: { apiEndpoint: 'http://gcs:4443', projectId: undefined } });
  });
});
