/**
 * @module The ledger verifier: pure, needs only the entries and the ledger's public key.
 *
 * It walks the entries in the order given (by seq from the database, line order from an export)
 * and stops at the first one that is not what the aggregator signed, saying what happened:
 *   edited        the entry's fields no longer hash to its signed hash
 *   deleted       a seq is missing (in the middle, or after the last entry when a head is known)
 *   inserted      an entry the ledger key never signed, or one past the signed head
 *   reordered     a signed entry sits at the wrong place (its seq was changed, or lines were moved)
 *   bad-signature the entry is intact (the next entry vouches for its hash) but its signature is not
 *                 the ledger key's
 *   forked        a signed entry does not follow the one before it (two chains under one key)
 * Then it walks model lineage: each committed model must name the previous version's hash as its
 * parent (`broken-lineage`).
 */
import type { JsonValue } from '../../core/canonical-json.ts';
import type { LedgerEntry } from './entry.ts';
import { GENESIS_HASH, entryHash, hashSignatureValid } from './entry.ts';

export type ProblemKind = 'edited' | 'deleted' | 'inserted' | 'reordered' | 'bad-signature' | 'forked' | 'broken-lineage';

export interface LedgerProblem {
  kind: ProblemKind;
  /** The seq at which the problem is seen (for `deleted`: the first missing seq). */
  seq: number;
  message: string;
}

export interface ModelVersionRecord {
  federationId: string;
  version: number;
  hash: string;
  parentHash: string | null;
  round: number | null;
  seq: number;
}

export interface VerifyResult {
  ok: boolean;
  /** Entries examined. */
  entries: number;
  /** The last entry that verified (seq 0 and 64 zeros when none did). */
  verifiedThrough: { seq: number; hash: string };
  problem: LedgerProblem | null;
  /** Model versions named by the verified entries, per federation in version order. */
  models: ModelVersionRecord[];
}

export interface VerifyOptions {
  /** A trusted head (signed export head, or the database's head row): entries must end exactly there. */
  head?: { seq: number; hash: string };
}

export function verifyLedger(entries: readonly LedgerEntry[], publicKey: Uint8Array, opts: VerifyOptions = {}): VerifyResult {
  const contentOk = entries.map((e) => entryHash(e.prevHash, e) === e.hash);
  const sigOk = entries.map((e) => hashSignatureValid(e.hash, e.signature, publicKey));
  const authentic = entries.map((_, i) => contentOk[i] && sigOk[i]);
  const byHash = new Map<string, number>();
  entries.forEach((e, i) => byHash.has(e.hash) || byHash.set(e.hash, i));

  // The seq an entry was signed with, found by following prev_hash back to a signed entry.
  const signedSeqMemo = new Map<number, number | null>();
  const signedSeqOf = (i: number, depth = 0): number | null => {
    if (signedSeqMemo.has(i)) return signedSeqMemo.get(i)!;
    if (depth > 10_000) return null;
    const e = entries[i];
    let s: number | null = null;
    if (authentic[i]) s = e.seq;
    else {
      const before = e.prevHash === GENESIS_HASH ? 0 : byHash.has(e.prevHash) ? signedSeqOf(byHash.get(e.prevHash)!, depth + 1) : null;
      if (before !== null && sigOk[i] && entryHash(e.prevHash, { ...e, seq: before + 1 }) === e.hash) s = before + 1;
    }
    signedSeqMemo.set(i, s);
    return s;
  };

  let expected = 1;
  let prev = GENESIS_HASH;
  const fail = (kind: ProblemKind, seq: number, message: string): VerifyResult => ({ ok: false, entries: entries.length, verifiedThrough: { seq: expected - 1, hash: prev }, problem: { kind, seq, message }, models: lineage(entries.slice(0, expected - 1)).models });

  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (opts.head && e.seq > opts.head.seq) return fail('inserted', e.seq, `entry ${e.seq} lies past the signed head (seq ${opts.head.seq})`);
    if (authentic[i]) {
      if (e.seq === expected) {
        if (e.prevHash !== prev) return fail('forked', e.seq, `entry ${e.seq} is signed but does not follow entry ${expected - 1} (prev_hash ${e.prevHash.slice(0, 16)}…)`);
        prev = e.hash;
        expected++;
        continue;
      }
      if (e.seq > expected) {
        const later = entries.findIndex((x, j) => j > i && authentic[j] && x.seq === expected);
        if (later >= 0) return fail('reordered', expected, `entry ${expected} appears after entry ${e.seq}`);
        const last = e.seq - 1;
        return fail('deleted', expected, last === expected ? `entry ${expected} is missing` : `entries ${expected}..${last} are missing`);
      }
      const seen = entries.findIndex((x, j) => j < i && x.hash === e.hash);
      return fail(seen >= 0 ? 'inserted' : 'reordered', e.seq, seen >= 0 ? `entry ${e.seq} appears twice` : `entry ${e.seq} appears after entry ${expected - 1}`);
    }
    const signedSeq = signedSeqOf(i);
    if (signedSeq !== null && signedSeq !== e.seq) return fail('reordered', e.seq, `the entry stored as seq ${e.seq} was signed as seq ${signedSeq} (its seq was changed)`);
    const next = entries[i + 1];
    const vouched = (next !== undefined && authentic[i + 1] && next.prevHash === e.hash) || (opts.head?.seq === e.seq && opts.head.hash === e.hash);
    if (contentOk[i]) {
      return vouched
        ? fail('bad-signature', e.seq, `entry ${e.seq} is intact but its signature is not the ledger key's`)
        : fail('inserted', e.seq, `entry ${e.seq} was not signed by the ledger key and nothing after it links to it`);
    }
    const inPlace = e.seq === expected && e.prevHash === prev;
    if (sigOk[i] || vouched || inPlace) return fail('edited', e.seq, `entry ${e.seq} (${e.kind}) no longer matches its signed hash: its time, kind, actor, federation or payload was changed`);
    return fail('inserted', e.seq, `entry ${e.seq} was not signed by the ledger key`);
  }
  if (opts.head && opts.head.seq >= expected) {
    return fail('deleted', expected, `the head names seq ${opts.head.seq} but the entries end at ${expected - 1}`);
  }
  if (opts.head && opts.head.seq === expected - 1 && opts.head.hash !== prev) {
    return fail('forked', opts.head.seq, `the head's hash for seq ${opts.head.seq} differs from the chain's`);
  }
  const { models, problem } = lineage(entries);
  return { ok: problem === null, entries: entries.length, verifiedThrough: { seq: expected - 1, hash: prev }, problem, models };
}

const obj = (v: JsonValue): Record<string, JsonValue> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {});

/** Walks model versions: version 0 from federation.created, then each model.committed must extend the last. */
export function lineage(entries: readonly LedgerEntry[]): { models: ModelVersionRecord[]; problem: LedgerProblem | null } {
  const models: ModelVersionRecord[] = [];
  const latest = new Map<string, ModelVersionRecord>();
  for (const e of entries) {
    const p = obj(e.payload);
    if (e.kind === 'federation.created' && e.federationId) {
      const init = obj(p.initialModel ?? null);
      const m: ModelVersionRecord = { federationId: e.federationId, version: Number(init.version ?? 0), hash: String(init.hash), parentHash: null, round: null, seq: e.seq };
      latest.set(e.federationId, m);
      models.push(m);
    } else if (e.kind === 'model.committed' && e.federationId) {
      const m: ModelVersionRecord = { federationId: e.federationId, version: Number(p.version), hash: String(p.hash), parentHash: p.parentHash === null ? null : String(p.parentHash), round: typeof p.round === 'number' ? p.round : null, seq: e.seq };
      const parent = latest.get(e.federationId);
      if (!parent) return { models, problem: { kind: 'broken-lineage', seq: e.seq, message: `model version ${m.version} of federation ${e.federationId} has no recorded parent (no federation.created entry)` } };
      if (m.version !== parent.version + 1 || m.parentHash !== parent.hash) {
        return { models, problem: { kind: 'broken-lineage', seq: e.seq, message: `model version ${m.version} of federation ${e.federationId} names parent ${String(m.parentHash).slice(0, 16)}…, but version ${parent.version} is ${parent.hash.slice(0, 16)}…` } };
      }
      latest.set(e.federationId, m);
      models.push(m);
    }
  }
  return { models, problem: null };
}
