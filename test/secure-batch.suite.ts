/**
 * @module Secure-aggregation messages stored in batches, run on each database
 * (secure-batch.pglite.test.ts, secure-batch.postgres.test.ts): messages that arrive together are
 * checked and stored in one transaction; a bad one is refused alone and recorded; a copy sent
 * twice is stored once; the ledger entries are consecutive and the chain verifies; the stage
 * closes only when its last member's message is in.
 */
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FederationConfig } from '../core/federation.ts';
import type { RoundAnnouncement } from '../core/rounds.ts';
import { encodeSecAggMessage } from '../core/secagg-body.ts';
import { TesseraError } from '../core/errors.ts';
import { fromBase64 } from '../crypto/identity.ts';
import { SecAggClient } from '../crypto/secagg-client.ts';
import { createApp } from '../aggregator/app.ts';
import { currentLedgerKey } from '../aggregator/audit.ts';
import { issueCredential } from '../aggregator/credentials.ts';
import type { Database } from '../aggregator/db/database.ts';
import { verifyLedger } from '../aggregator/ledger/verify.ts';
import type { LedgerEntry } from '../aggregator/ledger/entry.ts';
import { enroll, memberTransport } from '../clients/enrollment.ts';
import type { MemberIdentity } from '../clients/enrollment.ts';
import { identityFromSecret } from '../clients/secagg-runtime.ts';
import { Transport } from '../clients/transport.ts';
import { auditEvents, contributions, federations, rounds } from '../schema/index.ts';

const MODEL = { kind: 'logistic', inputs: 4, outputs: 1 } as const;

export function defineSecureBatchSuite(kind: string, open: () => Promise<Database>): void {
  describe(`secure messages stored in batches on ${kind}`, () => {
    let database: Database;
    let app: ReturnType<typeof createApp>['app'];
    let orchestrator: ReturnType<typeof createApp>['orchestrator'];
    const fetchApp = ((url: string, init: RequestInit) => app.request(url, init)) as unknown as typeof fetch;
    let fid: string;
    const ids: MemberIdentity[] = [];

    beforeAll(async () => {
      database = await open();
      ({ app, orchestrator } = createApp({ db: database.db }));
      const { token } = await issueCredential(database.db, 'operator', 'op', 'test');
      const operator = new Transport({ baseUrl: 'http://a', bearer: token, fetch: fetchApp, retries: 0 });
      ({ federation: { id: fid } } = await operator.json<{ federation: { id: string } }>('POST', '/v1/federations', {
        body: { name: 'batches', model: MODEL, rounds: 1, minMembers: 3, deadlines: { fit: 30, evaluate: 30, keys: 30 } },
      }));
      for (const name of ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']) {
        const { invitation } = await operator.json<{ invitation: { token: string } }>('POST', `/v1/federations/${fid}/invitations`, { body: { memberName: name } });
        ids.push(await enroll({ aggregatorUrl: 'http://a', federationId: fid, token: invitation.token, fetch: fetchApp }));
      }
      await operator.json('POST', `/v1/federations/${fid}/rounds`);
    });
    afterAll(async () => {
      await database?.close();
    });

    it('stores what arrives together in one transaction: a bad message is refused alone, a copy is stored once, the ledger stays one chain', async () => {
      const view = (id: MemberIdentity) => memberTransport(id, { fetch: fetchApp }).json<{ round: RoundAnnouncement }>('GET', `/v1/federations/${fid}/members/${id.memberId}/round`);
      const { round: announced } = await view(ids[0]);
      const message = (id: MemberIdentity) =>
        encodeSecAggMessage(new SecAggClient({ config: announced.secagg!.config, memberId: id.memberId, identity: identityFromSecret(fromBase64(id.secretKey)!) }).advertiseKeys());
      const own = ids.map(message);
      const [round] = await database.db.select().from(rounds).where(eq(rounds.federationId, fid));
      const [f] = await database.db.select().from(federations).where(eq(federations.id, fid));
      const config = f.config as FederationConfig;
      const items = [
        ...ids.slice(0, 5).map((id, k) => ({ memberId: id.memberId, stage: 'advertise_keys' as const, body: own[k] })),
        // The same bytes again (a retry racing the first): answered, stored once.
        { memberId: ids[0].memberId, stage: 'advertise_keys' as const, body: own[0] },
        // Member 4's message sent in member 5's name: refused, and only it.
        { memberId: ids[5].memberId, stage: 'advertise_keys' as const, body: own[4] },
        // Not JSON at all.
        { memberId: ids[5].memberId, stage: 'advertise_keys' as const, body: new TextEncoder().encode('not a message') },
      ];
      const settled = await orchestrator.secure.acceptMany(round, config, items);

      const values = settled.map((s) => ('value' in s ? s.value : null));
      const errors = settled.map((s) => ('error' in s ? (s.error as TesseraError) : null));
      for (let k = 0; k < 5; k++) expect(values[k]).toMatchObject({ memberId: ids[k].memberId, duplicate: false, closable: false });
      expect(values[5]).toMatchObject({ memberId: ids[0].memberId, duplicate: true, hash: values[0]!.hash });
      expect(errors[6]).toBeInstanceOf(TesseraError);
      expect(errors[6]).toMatchObject({ code: 'FORBIDDEN', field: 'memberId' });
      expect(errors[7]).toMatchObject({ code: 'BAD_REQUEST', field: 'body' });

      const stored = await database.db.select({ memberId: contributions.memberId }).from(contributions).where(eq(contributions.roundId, round.id));
      expect(stored.map((r) => r.memberId).sort()).toEqual(ids.slice(0, 5).map((id) => id.memberId).sort());
      const [after] = await database.db.select().from(rounds).where(eq(rounds.id, round.id));
      expect(after).toMatchObject({ secaggMessages: 5, stage: 'advertise_keys' });

      const entries = (await database.db.select().from(auditEvents).orderBy(asc(auditEvents.seq))) as LedgerEntry[];
      const accepted = entries.filter((e) => e.kind === 'contribution.accepted');
      expect(accepted.map((e) => (e.payload as { memberId: string }).memberId)).toEqual(ids.slice(0, 5).map((id) => id.memberId));
      // One batch: consecutive entries, each answer naming its own.
      expect(accepted.map((e) => e.seq)).toEqual(accepted.map((_, k) => accepted[0].seq + k));
      for (let k = 0; k < 5; k++) expect(values[k]!.entry!.seq).toBe(accepted[k].seq);
      const refused = entries.filter((e) => e.kind === 'contribution.refused').map((e) => e.payload);
      expect(refused).toEqual([
        expect.objectContaining({ memberId: ids[5].memberId, stage: 'advertise_keys', code: 'FORBIDDEN' }),
        expect.objectContaining({ memberId: ids[5].memberId, stage: 'advertise_keys', code: 'BAD_REQUEST' }),
      ]);
      expect(verifyLedger(entries, currentLedgerKey()!.publicKey).ok).toBe(true);

      // The last member's own message completes the stage: its answer says so, and the round moves on.
      const last = await orchestrator.secure.accept(round, config, ids[5].memberId, 'advertise_keys', own[5]);
      expect(last).toMatchObject({ duplicate: false, closable: true });
      await orchestrator.advance(fid);
      const [moved] = await database.db.select().from(rounds).where(and(eq(rounds.id, round.id)));
      expect(moved).toMatchObject({ secaggMessages: 6, stage: 'share_keys' });
      // A retry of an accepted message after its stage closed: the same answer, nothing stored.
      expect(await orchestrator.secure.accept(round, config, ids[1].memberId, 'advertise_keys', own[1])).toMatchObject({ duplicate: true, hash: values[1]!.hash });
      await expect(orchestrator.secure.accept(round, config, ids[1].memberId, 'advertise_keys', own[2])).rejects.toMatchObject({ code: 'CONFLICT' });
    }, 60_000);
  });
}
