/**
 * @module Ledger entries: exactly what is hashed and signed. Pure; the verifier, the export, the
 * receipts and the CLI all rebuild these bytes the same way.
 *
 *   content   = canonical JSON of {actor, federationId, kind, payload, seq, time}
 *               (keys sorted, no whitespace; federationId is null for platform events)
 *   hash      = BLAKE2b-256( prev_hash as 32 raw bytes || UTF-8 bytes of content ), as hex
 *   signature = Ed25519( the 32 raw hash bytes ) by the ledger key, URL-safe base64 without padding
 *
 * The first entry (seq 1) has prev_hash = 64 zeros. Every field of an entry is therefore covered:
 * its own fields by its hash, its place in the chain by prev_hash and seq.
 */
import { canonicalJson, type JsonValue } from '../../core/canonical-json.ts';
import { contentHashBytes } from '../../core/hash.ts';
import { sodium } from '../../core/sodium.ts';
import { fromBase64, sign, toBase64, verify } from '../../crypto/identity.ts';

export const GENESIS_HASH = '0'.repeat(64);

/** What an entry records; seq and prev_hash place it in the chain. */
export interface EntryContent {
  seq: number;
  time: number;
  kind: string;
  actor: string;
  federationId: string | null;
  payload: JsonValue;
}

export interface LedgerEntry extends EntryContent {
  prevHash: string;
  hash: string;
  signature: string;
}

/** The aggregator's Ed25519 ledger key. */
export interface LedgerKey {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

const hexBytes = (hex: string): Uint8Array | null => (/^[0-9a-f]{64}$/.test(hex) ? sodium.from_hex(hex) : null);

/** The canonical content text of an entry (what is hashed after prev_hash). */
export function entryContent(e: EntryContent): string {
  return canonicalJson({ actor: e.actor, federationId: e.federationId, kind: e.kind, payload: e.payload, seq: e.seq, time: e.time });
}

/** hash = BLAKE2b-256(prev_hash bytes || canonical content); null when prev_hash is not 64 hex digits. */
export function entryHash(prevHash: string, e: EntryContent): string | null {
  const prev = hexBytes(prevHash);
  if (!prev) return null;
  const content = new TextEncoder().encode(entryContent(e));
  const bytes = new Uint8Array(prev.length + content.length);
  bytes.set(prev);
  bytes.set(content, prev.length);
  return sodium.to_hex(contentHashBytes(bytes));
}

/** Hashes and signs an entry that follows `prevHash`. */
export function sealEntry(prevHash: string, e: EntryContent, key: LedgerKey): LedgerEntry {
  const hash = entryHash(prevHash, e);
  if (!hash) throw new TypeError(`prev_hash ${prevHash} is not a BLAKE2b-256 hex digest`);
  return { ...e, prevHash, hash, signature: toBase64(sign(sodium.from_hex(hash), key.secretKey)) };
}

/** True when `signature` is the ledger key's signature of `hash`. */
export function hashSignatureValid(hash: string, signature: string, publicKey: Uint8Array): boolean {
  const h = hexBytes(hash);
  const s = fromBase64(signature);
  return !!h && !!s && verify(h, s, publicKey);
}

/** Signs a domain-tagged canonical JSON document (heads, receipts) with the ledger key. */
export function signDocument(tag: string, doc: Record<string, JsonValue>, key: LedgerKey): string {
  return toBase64(sign(new TextEncoder().encode(`${tag}\n${canonicalJson(doc)}`), key.secretKey));
}

export function documentSignatureValid(tag: string, doc: Record<string, JsonValue>, signature: string, publicKey: Uint8Array): boolean {
  const s = fromBase64(signature);
  try {
    return !!s && verify(new TextEncoder().encode(`${tag}\n${canonicalJson(doc)}`), s, publicKey);
  } catch {
    return false;
  }
}

/** The chain head at a moment, signed: an export ends with one. */
export interface SignedHead {
  type: 'tessera.ledger-head/1';
  seq: number;
  hash: string;
  time: number;
  publicKey: string;
  signature: string;
}

export const HEAD_TAG = 'TESSERA-LEDGER-HEAD-V1';

export function signHead(head: { seq: number; hash: string; time: number }, key: LedgerKey): SignedHead {
  const doc = { type: 'tessera.ledger-head/1' as const, seq: head.seq, hash: head.hash, time: head.time, publicKey: toBase64(key.publicKey) };
  return { ...doc, signature: signDocument(HEAD_TAG, doc, key) };
}

export function headSignatureValid(head: SignedHead, publicKey: Uint8Array): boolean {
  const { signature, ...doc } = head;
  return documentSignatureValid(HEAD_TAG, { ...doc }, signature, publicKey);
}
