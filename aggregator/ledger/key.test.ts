import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toBase64 } from '../../crypto/identity.ts';
import { startAggregator } from '../server.ts';
import { generateLedgerKey, LEDGER_KEY_FILE, parsePublicKey, readLedgerKey } from './key.ts';

describe('the ledger key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-ledger-key-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const quiet = { dataDir: dir, log: () => {}, tickMs: 60_000 };

  it('is made at first start (mode 0600, outside the database), reused after, served by the API', async () => {
    const first = await startAggregator(quiet);
    const file = join(dir, LEDGER_KEY_FILE);
    try {
      expect(first.ledgerKeyFile).toBe(file);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(first.ledgerPublicKey).toBe(toBase64(readLedgerKey(file).publicKey));
      const served = (await (await fetch(`${first.url}/v1/ledger/public-key`)).json()) as { publicKey: string };
      expect(served.publicKey).toBe(first.ledgerPublicKey);
    } finally {
      await first.close();
    }
    const again = await startAggregator(quiet);
    try {
      expect(again.ledgerPublicKey).toBe(first.ledgerPublicKey);
      const { verification } = (await (await fetch(`${again.url}/v1/ledger/verify`, { headers: { authorization: `Bearer ${again.operatorToken}` } })).json()) as { verification: { ok: boolean; head: { seq: number } } };
      expect(verification).toMatchObject({ ok: true, head: { seq: 1 } });
    } finally {
      await again.close();
    }
    expect(parsePublicKey(first.ledgerPublicKey)).toEqual(readLedgerKey(file).publicKey);
    expect(parsePublicKey(file)).toEqual(readLedgerKey(file).publicKey);
  });

  it('refuses to start when ledger.key does not sign the database ledger', async () => {
    const k = generateLedgerKey();
    writeFileSync(join(dir, LEDGER_KEY_FILE), JSON.stringify({ publicKey: toBase64(k.publicKey), secretKey: toBase64(k.secretKey) }));
    await expect(startAggregator(quiet)).rejects.toMatchObject({ code: 'INTEGRITY', message: /does not sign/ });
  });
});
