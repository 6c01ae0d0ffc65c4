/**
 * @module The ledger suite, run on each database (ledger.pglite.test.ts, ledger.postgres.test.ts):
 * concurrent appends form one chain; tampering done directly in SQL is caught with the right kind
 * and seq; exports verify offline; receipts prove inclusion; auditors read and are recorded.
 */
import { asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWeights } from '../../core/codec.ts';
import { contentHash } from '../../core/hash.ts';
import type { ModelSpec } from '../../core/model.ts';
import { modelLayout } from '../../core/model.ts';
import { EXAMPLES_HEADER } from '../../core/request-signing.ts';
import { toBase64 } from '../../crypto/identity.ts';
import { auditEvents, ledgerHead } from '../../schema/index.ts';
import { createApp } from '../app.ts';
import { appendAudit } from '../audit.ts';
import { issueCredential } from '../credentials.ts';
import type { Database } from '../db/database.ts';
import type { Caller } from '../test-caller.ts';
import { caller, enrollMember as enrollWith } from '../test-caller.ts';
import type { LedgerEntry } from './entry.ts';
import { entryHash } from './entry.ts';
import { generateLedgerKey } from './key.ts';
import type { Receipt } from './receipts.ts';
import { checkReceipt } from './receipts.ts';
import { parseExport, readEntries, verifyDatabase, verifyExport } from './store.ts';

const MODEL: ModelSpec = { kind: 'mlp', inputs: 3, hidden: [2], outputs: 1, activation: 'relu' };

type Member = { memberId: string; t: Caller };

export function defineLedgerSuite(kind: string, open: () => Promise<Database>): void {
  describe(`audit ledger on ${kind}`, () => {
    let database: Database;
    const clock = Date.parse('2026-02-01T00:00:00Z');
    const now = () => clock;
    const key = generateLedgerKey();
    let app: ReturnType<typeof createApp>['app'];
    let operator: Caller;
    let fid: string;
    const bearer = (token: string) => caller(app, { bearer: token });
    const verify = () => verifyDatabase(database.db, key.publicKey);

    beforeAll(async () => {
      database = await open();
      ({ app } = createApp({ db: database.db, now, ledgerKey: key }));
      operator = bearer((await issueCredential(database.db, 'operator', 'test operator', 'test', clock)).token);
    });
    afterAll(async () => {
      await database?.close();
    });

    async function enrollMember(name: string): Promise<Member> {
      const { invitation } = await operator.json<{ invitation: { token: string } }>('POST', `/v1/federations/${fid}/invitations`, { body: { memberName: name } });
      const m = await enrollWith(app, fid, invitation.token, now);
      return { memberId: m.memberId, t: m.caller };
    }
    const update = (seed: number) => encodeWeights(modelLayout(MODEL).map(({ name, shape }) => ({ name, shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.cos(seed + i) / 10) })));
    const upload = (m: Member, body: Uint8Array) =>
      m.t.json<{ accepted: { hash: string }; receipt: Receipt }>('PUT', `/v1/federations/${fid}/members/${m.memberId}/rounds/1/update`, { body, headers: { [EXAMPLES_HEADER]: '10' } });

    it('serves its public key to anyone; every state change is a signed, chained entry', async () => {
      const res = await app.request('http://aggregator/v1/ledger/public-key');
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ publicKey: toBase64(key.publicKey), algorithm: 'Ed25519' });
      ({ federation: { id: fid } } = await operator.json<{ federation: { id: string } }>('POST', '/v1/federations', {
        body: { name: 'ledger federation', model: MODEL, strategy: 'fedavg', rounds: 2, minMembers: 2, deadlines: { fit: 60, evaluate: 60 }, secure: false },
      }));
      const entries = await readEntries(database.db);
      expect(entries.map((e) => [e.seq, e.kind])).toEqual([[1, 'credential.created'], [2, 'federation.created']]);
      expect(entries[1]).toMatchObject({ prevHash: entries[0].hash, actor: expect.stringMatching(/^operator:/), federationId: fid });
      expect(await verify()).toMatchObject({ ok: true, head: { seq: 2, hash: entries[1].hash } });
    });

    it('runs a round: each accepted update gets a signed receipt that proves inclusion in an export', async () => {
      const a = await enrollMember('hospital-a');
      const b = await enrollMember('hospital-b');
      await operator.json('POST', `/v1/federations/${fid}/rounds`);
      const ua = update(1);
      const first = await upload(a, ua);
      expect(first.receipt).toMatchObject({ type: 'tessera.receipt/1', federationId: fid, round: 1, memberId: a.memberId, contributionHash: contentHash(ua), publicKey: toBase64(key.publicKey) });
      expect(await upload(a, ua)).toEqual(first); // a duplicate gets the same receipt
      const second = await upload(b, update(2));
      const { receipts } = await a.t.json<{ receipts: Receipt[] }>('GET', `/v1/federations/${fid}/members/${a.memberId}/receipts`);
      expect(receipts).toEqual([first.receipt]);
      await expect(a.t.json('GET', `/v1/federations/${fid}/members/${b.memberId}/receipts`)).rejects.toMatchObject({ code: 'FORBIDDEN' });

      const res = await operator.send('GET', '/v1/ledger/export');
      expect(res.headers.get('content-type')).toMatch(/jsonl/);
      const text = await res.text();
      const checked = verifyExport(text, key.publicKey);
      expect(checked).toMatchObject({ ok: true, problem: null });
      // The round committed model version 1, whose parent is version 0.
      expect(checked.models.map((m) => [m.version, m.round])).toEqual([[0, null], [1, 1]]);
      expect(checked.models[1].parentHash).toBe(checked.models[0].hash);
      const bySeq = new Map(parseExport(text).entries.map((e) => [e.seq, e]));
      expect(checkReceipt(first.receipt, bySeq, key.publicKey)).toMatchObject({ ok: true });
      expect(checkReceipt(second.receipt, bySeq, key.publicKey)).toMatchObject({ ok: true });
      expect(checkReceipt({ ...first.receipt, contributionHash: contentHash(update(9)) }, bySeq, key.publicKey)).toMatchObject({ ok: false, message: /not signed/ });
      expect(checkReceipt(first.receipt, bySeq, generateLedgerKey().publicKey).ok).toBe(false);
      // The evidence pack for round 1, through the API, from the same verified ledger.
      const pack = await operator.json<{ rounds: { round: number; contributions: { memberId: string; seq: number }[]; committedModel: { version: number } }[]; verification: { ok: boolean } }>('GET', '/v1/ledger/report?round=1&format=json');
      expect(pack.verification.ok).toBe(true);
      expect(pack.rounds[0].contributions.map((x) => [x.memberId, x.seq])).toEqual([[a.memberId, first.receipt.seq], [b.memberId, second.receipt.seq]]);
      expect(pack.rounds[0].committedModel.version).toBe(1);
      const html = await (await operator.send('GET', '/v1/ledger/report?round=1')).text();
      expect(html).toContain('round 1');
      const other = new Map(bySeq);
      other.set(first.receipt.seq, { ...bySeq.get(first.receipt.seq)!, hash: '0'.repeat(64) });
      expect(checkReceipt(first.receipt, other, key.publicKey)).toMatchObject({ ok: false, message: /receipt names/ });
    });

    it('keeps one chain under 50 concurrent writers; a rolled-back append leaves no gap', async () => {
      const before = (await readEntries(database.db)).length;
      const writes = Array.from({ length: 50 }, (_, i) =>
        database.db.transaction(async (tx) => {
          await appendAudit(tx, { kind: 'contribution.refused', actor: `member:w${i}`, time: clock + i, payload: { writer: i } });
          if (i % 10 === 9) throw new Error('rolled back');
        }),
      );
      const settled = await Promise.allSettled(writes);
      expect(settled.filter((s) => s.status === 'rejected')).toHaveLength(5);
      const entries = await readEntries(database.db);
      expect(entries).toHaveLength(before + 45);
      expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
      expect(new Set(entries.map((e) => e.prevHash)).size).toBe(entries.length);
      expect(await verify()).toMatchObject({ ok: true, head: { seq: before + 45 } });
    });

    describe('tampering directly in SQL', () => {
      let rows: (typeof auditEvents.$inferSelect)[];
      let head: typeof ledgerHead.$inferSelect;
      beforeAll(async () => {
        rows = await database.db.select().from(auditEvents).orderBy(asc(auditEvents.seq));
        [head] = await database.db.select().from(ledgerHead);
        expect(rows.length).toBeGreaterThan(10);
      });
      const restore = async () => {
        await database.db.delete(auditEvents);
        await database.db.insert(auditEvents).values(rows);
        await database.db.update(ledgerHead).set({ seq: head.seq, hash: head.hash }).where(eq(ledgerHead.id, 1));
        expect((await verify()).ok).toBe(true);
      };
      const caught = async (tamper: string, want: { kind: string; seq: number }) => {
        for (const stmt of tamper.split(';').filter((s) => s.trim())) await database.db.execute(sql.raw(stmt));
        try {
          expect((await verify()).problem).toMatchObject(want);
        } finally {
          await restore();
        }
      };

      it('UPDATE of a payload: edited', () => caught(`UPDATE audit_events SET payload = jsonb_set(payload, '{memberName}', '"mallory"') WHERE seq = 3`, { kind: 'edited', seq: 3 }));
      it('UPDATE of a time or an actor: edited', () => caught(`UPDATE audit_events SET time = time + 1 WHERE seq = 4; UPDATE audit_events SET actor = 'operator:someone-else' WHERE seq = 6`, { kind: 'edited', seq: 4 }));
      it('DELETE of a row: deleted', () => caught('DELETE FROM audit_events WHERE seq = 5', { kind: 'deleted', seq: 5 }));
      it('DELETE of the last row: deleted (the head row still names it)', () => caught(`DELETE FROM audit_events WHERE seq = ${head.seq}`, { kind: 'deleted', seq: head.seq }));
      it('swapping two rows\' seq: reordered', () => caught('UPDATE audit_events SET seq = -1 WHERE seq = 2; UPDATE audit_events SET seq = 2 WHERE seq = 7; UPDATE audit_events SET seq = 7 WHERE seq = -1', { kind: 'reordered', seq: 2 }));
      it('a corrupted signature: bad-signature', () => caught(`UPDATE audit_events SET signature = (SELECT signature FROM audit_events WHERE seq = 9) WHERE seq = 8`, { kind: 'bad-signature', seq: 8 }));

      const forgedRow = (prev: LedgerEntry, seq: number) => {
        const e = { seq, time: clock, kind: 'credential.created', actor: 'aggregator', federationId: null, payload: { role: 'operator', label: 'backdoor' } };
        const hash = entryHash(prev.hash, e)!;
        return `INSERT INTO audit_events (seq, time, kind, actor, federation_id, payload, prev_hash, hash, signature) VALUES (${seq}, ${clock}, 'credential.created', 'aggregator', NULL, '{"label":"backdoor","role":"operator"}', '${prev.hash}', '${hash}', '${toBase64(new Uint8Array(64).fill(7))}')`;
      };
      it('INSERT of a forged row after the last: inserted', () => caught(forgedRow(rows[rows.length - 1] as LedgerEntry, head.seq + 1), { kind: 'inserted', seq: head.seq + 1 }));
      it('INSERT of a forged row in the middle (later rows renumbered, head moved): inserted', () =>
        caught(
          `UPDATE audit_events SET seq = seq + 100000 WHERE seq >= 4; UPDATE audit_events SET seq = seq - 99999 WHERE seq >= 100000; ${forgedRow(rows[2] as LedgerEntry, 4)}; UPDATE ledger_head SET seq = seq + 1`,
          { kind: 'inserted', seq: 4 },
        ));
    });

    it('auditors read the ledger and their reads are recorded; revoked auditors are refused', async () => {
      const { auditor } = await operator.json<{ auditor: { id: string; token: string } }>('POST', '/v1/auditors', { body: { label: 'compliance officer' } });
      const au = bearer(auditor.token);
      const page = await au.json<{ entries: LedgerEntry[]; next: number | null }>('GET', '/v1/ledger?from=2&limit=3');
      expect(page.entries.map((e) => e.seq)).toEqual([2, 3, 4]);
      expect(page.next).toBe(5);
      const { verification } = await au.json<{ verification: { ok: boolean; head: { seq: number } } }>('GET', '/v1/ledger/verify');
      expect(verification.ok).toBe(true);
      const exported = await (await au.send('GET', '/v1/ledger/export')).text();
      expect(verifyExport(exported, key.publicKey).ok).toBe(true);
      const reads = (await readEntries(database.db)).filter((e) => e.kind === 'audit.read');
      expect(reads.map((e) => (e.payload as { what: string }).what)).toEqual(['ledger', 'verify', 'export']);
      expect(reads.every((e) => e.actor === `auditor:${auditor.id}`)).toBe(true);
      await expect(au.json('POST', '/v1/federations', { body: {} })).rejects.toMatchObject({ code: 'FORBIDDEN' });
      await expect(au.json('GET', '/v1/ledger?limit=0')).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'limit' });

      expect(await operator.json('DELETE', `/v1/auditors/${auditor.id}`)).toMatchObject({ auditor: { id: auditor.id, revokedAt: clock } });
      await expect(au.json('GET', '/v1/ledger')).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      await expect(operator.json('DELETE', '/v1/auditors/no-such-auditor')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      const kinds = (await readEntries(database.db)).map((e) => e.kind);
      expect(kinds.filter((k) => k === 'credential.revoked')).toHaveLength(1);
      expect(await verify()).toMatchObject({ ok: true });
    });
  });
}
