/**
 * Member revocation end to end: a real aggregator on loopback publishing sealed models to a local
 * store, three members reading from it. After round 1 the operator revokes one member: its signed
 * requests are refused (403 MEMBER_REVOKED), it is left out of round 2's cohort, the content key
 * rotates and the latest model is resealed under it; the remaining members read every later model
 * from the store with the new key, while the revoked member's keys open none of them. The ledger
 * records the revocation and the rotation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHash } from '../core/hash.ts';
import { openContentKey } from '../crypto/content-keys.ts';
import type { SealedContentKey } from '../crypto/content-keys.ts';
import { fromBase64 } from '../crypto/identity.ts';
import { startAggregator } from '../aggregator/server.ts';
import type { RunningAggregator } from '../aggregator/server.ts';
import { enroll, memberTransport } from '../clients/enrollment.ts';
import type { MemberIdentity } from '../clients/enrollment.ts';
import { createModelSource } from '../clients/model-source.ts';
import type { LocalModel, MemberEvent } from '../clients/runtime.ts';
import { runMember } from '../clients/runtime.ts';
import { Transport } from '../clients/transport.ts';
import { auditEvents, modelArtifacts, modelVersions } from '../schema/index.ts';
import { LocalStore } from '../storage/local.ts';
import { fetchSealed } from '../storage/sealed.ts';
import { runTessera } from './child-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-revoke-'));
const storeDir = join(dir, 'store');
let aggregator: RunningAggregator;
let operator: Transport;

beforeAll(async () => {
  aggregator = await startAggregator({ dataDir: join(dir, 'aggregator'), tickMs: 50, log: () => {} });
  operator = new Transport({ baseUrl: aggregator.url, bearer: aggregator.operatorToken!, retries: 0 });
});
afterAll(async () => {
  await aggregator?.close();
  rmSync(dir, { recursive: true, force: true });
});

const stepModel = (k: number): LocalModel => ({
  async train(global) {
    return { weights: global.map((t) => ({ ...t, data: t.data.map((v) => v + 0.01 * (k + 1)) })), examples: 10 + k };
  },
  async evaluate() {
    return { examples: 5, correct: 4, lossSum: 1 };
  },
});

async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; !(await probe()); i++) {
    if (i > 1000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 30));
  }
}

/** The `tessera` command as the operator runs it (asynchronously: the aggregator answers from this process). */
async function tessera(...argv: string[]): Promise<{ code: number | null; out: string }> {
  const r = await runTessera(argv, { ...process.env, TESSERA_URL: aggregator.url, TESSERA_TOKEN: aggregator.operatorToken! });
  return { code: r.code, out: r.out + r.err };
}

const refusal = (p: Promise<unknown>) => p.then(() => 'accepted', (e: { code: string; details?: { status?: number } }) => `${e.code} ${e.details?.status}`);

describe('revoking a member', () => {
  let fid: string;
  const ids: MemberIdentity[] = [];
  const events: MemberEvent[][] = [[], [], []];
  let runs: Promise<string>[];
  let revokedKeys: Map<string, Uint8Array>;

  const roundDone = (n: number) => until(`round ${n} evaluated`, async () => {
    const { round } = await operator.json<{ round: { status: string; stage: string | null } }>('GET', `/v1/federations/${fid}/rounds/${n}`);
    if (round.status === 'failed') throw new Error(`round ${n} failed`);
    return round.status === 'committed' && round.stage === null;
  });
  const published = (version: number) => until(`model ${version} published`, async () => {
    const r = await operator.json<{ replicas: { status: string }[] }>('GET', `/v1/federations/${fid}/models/${version}/replicas`);
    return r.replicas.length === 1 && r.replicas[0].status === 'published';
  });
  const artifact = async (version: number) => (await aggregator.database.db.select().from(modelArtifacts).where(and(eq(modelArtifacts.federationId, fid), eq(modelArtifacts.version, version))))[0];
  const plainHash = async (version: number) => (await aggregator.database.db.select().from(modelVersions).where(and(eq(modelVersions.federationId, fid), eq(modelVersions.version, version))))[0].hash;
  const keysOf = async (id: MemberIdentity) => {
    const { keys } = await memberTransport(id).json<{ keys: { signerPublicKey: string; contentKeys: SealedContentKey[] } }>('GET', `/v1/federations/${fid}/members/${id.memberId}/keys`);
    return new Map(keys.contentKeys.map((k) => [k.keyId, openContentKey(k, fromBase64(id.secretKey)!)]));
  };
  const open = (version: number, keys: Map<string, Uint8Array>) =>
    artifact(version).then((a) => fetchSealed(new LocalStore(storeDir), a.sealedHash, { contentKeys: (id) => keys.get(id), signerPublicKey: fromBase64(aggregator.ledgerPublicKey)! }));

  beforeAll(async () => {
    const { federation } = await operator.json<{ federation: { id: string } }>('POST', '/v1/federations', {
      body: { name: 'revocation', model: { kind: 'logistic', inputs: 3, outputs: 1 }, rounds: 2, minMembers: 2, deadlines: { fit: 60, evaluate: 60 }, stores: [`file://${storeDir}`], secure: false },
    });
    fid = federation.id;
    for (const name of ['a', 'b', 'revoked']) {
      const { invitation } = await operator.json<{ invitation: { token: string } }>('POST', `/v1/federations/${fid}/invitations`, { body: { memberName: name } });
      ids.push(await enroll({ aggregatorUrl: aggregator.url, federationId: fid, token: invitation.token }));
    }
    runs = ids.map((id, k) => {
      const transport = memberTransport(id);
      const modelSource = createModelSource({ transport, federationId: fid, memberId: id.memberId, secretKey: fromBase64(id.secretKey)!, home: new LocalStore(storeDir), attempts: 2, backoffMs: 20 });
      return runMember({ transport, federationId: fid, memberId: id.memberId, model: stepModel(k), pollMs: 20, modelSource, onEvent: (e) => events[k].push(e) }).then(() => 'done', (e: { code?: string; message: string }) => e.code ?? e.message);
    });
    await published(0);
    await operator.json('POST', `/v1/federations/${fid}/rounds`);
    await roundDone(1);
    await published(1);
    revokedKeys = await keysOf(ids[2]);
  });
  afterAll(async () => {
    await Promise.allSettled(runs);
  });

  it('refuses anything but an operator with a reason, and an unknown member', async () => {
    const path = `/v1/federations/${fid}/members/${ids[2].memberId}/revoke`;
    expect(await refusal(operator.send('POST', path, { body: {} }))).toBe('BAD_REQUEST 400');
    expect(await refusal(memberTransport(ids[0]).send('POST', path, { body: { reason: 'x' }, retry: false }))).toBe('FORBIDDEN 403');
    expect(await refusal(operator.send('POST', `/v1/federations/${fid}/members/no-such-member/revoke`, { body: { reason: 'x' } }))).toBe('NOT_FOUND 404');
    expect(revokedKeys.has('k1')).toBe(true);
    expect((await open(1, revokedKeys)).keyId).toBe('k1'); // before revocation it reads the models like everyone
  });

  it('marks the member revoked, rotates the key, reseals the latest model, and records it all', async () => {
    const before = await artifact(1);
    const res = await operator.json<{ keyId: string; resealed: { version: number; sealedHash: string } }>('POST', `/v1/federations/${fid}/members/${ids[2].memberId}/revoke`, { body: { reason: 'contract ended' } });
    expect(res).toMatchObject({ member: { id: ids[2].memberId, status: 'revoked' }, keyId: 'k2', resealed: { version: 1 } });
    const after = await artifact(1);
    expect(after.keyId).toBe('k2');
    expect(after.sealedHash).toBe(res.resealed.sealedHash);
    expect(after.sealedHash).not.toBe(before.sealedHash);
    // Twice (here through the CLI, by name): the same answer, no second rotation.
    expect(await tessera('member', 'revoke', fid, 'revoked', '--reason', 'contract ended')).toEqual({ code: 0, out: `member "revoked" (${ids[2].memberId}) was already revoked; nothing changed\n` });
    expect(await tessera('member', 'revoke', fid, 'nobody', '--reason', 'x')).toMatchObject({ code: 2, out: expect.stringContaining('tessera: NOT_FOUND: member: no member "nobody"') });
    const ledger = (await aggregator.database.db.select().from(auditEvents).where(eq(auditEvents.federationId, fid)).orderBy(asc(auditEvents.seq))).map((e) => ({ kind: e.kind, actor: e.actor, payload: e.payload as Record<string, unknown> }));
    const revoked = ledger.filter((e) => e.kind === 'member.revoked');
    const rotated = ledger.filter((e) => e.kind === 'content-key.rotated');
    expect(revoked).toEqual([{ kind: 'member.revoked', actor: expect.stringMatching(/^operator:/), payload: { memberId: ids[2].memberId, name: 'revoked', reason: 'contract ended', droppedFromRound: null } }]);
    expect(rotated).toEqual([{ kind: 'content-key.rotated', actor: expect.stringMatching(/^operator:/), payload: { keyId: 'k2', revokedMemberId: ids[2].memberId, resealed: { version: 1, sealedHash: after.sealedHash, sealedSize: after.sealedSize } } }]);
    expect(ledger.indexOf(rotated[0])).toBe(ledger.indexOf(revoked[0]) + 1);
  }, 120_000); // two CLI processes start here

  it('refuses the revoked member\'s signed requests with 403 MEMBER_REVOKED', async () => {
    const t = new Transport({ ...memberTransport(ids[2]).opts, retries: 0 });
    const base = `/v1/federations/${fid}/members/${ids[2].memberId}`;
    expect(await refusal(t.send('GET', `${base}/round`))).toBe('MEMBER_REVOKED 403');
    expect(await refusal(t.send('GET', `${base}/keys`))).toBe('MEMBER_REVOKED 403');
    expect(await refusal(t.send('GET', `/v1/federations/${fid}/models/1`))).toBe('MEMBER_REVOKED 403');
    expect(await refusal(t.send('PUT', `${base}/rounds/2/update`, { body: new Uint8Array([1, 2, 3]) }))).toBe('MEMBER_REVOKED 403');
    // Someone else signing as the revoked member is not told it was revoked: a bad signature stays 401.
    const forged = new Transport({ baseUrl: aggregator.url, member: { memberId: ids[2].memberId, secretKey: fromBase64(ids[0].secretKey)! }, retries: 0 });
    expect(await refusal(forged.send('GET', `${base}/round`))).toBe('UNAUTHENTICATED 401');
  });

  it('leaves it out of the next cohort; the others read the next models with the new key, its old key opens none', async () => {
    const { round } = await operator.json<{ round: { number: number } }>('POST', `/v1/federations/${fid}/rounds`);
    const opened = (await aggregator.database.db.select().from(auditEvents).where(and(eq(auditEvents.federationId, fid), eq(auditEvents.kind, 'round.opened')))).map((e) => e.payload as { round: number; members: string[] });
    expect(opened.find((p) => p.round === round.number)!.members.sort()).toEqual([ids[0].memberId, ids[1].memberId].sort());
    await roundDone(2);
    await published(2);
    expect(await Promise.all(runs.slice(0, 2))).toEqual(['done', 'done']);
    // Member a trained round 2 on model 1 as resealed under k2, read from its home store.
    const fetched = events[0].filter((e): e is Extract<MemberEvent, { kind: 'fetched' }> => e.kind === 'fetched' && e.round === 2 && e.modelVersion === 1);
    expect(fetched.map((e) => e.source)).toEqual([`file://${storeDir}`]);
    const aKeys = await keysOf(ids[0]);
    expect([...aKeys.keys()]).toEqual(['k1', 'k2']);
    const v2 = await open(2, aKeys);
    expect(v2.keyId).toBe('k2');
    expect(contentHash(v2.plaintext)).toBe(await plainHash(2));
    const k1 = revokedKeys.get('k1')!;
    for (const version of [1, 2]) {
      await expect(open(version, revokedKeys), `model ${version}: the revoked member holds no k2`).rejects.toMatchObject({ code: 'FORBIDDEN' });
      // Its old key under the new key's name opens nothing either.
      await expect(open(version, new Map([['k2', k1]])), `model ${version} with k1 as k2`).rejects.toMatchObject({ code: 'INTEGRITY' });
    }
    // Its running client stopped on the refusal (at its next poll: a held long-poll ends first).
    expect(await runs[2]).toBe('MEMBER_REVOKED');
  });

  it('takes a member revoked mid-round out of the open round before it contributes', async () => {
    const { federation } = await operator.json<{ federation: { id: string } }>('POST', '/v1/federations', {
      body: { name: 'mid-round', model: { kind: 'logistic', inputs: 3, outputs: 1 }, rounds: 1, minMembers: 2, deadlines: { fit: 60, evaluate: 60 }, secure: false },
    });
    const mid: MemberIdentity[] = [];
    for (const name of ['p', 'q', 'r']) {
      const { invitation } = await operator.json<{ invitation: { token: string } }>('POST', `/v1/federations/${federation.id}/invitations`, { body: { memberName: name } });
      mid.push(await enroll({ aggregatorUrl: aggregator.url, federationId: federation.id, token: invitation.token }));
    }
    await operator.json('POST', `/v1/federations/${federation.id}/rounds`);
    const res = await operator.json<{ droppedFromRound: number | null; resealed: unknown }>('POST', `/v1/federations/${federation.id}/members/${mid[2].memberId}/revoke`, { body: { reason: 'key compromised' } });
    expect(res).toMatchObject({ droppedFromRound: 1, resealed: null }); // no stores: nothing to reseal
    const { participants } = await operator.json<{ participants: { memberId: string; status: string; reason: string | null }[] }>('GET', `/v1/federations/${federation.id}/rounds/1`);
    expect(participants.find((p) => p.memberId === mid[2].memberId)).toMatchObject({ status: 'dropped', reason: 'revoked by the operator: key compromised' });
    expect(participants.filter((p) => p.status === 'selected')).toHaveLength(2);
    const kinds = (await aggregator.database.db.select().from(auditEvents).where(eq(auditEvents.federationId, federation.id)).orderBy(asc(auditEvents.seq))).map((e) => e.kind);
    expect(kinds.slice(-3)).toEqual(['member.dropped', 'member.revoked', 'content-key.rotated']);
  });
});
