/**
 * @module The aggregator API suite, run through `app.request()` on each database (PGlite and
 * PostgreSQL: see api.pglite.test.ts and api.postgres.test.ts). Members use the real client
 * transport, signing every request; the clock is injected to test deadlines and skew.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeWeights, encodeWeights } from '../core/codec.ts';
import { contentHash } from '../core/hash.ts';
import type { FederationConfig } from '../core/federation.ts';
import type { ModelSpec } from '../core/model.ts';
import { modelLayout } from '../core/model.ts';
import { EXAMPLES_HEADER, SIGNATURE_HEADERS } from '../core/request-signing.ts';
import type { RoundAnnouncement } from '../core/rounds.ts';
import type { Tensor } from '../core/tensors.ts';
import { flatten, unflatten } from '../core/tensors.ts';
import { enroll, memberTransport } from '../clients/enrollment.ts';
import type { MemberIdentity } from '../clients/enrollment.ts';
import { Transport } from '../clients/transport.ts';
import { createApp } from '../aggregator/app.ts';
import { issueCredential } from '../aggregator/credentials.ts';
import type { Database } from '../aggregator/db/database.ts';
import { contributions } from '../schema/index.ts';

const MODEL: ModelSpec = { kind: 'mlp', inputs: 6, hidden: [5], outputs: 1, activation: 'relu' };

export function defineApiSuite(kind: string, open: () => Promise<Database>): void {
  describe(`aggregator API on ${kind}`, () => {
    let database: Database;
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const now = () => clock;
    let app: ReturnType<typeof createApp>['app'];
    let orchestrator: ReturnType<typeof createApp>['orchestrator'];
    let operator: Transport;
    const fetchApp = ((url: string, init: RequestInit) => app.request(url, init)) as unknown as typeof fetch;

    const start = () => ({ app, orchestrator } = createApp({ db: database.db, now }));

    beforeAll(async () => {
      database = await open();
      start();
      const { token } = await issueCredential(database.db, 'operator', 'test operator', 'test', clock);
      operator = new Transport({ baseUrl: 'http://aggregator', bearer: token, fetch: fetchApp, retries: 0 });
    });
    afterAll(async () => {
      await database?.close();
    });

    async function createFederation(extra: Partial<Record<keyof FederationConfig, unknown>> = {}): Promise<string> {
      const { federation } = await operator.json<{ federation: { id: string } }>('POST', '/v1/federations', {
        body: { name: 'test federation', model: MODEL, strategy: 'fedavg', rounds: 3, minMembers: 2, deadlines: { fit: 60, evaluate: 60 }, secure: false, ...extra },
      });
      return federation.id;
    }

    async function enrollMember(fid: string, name: string): Promise<MemberIdentity & { t: Transport }> {
      const { invitation } = await operator.json<{ invitation: { token: string } }>('POST', `/v1/federations/${fid}/invitations`, { body: { memberName: name } });
      const id = await enroll({ aggregatorUrl: 'http://aggregator', federationId: fid, token: invitation.token, fetch: fetchApp });
      return { ...id, t: memberTransport(id, { fetch: fetchApp, now }) };
    }

    const raw = (method: string, path: string, init: RequestInit = {}) => app.request(`http://aggregator${path}`, { method, ...init });
    const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; field?: string; message: string } }).error;
    const expectError = async (p: Promise<unknown>, code: string, status: number) => {
      await expect(p).rejects.toMatchObject({ code, details: expect.objectContaining({ status }) });
    };

    function delta(seed: number): Tensor[] {
      return modelLayout(MODEL).map(({ name, shape }) => {
        const n = shape.reduce((a, b) => a * b, 1);
        return { name, shape, data: Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7 + i) / 10) };
      });
    }
    const upload = (m: { t: Transport; memberId: string; federationId: string }, round: number, body: Uint8Array, examples = 10) =>
      m.t.json<{ accepted: { hash: string } }>('PUT', `/v1/federations/${m.federationId}/members/${m.memberId}/rounds/${round}/update`, { body, headers: { [EXAMPLES_HEADER]: String(examples) } });
    const poll = (m: { t: Transport; memberId: string; federationId: string }) =>
      m.t.json<{ round: RoundAnnouncement | null; federation: { status: string } }>('GET', `/v1/federations/${m.federationId}/members/${m.memberId}/round`);

    it('refuses bad input with a code and the field', async () => {
      let res = await raw('POST', '/v1/federations', { body: JSON.stringify({ name: 'x', model: { kind: 'cnn', inputs: 3, outputs: 1 } }), headers: { authorization: `Bearer ${operator.opts.bearer}` } });
      expect(res.status).toBe(400);
      expect(await errorOf(res)).toMatchObject({ code: 'BAD_MODEL_SPEC', field: 'model.kind' });
      res = await raw('POST', '/v1/federations', { body: JSON.stringify({ name: 'x', model: { kind: 'mlp', inputs: 3, hidden: [0], outputs: 1 } }), headers: { authorization: `Bearer ${operator.opts.bearer}` } });
      expect(await errorOf(res)).toMatchObject({ code: 'BAD_MODEL_SPEC', field: 'model.hidden[0]' });
      res = await raw('POST', '/v1/federations', { body: '{not json', headers: { authorization: `Bearer ${operator.opts.bearer}` } });
      expect(res.status).toBe(400);
      res = await raw('GET', '/v1/federations/00000000-0000-0000-0000-000000000000', { headers: { authorization: `Bearer ${operator.opts.bearer}` } });
      expect(res.status).toBe(404);
      expect((await errorOf(res)).code).toBe('NOT_FOUND');
      res = await raw('POST', '/v1/federations', { body: '{}' });
      expect(res.status).toBe(401);
      res = await raw('POST', '/v1/federations', { body: '{}', headers: { authorization: 'Bearer wrong' } });
      expect(res.status).toBe(401);
    });

    it('enrolls members with one-time invitations and signed requests only', async () => {
      const fid = await createFederation();
      const { invitation } = await operator.json<{ invitation: { token: string } }>('POST', `/v1/federations/${fid}/invitations`, { body: { memberName: 'clinic-a' } });
      await enroll({ aggregatorUrl: 'http://aggregator', federationId: fid, token: invitation.token, fetch: fetchApp });
      await expectError(enroll({ aggregatorUrl: 'http://aggregator', federationId: fid, token: invitation.token, fetch: fetchApp }), 'INVITATION_INVALID', 409);
      await expectError(enroll({ aggregatorUrl: 'http://aggregator', federationId: fid, token: 'x'.repeat(43), fetch: fetchApp }), 'INVITATION_INVALID', 409);
      const b = await enrollMember(fid, 'clinic-b');
      // Unsigned: 401. Signed but altered after signing: 401. Replayed exactly: 401 REPLAYED. Skewed clock: 401.
      expect((await raw('GET', `/v1/federations/${fid}/members/${b.memberId}/round`)).status).toBe(401);
      let captured: Headers | null = null;
      const capturing = memberTransport(b, { now, fetch: ((url: string, init: RequestInit) => { captured = new Headers(init.headers); return app.request(url, init); }) as unknown as typeof fetch });
      await capturing.json('GET', `/v1/federations/${fid}/members/${b.memberId}/round`);
      const replay = await raw('GET', `/v1/federations/${fid}/members/${b.memberId}/round`, { headers: captured! });
      expect(replay.status).toBe(401);
      expect((await errorOf(replay)).code).toBe('REPLAYED');
      const tampered = new Headers(captured!);
      tampered.set(SIGNATURE_HEADERS.nonce, 'a-different-nonce-123456');
      const bad = await raw('GET', `/v1/federations/${fid}/members/${b.memberId}/round`, { headers: tampered });
      expect(bad.status).toBe(401);
      expect((await errorOf(bad)).message).toMatch(/signature/);
      const skewed = memberTransport(b, { fetch: fetchApp, now: () => clock + 10 * 60_000 });
      await expectError(skewed.json('GET', `/v1/federations/${fid}/members/${b.memberId}/round`), 'UNAUTHENTICATED', 401);
    });

    it('runs a round: uploads are checked, idempotent, aggregated by FedAvg, evaluated', async () => {
      const fid = await createFederation({ maxUpdateBytes: 1024 });
      await expectError(operator.json('POST', `/v1/federations/${fid}/rounds`), 'ROUND_STATE', 409);
      const a = await enrollMember(fid, 'hospital-a');
      const b = await enrollMember(fid, 'hospital-b');
      const { round } = await operator.json<{ round: { number: number } }>('POST', `/v1/federations/${fid}/rounds`);
      expect(round.number).toBe(1);
      await expectError(operator.json('POST', `/v1/federations/${fid}/rounds`), 'ROUND_STATE', 409);
      const ann = (await poll(a)).round!;
      expect(ann).toMatchObject({ round: 1, stage: 'fit', memberStatus: 'selected', modelVersion: 0, progress: { done: 0, of: 2 } });
      const { bytes: modelBytes } = await a.t.bytes('GET', `/v1/federations/${fid}/models/0`);
      expect(contentHash(modelBytes)).toBe(ann.modelHash);

      // A member acting for another: 403.
      await expectError(a.t.json('GET', `/v1/federations/${fid}/members/${b.memberId}/round`), 'FORBIDDEN', 403);
      await expectError(upload({ ...a, memberId: b.memberId }, 1, encodeWeights(delta(1))), 'FORBIDDEN', 403);
      // Wrong names, wrong shapes, not a weights file, oversize.
      const renamed = delta(1).map((t, i) => (i === 0 ? { ...t, name: 'kernel' } : t));
      await expectError(upload(a, 1, encodeWeights(renamed)), 'BAD_TENSORS', 400);
      const reshaped = delta(1).map((t, i) => (i === 1 ? { ...t, shape: [1, 5] } : t));
      await expectError(upload(a, 1, encodeWeights(reshaped)), 'BAD_TENSORS', 400);
      await expectError(upload(a, 1, new TextEncoder().encode('hello')), 'BAD_ENCODING', 400);
      await expectError(upload(a, 1, new Uint8Array(2048)), 'TOO_LARGE', 413);
      await expectError(a.t.json('PUT', `/v1/federations/${fid}/members/${a.memberId}/rounds/1/update`, { body: encodeWeights(delta(1)) }), 'BAD_REQUEST', 400);

      const da = encodeWeights(delta(1));
      const first = await upload(a, 1, da, 30);
      expect(first.accepted.hash).toBe(contentHash(da));
      expect(await upload(a, 1, da, 30)).toEqual(first); // same content: same answer
      await expectError(upload(a, 1, encodeWeights(delta(2)), 30), 'CONFLICT', 409);
      expect((await poll(b)).round!.progress).toEqual({ done: 1, of: 2 });

      // A restart between uploads: a new app and orchestrator over the same database.
      start();
      const db2 = encodeWeights(delta(3));
      await upload(b, 1, db2, 10);
      const after = (await poll(a)).round!;
      expect(after.stage).toBe('evaluate');
      expect(after.evaluateModel!.version).toBe(1);
      await expectError(upload(a, 1, encodeWeights(delta(4)), 30), 'CONFLICT', 409);

      // The committed model equals the weighted mean, recomputed here.
      const base = flatten(decodeWeights(modelBytes));
      const want = base.map((w, i) => w + (flatten(delta(1))[i] * 30 + flatten(delta(3))[i] * 10) / 40);
      const { bytes: v1, headers } = await operator.bytes('GET', `/v1/federations/${fid}/models/1`);
      expect(headers.get('x-tessera-model-hash')).toBe(contentHash(v1));
      const got = flatten(decodeWeights(v1));
      got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
      const stored = await database.db.select().from(contributions);
      expect(stored.filter((c) => c.memberId === a.memberId || c.memberId === b.memberId)).toHaveLength(2);

      // Evaluation: a duplicate report is idempotent; the round commits once both reported.
      const evalPath = (m: MemberIdentity) => `/v1/federations/${fid}/members/${m.memberId}/rounds/1/evaluation`;
      await a.t.json('PUT', evalPath(a), { body: { examples: 50, correct: 40, lossSum: 20.5 } });
      await a.t.json('PUT', evalPath(a), { body: { examples: 50, correct: 40, lossSum: 20.5 } });
      await expectError(b.t.json('PUT', evalPath(b), { body: { examples: 5, correct: 9, lossSum: 1 } }), 'BAD_REQUEST', 400);
      await b.t.json('PUT', evalPath(b), { body: { examples: 50, correct: 30, lossSum: 25 } });
      const { rounds } = await operator.json<{ rounds: { number: number; status: string; metrics: { meanAccuracy: number } }[] }>('GET', `/v1/federations/${fid}/rounds`);
      expect(rounds[0]).toMatchObject({ number: 1, status: 'committed' });
      expect(rounds[0].metrics.meanAccuracy).toBeCloseTo(0.7, 10);
      // Uploads for a closed round: 409.
      await expectError(upload(a, 1, encodeWeights(delta(9))), 'CONFLICT', 409);
      await operator.json('POST', `/v1/federations/${fid}/rounds`);
      await upload(a, 2, encodeWeights(delta(5)));
      const late = unflatten(flatten(delta(6)), modelLayout(MODEL));
      clock += 61_000;
      await orchestrator.tick();
      const failed = (await poll(a)).round!;
      expect(failed).toMatchObject({ round: 2, status: 'failed' });
      expect(failed.failureReason).toMatch(/1 of 2 required members/);
      await expectError(upload(b, 2, encodeWeights(late)), 'STALE_STAGE', 409);
      // An old round: b's slot there holds its accepted update; anything else is refused.
      await expectError(upload(b, 1, encodeWeights(late)), 'CONFLICT', 409);
      expect((await upload(b, 1, db2, 10)).accepted.hash).toBe(contentHash(db2));
    });
  });
}
