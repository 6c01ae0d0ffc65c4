/**
 * @module GCS V4 signed URLs against the project's GCS test server, which verifies each URL's
 * signature with the named service account's public key: signed with a key, and keyless (no
 * private key here; `signAs` names the account and the signature comes from the IAM Credentials
 * signBlob call, which the test server answers as IAM would). What cannot run here: real IAM,
 * and Application Default Credentials from a metadata server (the test hands in its own client).
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GcsStore } from './gcs.ts';
import { signedReadUrl } from './signed-url.ts';
import { startGcsServer } from './testing/gcs-server.ts';
import type { GcsTestServer } from './testing/gcs-server.ts';

const SA = 'member-signer@tessera-test.iam.gserviceaccount.com';
const OTHER = 'not-granted@tessera-test.iam.gserviceaccount.com';
const pem = () => generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
const sa = pem();
const other = pem();
const STORE = 'gs://member-bucket/updates';

let server: GcsTestServer;
let key: string;
const bytes = new TextEncoder().encode('a masked-input frame, say');

/** Makes the signBlob call the way an ADC client would (bearer token, JSON body); stands in for the metadata server's token. */
const tokenClient = () => {
  const calls: string[] = [];
  return {
    calls,
    client: {
      universeDomain: 'googleapis.com',
      async request(opts: { url: string; method: string; data: unknown }) {
        calls.push(opts.url);
        const res = await fetch(opts.url, { method: opts.method, headers: { authorization: 'Bearer test-access-token', 'content-type': 'application/json' }, body: JSON.stringify(opts.data) });
        if (!res.ok) throw Object.assign(new Error(`signBlob: HTTP ${res.status}: ${await res.text()}`), { status: res.status });
        return { data: await res.json(), status: res.status };
      },
    },
  };
};

beforeAll(async () => {
  server = await startGcsServer({ v4Signers: { [SA]: sa.publicKey, [OTHER]: other.publicKey }, iamSigners: { [SA]: sa.privateKey } });
  const store = await GcsStore.open(STORE, { apiEndpoint: server.url, projectId: 'tessera-test', createBucket: true });
  key = (await store.putContent(bytes)).key;
  await store.close();
});
afterAll(async () => {
  await server.close();
});

const get = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) };
};

describe('GCS V4 signed URLs', () => {
  const env = process.env.GOOGLE_APPLICATION_CREDENTIALS;
  beforeAll(() => {
    delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  });
  afterAll(() => {
    if (env !== undefined) process.env.GOOGLE_APPLICATION_CREDENTIALS = env;
  });

  it('signs with a service-account key: the server verifies it and serves the object; IAM is not called', async () => {
    const url = await signedReadUrl(STORE, key, { gcs: { apiEndpoint: server.url, credentials: { client_email: SA, private_key: sa.privateKey }, signAs: OTHER } });
    expect(new URL(url).searchParams.get('X-Goog-Credential')).toMatch(new RegExp(`^${SA}/`));
    expect(await get(url)).toEqual({ status: 200, body: bytes });
    expect(server.iamCalls).toEqual([]);
  });

  it('signs without a key through IAM signBlob as the named service account', async () => {
    const { client, calls } = tokenClient();
    const signingEndpoint = `${server.url}/v1/projects/-/serviceAccounts/`;
    const url = await signedReadUrl(STORE, key, { gcs: { apiEndpoint: server.url, signAs: SA, signingEndpoint, authClient: client } });
    expect(calls).toEqual([`${signingEndpoint}${SA}:signBlob`]);
    expect(server.iamCalls).toEqual([SA]);
    expect(new URL(url).searchParams.get('X-Goog-Credential')).toMatch(new RegExp(`^${SA}/\\d{8}/auto/storage/goog4_request$`));
    expect(await get(url)).toEqual({ status: 200, body: bytes });
    // The same URL with its signature altered is refused by the store.
    const forged = url.replace(/X-Goog-Signature=([0-9a-f])/, (_, c: string) => `X-Goog-Signature=${c === '0' ? '1' : '0'}`);
    expect((await get(forged)).status).toBe(403);
  });

  it('names the missing role when IAM refuses to sign, and what to set when there is neither key nor account', async () => {
    const { client } = tokenClient();
    const signingEndpoint = `${server.url}/v1/projects/-/serviceAccounts/`;
    await expect(signedReadUrl(STORE, key, { gcs: { apiEndpoint: server.url, signAs: OTHER, signingEndpoint, authClient: client } })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: expect.stringContaining(`signing as ${OTHER} through IAM signBlob needs roles/iam.serviceAccountTokenCreator`),
    });
    await expect(signedReadUrl(STORE, key, { gcs: { apiEndpoint: server.url } })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('TESSERA_GCS_SIGN_AS') });
    await expect(signedReadUrl(STORE, key, { gcs: { apiEndpoint: server.url, signAs: 'not an email' } })).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'signAs' });
  });
});
