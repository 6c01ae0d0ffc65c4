/**
 * @module The ledger key: an Ed25519 key made at the aggregator's first start and kept out of the
 * database, in `<dataDir>/ledger.key` (mode 0600) next to operator.token. Whoever can write the
 * database still cannot sign entries.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TesseraError } from '../../core/errors.ts';
import { fromBase64, generateIdentity, toBase64 } from '../../crypto/identity.ts';
import type { LedgerKey } from './entry.ts';

export const LEDGER_KEY_FILE = 'ledger.key';

export const generateLedgerKey = (): LedgerKey => generateIdentity();

export const publicKeyText = (key: LedgerKey | Uint8Array): string => toBase64(key instanceof Uint8Array ? key : key.publicKey);

/** Loads `<dataDir>/ledger.key`, creating it (mode 0600) when absent. */
export function loadOrCreateLedgerKey(dataDir: string): { key: LedgerKey; file: string; created: boolean } {
  const file = join(dataDir, LEDGER_KEY_FILE);
  if (existsSync(file)) return { key: readLedgerKey(file), file, created: false };
  const key = generateLedgerKey();
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, JSON.stringify({ type: 'tessera.ledger-key/1', publicKey: toBase64(key.publicKey), secretKey: toBase64(key.secretKey) }) + '\n', { mode: 0o600, flag: 'wx' });
  return { key, file, created: true };
}

export function readLedgerKey(file: string): LedgerKey {
  let doc: { publicKey?: unknown; secretKey?: unknown };
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as typeof doc;
  } catch (e) {
    throw new TesseraError('BAD_REQUEST', `${file}: not a Tessera ledger key (${(e as Error).message})`, { field: 'ledger-key' });
  }
  const publicKey = typeof doc.publicKey === 'string' ? fromBase64(doc.publicKey) : null;
  const secretKey = typeof doc.secretKey === 'string' ? fromBase64(doc.secretKey) : null;
  if (!publicKey || publicKey.length !== 32 || !secretKey || secretKey.length !== 64) {
    throw new TesseraError('BAD_REQUEST', `${file}: expected {publicKey, secretKey} as URL-safe base64 Ed25519 keys`, { field: 'ledger-key' });
  }
  return { publicKey, secretKey };
}

/** Reads a public key given as base64 text, or as a file holding it (or holding a ledger key / export head). */
export function parsePublicKey(textOrFile: string): Uint8Array {
  let text = textOrFile.trim();
  if (existsSync(text)) {
    text = readFileSync(text, 'utf8').trim();
    try {
      const doc = JSON.parse(text) as { publicKey?: unknown };
      if (typeof doc.publicKey === 'string') text = doc.publicKey;
    } catch {
      // plain text: the key itself
    }
  }
  const key = fromBase64(text);
  if (!key || key.length !== 32) throw new TesseraError('BAD_REQUEST', '--public-key: expected the ledger public key (43 URL-safe base64 characters) or a file holding it', { field: 'public-key' });
  return key;
}
