/** @module The adapter suite on Azure Blob, through @azure/storage-blob against Azurite started by the test. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureStore, parseAzureUrl } from './azure.ts';
import { registerStoreSuite } from './store-suite.ts';
import { AZURITE_ACCOUNT, startAzurite } from './testing/azurite.ts';
import type { AzuriteInstance } from './testing/azurite.ts';

let azurite: AzuriteInstance;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

const open = (container = 'tessera-test') =>
  AzureStore.open(`az://${AZURITE_ACCOUNT}/${container}/run-${randomUUID()}`, { connectionString: azurite.connectionString, createContainer: true });

registerStoreSuite('Azure Blob (Azurite)', () => open());
registerStoreSuite('Azure Blob (Azurite, 1 MiB blocks)', () =>
  AzureStore.open(`az://${AZURITE_ACCOUNT}/tessera-blocks/run-${randomUUID()}`, { connectionString: azurite.connectionString, createContainer: true, blockSize: 1 << 20 }),
);

describe('AzureStore specifics', () => {
  it('parses az:// URLs and names a bad one', () => {
    expect(parseAzureUrl('az://acct01/models/fed/heart')).toEqual({ account: 'acct01', container: 'models', prefix: 'fed/heart' });
    expect(() => parseAzureUrl('az://acct01')).toThrow(/az:\/\/acct01/);
    expect(() => parseAzureUrl('az://Acct/models')).toThrow(/az:\/\/Acct\/models/);
  });

  it('refuses a connection string for another account, and no credentials at all', () => {
    expect(() => AzureStore.open('az://otheraccount/c01', { connectionString: azurite.connectionString })).toThrow(/devstoreaccount1, not otheraccount/);
    const saved = { cs: process.env.AZURE_STORAGE_CONNECTION_STRING, key: process.env.AZURE_STORAGE_KEY };
    delete process.env.AZURE_STORAGE_CONNECTION_STRING;
    delete process.env.AZURE_STORAGE_KEY;
    try {
      expect(() => AzureStore.open('az://acct01/c01')).toThrow(expect.objectContaining({ code: 'STORE_UNAVAILABLE' }));
    } finally {
      if (saved.cs !== undefined) process.env.AZURE_STORAGE_CONNECTION_STRING = saved.cs;
      if (saved.key !== undefined) process.env.AZURE_STORAGE_KEY = saved.key;
    }
  });

  it('reports a missing container as NOT_FOUND naming the store', async () => {
    const store = AzureStore.open(`az://${AZURITE_ACCOUNT}/no-such-container/x`, { connectionString: azurite.connectionString });
    await expect(store.get('a')).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('az://devstoreaccount1/no-such-container/x') });
  });

  it('stops Azurite cleanly', async () => {
    const second = await startAzurite();
    const pid = second.process.pid!;
    await second.stop();
    expect(second.process.exitCode !== null || second.process.signalCode !== null).toBe(true);
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
