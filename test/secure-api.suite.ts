/**
 * @module The secure-round routes against a misbehaving member, run on each database
 * (secure-api.pglite.test.ts, secure-api.postgres.test.ts): three honest members run the real
 * runtime; a fourth is driven by hand. A bad signature on its advertised keys excludes it; its
 * messages replayed from another round or to another stage are refused (409), a replayed HTTP
 * request too (401); its refusal is recorded; the honest members' rounds complete.
 */
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoundAnnouncement } from '../core/rounds.ts';
import { encodeSecAggMessage } from '../core/secagg-body.ts';
import { generateAgreementKeyPair } from '../crypto/key-agreement.ts';
import { fromBase64, toBase64 } from '../crypto/identity.ts';
import { SecAggClient } from '../crypto/secagg-client.ts';
import { createApp } from '../aggregator/app.ts';
import { currentLedgerKey } from '../aggregator/audit.ts';
import { issueCredential } from '../aggregator/credentials.ts';
import type { Receipt } from '../aggregator/ledger/receipts.ts';
import { receiptSignatureValid } from '../aggregator/ledger/receipts.ts';
import type { Database } from '../aggregator/db/database.ts';
import { enroll, memberTransport } from '../clients/enrollment.ts';
import type { MemberIdentity } from '../clients/enrollment.ts';
import type { LocalModel } from '../clients/runtime.ts';
import { runMember } from '../clients/runtime.ts';
import { identityFromSecret } from '../clients/secagg-runtime.ts';
import { Transport } from '../clients/transport.ts';
import { auditEvents, roundMembers, rounds } from '../schema/index.ts';

const MODEL = { kind: 'logistic', inputs: 4, outputs: 1 } as const;
const honest = (k: number): LocalModel => ({
  async train(global) {
    return { weights: global.map((t) => ({ ...t, data: t.data.map((v, i) => v + 0.01 * (i + k)) })), examples: 10 + k };
  },
  async evaluate() {
    return { examples: 4, correct: 3, lossSum: 1 };
  },
});

export function defineSecureApiSuite(kind: string, open: () => Promise<Database>): void {
  describe(`secure-round routes against a misbehaving member on ${kind}`, () => {
    let database: Database;
    let app: ReturnType<typeof createApp>['app'];
    let orchestrator: ReturnType<typeof createApp>['orchestrator'];
    const sent: { url: string; init: RequestInit }[] = [];
    const maskedAnswers: { accepted: { hash: string }; receipt: Receipt }[] = [];
    const fetchApp = (async (url: string, init: RequestInit) => {
      sent.push({ url, init });
      const res = await app.request(url, init);
      if (res.ok && init.method === 'PUT' && url.endsWith('/rounds/1/secagg/masked_input')) maskedAnswers.push((await res.clone().json()) as (typeof maskedAnswers)[number]);
      return res;
    }) as unknown as typeof fetch;
    let operator: Transport;
    let fid: string;
    let rogue: MemberIdentity & { t: Transport };
    const abort = new AbortController();
    let runs: Promise<unknown>[] = [];

    beforeAll(async () => {
      database = await open();
      ({ app, orchestrator } = createApp({ db: database.db }));
      const { token } = await issueCredential(database.db, 'operator', 'op', 'test');
      operator = new Transport({ baseUrl: 'http://a', bearer: token, fetch: fetchApp, retries: 0 });
      ({ federation: { id: fid } } = await operator.json<{ federation: { id: string } }>('POST', '/v1/federations', {
        body: { name: 'secure api', model: MODEL, rounds: 2, minMembers: 3, deadlines: { fit: 30, evaluate: 30, keys: 30 } },
      }));
      const ids: MemberIdentity[] = [];
      for (const name of ['a', 'b', 'c', 'rogue']) {
        const { invitation } = await operator.json<{ invitation: { token: string } }>('POST', `/v1/federations/${fid}/invitations`, { body: { memberName: name } });
        ids.push(await enroll({ aggregatorUrl: 'http://a', federationId: fid, token: invitation.token, fetch: fetchApp }));
      }
      runs = ids.slice(0, 3).map((id, k) => runMember({ transport: memberTransport(id, { fetch: fetchApp }), federationId: fid, memberId: id.memberId, model: honest(k), pollMs: 5, signal: abort.signal }));
      rogue = { ...ids[3], t: new Transport({ baseUrl: 'http://a', member: { memberId: ids[3].memberId, secretKey: fromBase64(ids[3].secretKey)! }, fetch: fetchApp, retries: 0 }) };
    });
    afterAll(async () => {
      abort.abort();
      await Promise.all(runs);
      await database?.close();
    });

    const announcement = async () => (await rogue.t.json<{ round: RoundAnnouncement }>('GET', `/v1/federations/${fid}/members/${rogue.memberId}/round`)).round;
    const put = (round: number, stage: string, body: Uint8Array) => rogue.t.json('PUT', `/v1/federations/${fid}/members/${rogue.memberId}/rounds/${round}/secagg/${stage}`, { body });
    async function until(round: number, status: string) {
      for (;;) {
        await orchestrator.tick();
        const [r] = await database.db.select().from(rounds).where(and(eq(rounds.federationId, fid), eq(rounds.number, round)));
        if (r.status === status) return r;
        if (r.status !== 'open') throw new Error(`round ${round} is ${r.status}: ${r.failureReason}`);
        await new Promise((res) => setTimeout(res, 10));
      }
    }
    const identity = () => identityFromSecret(fromBase64(rogue.secretKey)!);

    it('excludes a member whose advertised keys carry a bad signature; the others complete the round', async () => {
      await operator.json('POST', `/v1/federations/${fid}/rounds`);
      const a = await announcement();
      expect(a.stage).toBe('advertise_keys');
      const message = new SecAggClient({ config: a.secagg!.config, memberId: rogue.memberId, identity: identity() }).advertiseKeys();
      // The aggregator (or anyone on the path) swaps the mask key: the signature no longer covers it.
      const forged = { ...message, maskKey: toBase64(generateAgreementKeyPair().publicKey) };
      await expect(put(1, 'advertise_keys', encodeSecAggMessage(forged))).rejects.toMatchObject({ code: 'UNAUTHENTICATED', details: expect.objectContaining({ status: 401 }) });
      const r = await until(1, 'committed');
      expect((r.metrics as { secure: { survivors: number } }).secure.survivors).toBe(3);
      const [slot] = await database.db.select().from(roundMembers).where(and(eq(roundMembers.roundId, r.id), eq(roundMembers.memberId, rogue.memberId)));
      expect(slot).toMatchObject({ status: 'dropped', reason: 'advertise_keys: bad signature on its message' });
      const refused = await database.db.select().from(auditEvents).where(and(eq(auditEvents.federationId, fid), eq(auditEvents.kind, 'contribution.refused')));
      expect(refused.map((e) => e.payload)).toContainEqual(expect.objectContaining({ memberId: rogue.memberId, stage: 'advertise_keys', code: 'UNAUTHENTICATED', by: 'aggregator' }));
    }, 120_000);

    it('answers each masked input with a signed receipt of the ledger entry that recorded it', async () => {
      // Round 1 committed in the test above.
      expect(maskedAnswers).toHaveLength(3);
      const entries = await database.db.select().from(auditEvents).where(and(eq(auditEvents.federationId, fid), eq(auditEvents.kind, 'contribution.accepted')));
      const key = currentLedgerKey()!;
      for (const { accepted, receipt } of maskedAnswers) {
        const entry = entries.find((e) => e.seq === receipt.seq)!;
        expect(entry.hash).toBe(receipt.entryHash);
        expect(entry.payload).toMatchObject({ round: 1, stage: 'masked_input', memberId: receipt.memberId, hash: accepted.hash });
        expect(receipt).toMatchObject({ federationId: fid, round: 1, stage: 'masked_input', contributionHash: accepted.hash });
        expect(receiptSignatureValid(receipt, key.publicKey)).toBe(true);
        expect(receiptSignatureValid({ ...receipt, seq: receipt.seq + 1 }, key.publicKey)).toBe(false);
      }
    });

    it('refuses messages replayed from another round (409) or to another stage (409), and a replayed request (401); records a member\'s refusal', async () => {
      await until(1, 'committed');
      await operator.json('POST', `/v1/federations/${fid}/rounds`);
      const a = await announcement();
      expect(a.round).toBe(2);
      const [round1] = await database.db.select().from(rounds).where(and(eq(rounds.federationId, fid), eq(rounds.number, 1)));
      expect(round1.status).toBe('committed');
      // A validly signed message of round 1, sent to round 2.
      const round1Config = { ...a.secagg!.config, round: 1 };
      const old = new SecAggClient({ config: round1Config, memberId: rogue.memberId, identity: identity() }).advertiseKeys();
      await expect(put(2, 'advertise_keys', encodeSecAggMessage(old))).rejects.toMatchObject({ code: 'STALE_STAGE', details: expect.objectContaining({ status: 409 }) });
      // The right message, accepted once; the very same signed HTTP request again is a replay.
      const client = new SecAggClient({ config: a.secagg!.config, memberId: rogue.memberId, identity: identity() });
      const body = encodeSecAggMessage(client.advertiseKeys());
      await expect(put(2, 'advertise_keys', body)).resolves.toMatchObject({ accepted: { stage: 'advertise_keys', duplicate: false } });
      const last = sent[sent.length - 1];
      const replay = await app.request(last.url, last.init);
      expect(replay.status).toBe(401);
      expect(((await replay.json()) as { error: { code: string } }).error.code).toBe('REPLAYED');
      // The same bytes in a fresh request: the same answer, nothing stored twice.
      await expect(put(2, 'advertise_keys', body)).resolves.toMatchObject({ accepted: { duplicate: true } });
      // An advertise_keys message sent as a share_keys message.
      await expect(put(2, 'share_keys', body)).rejects.toMatchObject({ code: 'STALE_STAGE', details: expect.objectContaining({ status: 409 }) });
      // Its client refuses share_keys: the refusal is recorded and the round goes on without it.
      for (;;) {
        const now = await announcement();
        if (now.stage === 'share_keys') break;
        await new Promise((res) => setTimeout(res, 10));
      }
      await rogue.t.json('PUT', `/v1/federations/${fid}/members/${rogue.memberId}/rounds/2/secagg/share_keys/refusal`, { body: { reason: 'refused: test' } });
      const r = await until(2, 'committed');
      const [slot] = await database.db.select().from(roundMembers).where(and(eq(roundMembers.roundId, r.id), eq(roundMembers.memberId, rogue.memberId)));
      expect(slot).toMatchObject({ status: 'dropped', reason: 'refused share_keys: refused: test' });
      const refused = await database.db.select().from(auditEvents).where(and(eq(auditEvents.federationId, fid), eq(auditEvents.kind, 'contribution.refused')));
      expect(refused.map((e) => e.payload)).toContainEqual(expect.objectContaining({ memberId: rogue.memberId, stage: 'share_keys', by: 'member', round: 2 }));
    }, 120_000);
  });
}
