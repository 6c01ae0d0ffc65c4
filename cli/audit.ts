/**
 * @module `tessera audit public-key|verify|export`, `tessera auditor add|revoke` and
 * `tessera audit report` (the evidence pack) and `tessera client receipts verify`. Verification
 * needs only the ledger's public key.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TesseraError } from '../core/errors.ts';
import type { Database } from '../aggregator/db/database.ts';
import { openDatabase } from '../aggregator/db/database.ts';
import { LEDGER_KEY_FILE, parsePublicKey, publicKeyText, readLedgerKey } from '../aggregator/ledger/key.ts';
import type { Receipt } from '../aggregator/ledger/receipts.ts';
import { checkReceipt } from '../aggregator/ledger/receipts.ts';
import { buildEvidence, renderEvidenceHtml } from '../aggregator/ledger/report.ts';
import { exportLedger, parseExport, readSnapshot, verifyDatabase, verifyExport } from '../aggregator/ledger/store.ts';
import { verifyLedger } from '../aggregator/ledger/verify.ts';
import type { VerifyResult } from '../aggregator/ledger/verify.ts';
import type { Args } from './args.ts';
import { int, positional, str } from './args.ts';
import { operatorTransport } from './operator.ts';

const dataDirOf = (args: Args) => str(args, 'data-dir', { env: 'TESSERA_DATA_DIR', fallback: '.tessera' })!;

function readText(path: string, flag: string): string {
  if (!existsSync(path)) throw new TesseraError('BAD_REQUEST', `--${flag}: no file ${path}`, { field: flag });
  return readFileSync(path, 'utf8');
}

/** --public-key (text or file), else the public half of <data-dir>/ledger.key. */
function publicKeyFrom(args: Args): Uint8Array {
  const given = str(args, 'public-key', { env: 'TESSERA_LEDGER_PUBLIC_KEY' });
  if (given) return parsePublicKey(given);
  const file = join(dataDirOf(args), LEDGER_KEY_FILE);
  if (!existsSync(file)) throw new TesseraError('BAD_REQUEST', `--public-key: required (no ledger key at ${file}); ask the operator for the ledger public key`, { field: 'public-key' });
  return parsePublicKey(file);
}

/** The live database: --database-url / DATABASE_URL, else the PGlite folder <data-dir>/db (which must exist). */
async function openLive(args: Args): Promise<Database> {
  const url = str(args, 'database-url', { env: 'DATABASE_URL' });
  const dataDir = join(dataDirOf(args), 'db');
  if (!url && !existsSync(dataDir)) throw new TesseraError('BAD_REQUEST', `--data-dir: no database at ${dataDir} (pass --database-url, --data-dir or --file)`, { field: 'data-dir' });
  // PGlite is single-process: stop `tessera serve` on this folder first, or verify through --url.
  return openDatabase({ url, dataDir });
}

function report(r: VerifyResult, head: { seq: number; hash: string } | null, publicKey: Uint8Array): void {
  if (!r.ok) {
    const p = r.problem!;
    throw new TesseraError('INTEGRITY', `ledger verification FAILED at seq ${p.seq}: ${p.kind}: ${p.message} (entries 1..${r.verifiedThrough.seq} verified)`);
  }
  console.log(`ledger verified: ${r.entries} entries, chain intact and signed by ${publicKeyText(publicKey)}`);
  if (head) console.log(`head: seq ${head.seq}, hash ${head.hash}`);
  const federations = new Set(r.models.map((m) => m.federationId));
  for (const f of federations) console.log(`model lineage of federation ${f}: versions 0..${Math.max(...r.models.filter((m) => m.federationId === f).map((m) => m.version))}, every parent link intact`);
}

export async function auditPublicKey(args: Args): Promise<void> {
  const url = str(args, 'url', { env: 'TESSERA_URL' });
  if (url) {
    const res = await fetch(`${url}/v1/ledger/public-key`);
    if (!res.ok) throw new TesseraError('BAD_REQUEST', `--url: ${url} answered HTTP ${res.status}`, { field: 'url' });
    console.log(((await res.json()) as { publicKey: string }).publicKey);
    return;
  }
  console.log(publicKeyText(publicKeyFrom(args)));
}

export async function auditVerify(args: Args): Promise<void> {
  const file = str(args, 'file');
  const publicKey = publicKeyFrom(args);
  if (file) {
    const r = verifyExport(readText(file, 'file'), publicKey);
    return report(r, r.head, publicKey);
  }
  const database = await openLive(args);
  try {
    const r = await verifyDatabase(database.db, publicKey);
    report(r, r.head, publicKey);
  } finally {
    await database.close();
  }
}

export async function auditExport(args: Args): Promise<void> {
  const out = str(args, 'out', { required: true })!;
  let text: string;
  if (str(args, 'url', { env: 'TESSERA_URL' })) {
    text = await (await operatorTransport(args).send('GET', '/v1/ledger/export')).text();
  } else {
    const keyFile = join(dataDirOf(args), LEDGER_KEY_FILE);
    if (!existsSync(keyFile)) throw new TesseraError('BAD_REQUEST', `--data-dir: no ledger key at ${keyFile}; export through the API with --url instead`, { field: 'data-dir' });
    const key = readLedgerKey(keyFile);
    const database = await openLive(args);
    try {
      text = (await exportLedger(database.db, key, Date.now())).text;
    } finally {
      await database.close();
    }
  }
  writeFileSync(out, text);
  const { entries, head } = parseExport(text);
  console.log(`exported ${entries.length} entries to ${out}; signed head: seq ${head?.seq}, hash ${head?.hash}, key ${head?.publicKey}`);
}

export async function auditorAdd(args: Args): Promise<void> {
  const label = positional(args, 2, 'auditor label');
  const { auditor } = await operatorTransport(args).json<{ auditor: { id: string; token: string } }>('POST', '/v1/auditors', { body: { label } });
  // Shown once: the operator hands it to the auditor out of band.
  console.log(`auditor "${label}" (id ${auditor.id}) created; read-only credential (shown once):`);
  console.log(auditor.token);
}

export async function auditorRevoke(args: Args): Promise<void> {
  const id = positional(args, 2, 'auditor id');
  await operatorTransport(args).json('DELETE', `/v1/auditors/${encodeURIComponent(id)}`);
  console.log(`auditor ${id} revoked`);
}

function readReceipts(path: string): Receipt[] {
  const text = readText(path, 'receipts').trim();
  try {
    const v = JSON.parse(text) as Receipt | Receipt[] | { receipts: Receipt[] };
    return Array.isArray(v) ? v : 'receipts' in v ? v.receipts : [v];
  } catch {
    try {
      return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Receipt);
    } catch {
      throw new TesseraError('BAD_REQUEST', `--receipts: ${path} is neither JSON nor JSON Lines of receipts`, { field: 'receipts' });
    }
  }
}

/** Proves each receipt's inclusion: the export verifies, and holds the receipt's entry with its hash. */
export async function receiptsVerify(args: Args): Promise<void> {
  const receipts = readReceipts(str(args, 'receipts', { required: true })!);
  const text = readText(str(args, 'export', { required: true })!, 'export');
  const publicKey = parsePublicKey(str(args, 'public-key', { env: 'TESSERA_LEDGER_PUBLIC_KEY', required: true })!);
  const r = verifyExport(text, publicKey);
  if (!r.ok) throw new TesseraError('INTEGRITY', `the export does not verify (seq ${r.problem!.seq}: ${r.problem!.kind}: ${r.problem!.message}); it cannot prove inclusion`);
  const bySeq = new Map(parseExport(text).entries.filter((e) => e.seq <= r.verifiedThrough.seq).map((e) => [e.seq, e]));
  let bad = 0;
  for (const receipt of receipts) {
    const c = checkReceipt(receipt, bySeq, publicKey);
    if (!c.ok) bad++;
    console.log(`${c.ok ? 'ok  ' : 'FAIL'} round ${receipt.round} member ${receipt.memberId} contribution ${String(receipt.contributionHash).slice(0, 16)}…: ${c.message}`);
  }
  if (bad) throw new TesseraError('INTEGRITY', `${bad} of ${receipts.length} receipts are not proven by this export`);
  console.log(`${receipts.length} receipts proven against the export (head seq ${r.verifiedThrough.seq})`);
}

/** `tessera audit report --round N | --since DATE [--federation ID] --format html|json --out FILE`. */
export async function auditReport(args: Args): Promise<void> {
  const out = str(args, 'out', { required: true })!;
  const format = str(args, 'format', { fallback: 'html' })!;
  if (format !== 'html' && format !== 'json') throw new TesseraError('BAD_REQUEST', `--format: expected html or json, got "${format}"`, { field: 'format' });
  const round = int(args, 'round', undefined, 1);
  const sinceText = str(args, 'since');
  const since = sinceText === undefined ? undefined : Date.parse(sinceText);
  if (since !== undefined && Number.isNaN(since)) throw new TesseraError('BAD_REQUEST', `--since: expected a date such as 2026-01-31 or 2026-01-31T12:00:00Z, got "${sinceText}"`, { field: 'since' });
  if (round === undefined && since === undefined) throw new TesseraError('BAD_REQUEST', '--round or --since: required (which rounds the evidence pack covers)', { field: 'round' });
  const publicKey = publicKeyFrom(args);
  const file = str(args, 'file');
  let text: string | null = file ? readText(file, 'file') : null;
  if (!text && str(args, 'url', { env: 'TESSERA_URL' })) text = await (await operatorTransport(args).send('GET', '/v1/ledger/export')).text();
  let ledger;
  if (text) {
    const r = verifyExport(text, publicKey);
    ledger = { entries: parseExport(text).entries, result: r, head: r.head ? { seq: r.head.seq, hash: r.head.hash } : null };
  } else {
    const database = await openLive(args);
    try {
      const { entries, head } = await readSnapshot(database.db);
      ledger = { entries, result: verifyLedger(entries, publicKey, { head }), head };
    } finally {
      await database.close();
    }
  }
  const pack = buildEvidence(ledger.entries, ledger.result, { round, since, federationId: str(args, 'federation'), generatedAt: Date.now(), publicKey: publicKeyText(publicKey), head: ledger.head });
  writeFileSync(out, format === 'json' ? JSON.stringify(pack, null, 2) + '\n' : renderEvidenceHtml(pack));
  console.log(`evidence pack (${format}) written to ${out}: ${pack.rounds.length} rounds, ledger ${pack.verification.ok ? 'verified' : `FAILED verification at seq ${pack.verification.problem!.seq} (${pack.verification.problem!.kind})`}`);
}
