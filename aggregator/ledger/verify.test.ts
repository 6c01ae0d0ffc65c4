import { describe, expect, it } from 'vitest';
import { toBase64 } from '../../crypto/identity.ts';
import type { LedgerEntry } from './entry.ts';
import { GENESIS_HASH, entryHash, sealEntry, signHead } from './entry.ts';
import { generateLedgerKey } from './key.ts';
import { parseExport, verifyExport } from './store.ts';
import { verifyLedger } from './verify.ts';

const key = generateLedgerKey();
const other = generateLedgerKey();
const H = (c: string) => c.repeat(64);

function chain(payloads: { kind: string; federationId?: string | null; payload: Record<string, never> | Record<string, unknown> }[]): LedgerEntry[] {
  const out: LedgerEntry[] = [];
  let prev = GENESIS_HASH;
  payloads.forEach((p, i) => {
    const e = sealEntry(prev, { seq: i + 1, time: 1000 + i, kind: p.kind, actor: 'operator:x', federationId: p.federationId ?? null, payload: p.payload as never }, key);
    out.push(e);
    prev = e.hash;
  });
  return out;
}

const ten = () => chain(Array.from({ length: 10 }, (_, i) => ({ kind: 'invitation.created', federationId: 'f', payload: { memberName: `m${i}` } })));
const headOf = (es: LedgerEntry[]) => ({ seq: es[es.length - 1].seq, hash: es[es.length - 1].hash });

describe('verifyLedger', () => {
  it('accepts an intact chain and names its head', () => {
    const es = ten();
    const r = verifyLedger(es, key.publicKey, { head: headOf(es) });
    expect(r).toMatchObject({ ok: true, problem: null, entries: 10, verifiedThrough: headOf(es) });
    expect(verifyLedger([], key.publicKey)).toMatchObject({ ok: true, verifiedThrough: { seq: 0, hash: GENESIS_HASH } });
  });

  it('hashes exactly prev_hash || canonical {actor, federationId, kind, payload, seq, time}', () => {
    const [e] = ten();
    const moved = { ...e, payload: { memberName: 'm0' }, actor: 'operator:x' };
    expect(entryHash(GENESIS_HASH, moved)).toBe(e.hash);
    for (const change of [{ seq: 2 }, { time: 1 }, { kind: 'x' }, { actor: 'y' }, { federationId: null }, { payload: { memberName: 'm1' } }]) {
      expect(entryHash(GENESIS_HASH, { ...e, ...change })).not.toBe(e.hash);
    }
    expect(entryHash(H('1'), e)).not.toBe(e.hash);
  });

  it('reports an edited entry by seq', () => {
    const es = ten();
    es[3] = { ...es[3], payload: { memberName: 'mallory' } };
    expect(verifyLedger(es, key.publicKey).problem).toMatchObject({ kind: 'edited', seq: 4 });
    const t = ten();
    t[6] = { ...t[6], time: 1 };
    expect(verifyLedger(t, key.publicKey).problem).toMatchObject({ kind: 'edited', seq: 7 });
  });

  it('reports a deleted entry, in the middle or at the end against the head', () => {
    const es = ten();
    const head = headOf(es);
    expect(verifyLedger([...es.slice(0, 4), ...es.slice(5)], key.publicKey).problem).toMatchObject({ kind: 'deleted', seq: 5 });
    expect(verifyLedger([...es.slice(0, 4), ...es.slice(7)], key.publicKey).problem?.message).toMatch(/5\.\.7/);
    expect(verifyLedger(es.slice(0, 9), key.publicKey, { head }).problem).toMatchObject({ kind: 'deleted', seq: 10 });
  });

  it('reports reordered entries: moved lines, or swapped seq values', () => {
    const es = ten();
    const moved = [...es.slice(0, 2), es[3], es[2], ...es.slice(4)];
    expect(verifyLedger(moved, key.publicKey).problem).toMatchObject({ kind: 'reordered', seq: 3 });
    // Swap the seq of entries 2 and 5 (as an UPDATE would), then read back in seq order.
    const swapped = es.map((e) => (e.seq === 2 ? { ...e, seq: 5 } : e.seq === 5 ? { ...e, seq: 2 } : e)).sort((a, b) => a.seq - b.seq);
    const r = verifyLedger(swapped, key.publicKey);
    expect(r.problem).toMatchObject({ kind: 'reordered', seq: 2 });
    expect(r.problem!.message).toMatch(/signed as seq 5/);
  });

  it('reports an inserted entry: forged at the end, past the head, or in the middle', () => {
    const es = ten();
    const forged = sealEntry(es[9].hash, { seq: 11, time: 2000, kind: 'credential.created', actor: 'operator:x', federationId: null, payload: { role: 'operator' } }, other);
    expect(verifyLedger([...es, forged], key.publicKey).problem).toMatchObject({ kind: 'inserted', seq: 11 });
    const real = sealEntry(es[9].hash, { ...forged }, key);
    expect(verifyLedger([...es, real], key.publicKey, { head: headOf(es) }).problem).toMatchObject({ kind: 'inserted', seq: 11 });
    const mid = sealEntry(es[2].hash, { seq: 4, time: 2000, kind: 'x', actor: 'a', federationId: null, payload: {} }, other);
    const shifted = [...es.slice(0, 3), mid, ...es.slice(3).map((e) => ({ ...e, seq: e.seq + 1 }))];
    expect(verifyLedger(shifted, key.publicKey).problem).toMatchObject({ kind: 'inserted', seq: 4 });
    expect(verifyLedger([...es.slice(0, 5), es[4], ...es.slice(5)], key.publicKey).problem).toMatchObject({ kind: 'inserted', seq: 5 });
  });

  it('reports a bad signature on an intact entry (vouched for by the next entry or the head)', () => {
    const es = ten();
    es[4] = { ...es[4], signature: es[5].signature };
    expect(verifyLedger(es, key.publicKey).problem).toMatchObject({ kind: 'bad-signature', seq: 5 });
    const t = ten();
    const head = headOf(t);
    t[9] = { ...t[9], signature: toBase64(new Uint8Array(64)) };
    expect(verifyLedger(t, key.publicKey, { head }).problem).toMatchObject({ kind: 'bad-signature', seq: 10 });
    expect(verifyLedger(ten(), other.publicKey).problem).toMatchObject({ seq: 1 });
  });

  it('walks model lineage and reports a broken parent link', () => {
    const good = chain([
      { kind: 'federation.created', federationId: 'f', payload: { initialModel: { version: 0, hash: H('a') } } },
      { kind: 'model.committed', federationId: 'f', payload: { round: 1, version: 1, hash: H('b'), parentHash: H('a') } },
      { kind: 'model.committed', federationId: 'f', payload: { round: 2, version: 2, hash: H('c'), parentHash: H('b') } },
    ]);
    const r = verifyLedger(good, key.publicKey);
    expect(r.ok).toBe(true);
    expect(r.models.map((m) => [m.version, m.parentHash?.[0] ?? null, m.round])).toEqual([[0, null, null], [1, 'a', 1], [2, 'b', 2]]);
    const broken = chain([
      { kind: 'federation.created', federationId: 'f', payload: { initialModel: { version: 0, hash: H('a') } } },
      { kind: 'model.committed', federationId: 'f', payload: { round: 1, version: 1, hash: H('b'), parentHash: H('a') } },
      { kind: 'model.committed', federationId: 'f', payload: { round: 2, version: 2, hash: H('c'), parentHash: H('a') } },
    ]);
    expect(verifyLedger(broken, key.publicKey)).toMatchObject({ ok: false, problem: { kind: 'broken-lineage', seq: 3 } });
    const skipped = chain([
      { kind: 'federation.created', federationId: 'f', payload: { initialModel: { version: 0, hash: H('a') } } },
      { kind: 'model.committed', federationId: 'f', payload: { round: 1, version: 2, hash: H('b'), parentHash: H('a') } },
    ]);
    expect(verifyLedger(skipped, key.publicKey).problem).toMatchObject({ kind: 'broken-lineage', seq: 2 });
  });
});

describe('exports', () => {
  const text = (es: LedgerEntry[], k = key) => [...es.map((e) => JSON.stringify(e)), JSON.stringify(signHead({ ...headOf(es), time: 5 }, k))].join('\n') + '\n';

  it('verify offline with only the public key; the head must be signed by it', () => {
    const es = ten();
    expect(verifyExport(text(es), key.publicKey)).toMatchObject({ ok: true, head: { seq: 10 } });
    expect(verifyExport(text(es, other), key.publicKey)).toMatchObject({ ok: false, problem: { kind: 'bad-signature' } });
    const lines = text(es).split('\n');
    lines.splice(9, 1); // drop entry 10: the head still names it
    expect(verifyExport(lines.join('\n'), key.publicKey).problem).toMatchObject({ kind: 'deleted', seq: 10 });
    expect(() => parseExport('{"seq":1,"hash":"x"}\nnot json\n')).toThrow(/line 2/);
  });
});
