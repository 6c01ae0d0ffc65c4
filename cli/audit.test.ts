/** End to end through the `tessera` binary: audit public-key, verify, export; client receipts verify. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENESIS_HASH, sealEntry, signHead } from '../aggregator/ledger/entry.ts';
import type { LedgerEntry } from '../aggregator/ledger/entry.ts';
import { generateLedgerKey, publicKeyText } from '../aggregator/ledger/key.ts';
import { receiptFor } from '../aggregator/ledger/receipts.ts';
import { startAggregator } from '../aggregator/server.ts';
import { runTessera } from '../test/child-process.ts';

const tessera = (...argv: string[]) => runTessera(argv, { ...process.env, DATABASE_URL: '', TESSERA_URL: '' });

describe('tessera audit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-audit-'));
  let publicKey: string;
  beforeAll(async () => {
    const agg = await startAggregator({ dataDir: dir, log: () => {}, tickMs: 60_000 });
    publicKey = agg.ledgerPublicKey;
    await fetch(`${agg.url}/v1/auditors`, { method: 'POST', headers: { authorization: `Bearer ${agg.operatorToken}` }, body: JSON.stringify({ label: 'officer' }) });
    await agg.close();
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the public key, verifies the live database, exports, and verifies the export offline', async () => {
    expect(await tessera('audit', 'public-key', '--data-dir', dir)).toMatchObject({ code: 0, out: `${publicKey}\n` });
    const live = await tessera('audit', 'verify', '--data-dir', dir);
    expect(live.code).toBe(0);
    expect(live.out).toMatch(/ledger verified: 2 entries/);
    const file = join(dir, 'ledger.jsonl');
    expect(await tessera('audit', 'export', '--data-dir', dir, '--out', file)).toMatchObject({ code: 0, out: expect.stringMatching(/exported 2 entries/) });
    expect(await tessera('audit', 'verify', '--file', file, '--public-key', publicKey)).toMatchObject({ code: 0 });

    const lines = readFileSync(file, 'utf8').split('\n');
    lines[1] = lines[1].replace('officer', 'someone else');
    writeFileSync(file, lines.join('\n'));
    const tampered = await tessera('audit', 'verify', '--file', file, '--public-key', publicKey);
    expect(tampered.code).toBe(1);
    expect(tampered.err).toMatch(/^tessera: INTEGRITY: ledger verification FAILED at seq 2: edited: /);

    const noKey = await tessera('audit', 'verify', '--file', file, '--data-dir', join(dir, 'nowhere'));
    expect(noKey.code).toBe(2);
    expect(noKey.err.trim().split('\n')).toHaveLength(1);
    expect((await tessera('audit', 'verify', '--data-dir', join(dir, 'nowhere'), '--public-key', publicKey)).code).toBe(2);
  }, 240_000);

  it('writes the evidence pack as self-contained HTML; refuses an unknown format with one line', async () => {
    const out = join(dir, 'report.html');
    const r = await tessera('audit', 'report', '--since', '2020-01-01', '--data-dir', dir, '--out', out);
    expect(r).toMatchObject({ code: 0, out: expect.stringMatching(/evidence pack \(html\) written .* ledger verified/) });
    expect(readFileSync(out, 'utf8')).toMatch(/^<!doctype html>[\s\S]*How to re-verify/);
    const bad = await tessera('audit', 'report', '--round', '1', '--format', 'pdf', '--data-dir', dir, '--out', out);
    expect(bad.code).toBe(2);
    expect(bad.err).toBe('tessera: BAD_REQUEST: --format: expected html or json, got "pdf"\n');
  }, 120_000);

  it('proves receipts against an export, and refuses a receipt the export does not hold', async () => {
    const key = generateLedgerKey();
    const entries: LedgerEntry[] = [];
    let prev = GENESIS_HASH;
    for (const [i, member] of ['m1', 'm2'].entries()) {
      const e = sealEntry(prev, { seq: i + 1, time: 10 + i, kind: 'contribution.accepted', actor: `member:${member}`, federationId: 'f', payload: { round: 1, memberId: member, stage: 'fit', hash: String(i + 1).repeat(64), size: 10, weight: 5 } }, key);
      entries.push(e);
      prev = e.hash;
    }
    const exportFile = join(dir, 'receipts-export.jsonl');
    writeFileSync(exportFile, [...entries.map((e) => JSON.stringify(e)), JSON.stringify(signHead({ seq: 2, hash: prev, time: 20 }, key))].join('\n') + '\n');
    const receipts = entries.map((e) => receiptFor(e, key));
    const good = join(dir, 'receipts.json');
    writeFileSync(good, JSON.stringify(receipts));
    const ok = await tessera('client', 'receipts', 'verify', '--receipts', good, '--export', exportFile, '--public-key', publicKeyText(key));
    expect(ok).toMatchObject({ code: 0, out: expect.stringMatching(/2 receipts proven/) });
    const forged = join(dir, 'forged.json');
    writeFileSync(forged, JSON.stringify([{ ...receipts[0], contributionHash: '9'.repeat(64) }]));
    const bad = await tessera('client', 'receipts', 'verify', '--receipts', forged, '--export', exportFile, '--public-key', publicKeyText(key));
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/FAIL .*not signed/);
  }, 120_000);
});
