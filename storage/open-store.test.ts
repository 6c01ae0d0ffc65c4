/** @module openStore picks the adapter from the URL and names a bad URL in its error. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AzureStore } from './azure.ts';
import { GcsStore } from './gcs.ts';
import { LocalStore } from './local.ts';
import { openStore } from './open-store.ts';

describe('openStore', () => {
  it('opens a plain path, a relative path and a file URL as a local directory', () => {
    const dir = join(tmpdir(), 'tessera-open-store');
    expect(openStore(dir)).toBeInstanceOf(LocalStore);
    expect((openStore(dir) as LocalStore).root).toBe(dir);
    expect((openStore('file:///var/tessera/artifacts') as LocalStore).root).toBe('/var/tessera/artifacts');
    expect((openStore('./artifacts') as LocalStore).root).toBe(join(process.cwd(), 'artifacts'));
  });

  it('opens gs:// and az:// stores', () => {
    expect(openStore('gs://tessera-models/fed/heart', { gcs: { apiEndpoint: 'http://127.0.0.1:9' } })).toBeInstanceOf(GcsStore);
    const connectionString = 'DefaultEndpointsProtocol=http;AccountName=acct01;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/acct01;';
    const az = openStore('az://acct01/models/fed', { azure: { connectionString } });
    expect(az).toBeInstanceOf(AzureStore);
    expect(az.url).toBe('az://acct01/models/fed');
  });

  it('refuses a bad URL, naming it', () => {
    for (const bad of ['s3://bucket/x', 'gs://', 'gs://B/x', 'az://acct01', 'http://example.com/x', 'file://host/share']) {
      expect(() => openStore(bad), bad).toThrow(expect.objectContaining({ code: 'BAD_REQUEST', message: expect.stringContaining(bad) }));
    }
    expect(() => openStore('')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });
});
