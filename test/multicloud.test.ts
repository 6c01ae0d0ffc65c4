/**
 * End to end, multi-cloud: a real aggregator on loopback publishes every model sealed and signed
 * to a local directory, the project's GCS test server and Azurite; three members read from
 * different home stores and hand in their updates over HTTP, a GCS V4 signed URL and an Azure SAS.
 * Faults are injected behind the stores' APIs (an altered, a torn, a stale and a missing object):
 * each member falls back, trains on the announced model, and its fetch report lands in the ledger.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArtifactStore } from '../core/artifact-store.ts';
import { contentKey } from '../core/artifact-store.ts';
import { encodeWeights } from '../core/codec.ts';
import type { FetchReport } from '../core/fetch-report.ts';
import { contentHash } from '../core/hash.ts';
import type { Tensor } from '../core/tensors.ts';
import { fromBase64 } from '../crypto/identity.ts';
import { startAggregator } from '../aggregator/server.ts';
import type { RunningAggregator } from '../aggregator/server.ts';
import { enroll, memberTransport } from '../clients/enrollment.ts';
import type { MemberIdentity } from '../clients/enrollment.ts';
import { createModelSource } from '../clients/model-source.ts';
import type { LocalModel, MemberEvent } from '../clients/runtime.ts';
import { runMember } from '../clients/runtime.ts';
import { Transport } from '../clients/transport.ts';
import { auditEvents, contributions, modelArtifacts, modelVersions } from '../schema/index.ts';
import { openStore } from '../storage/open-store.ts';
import type { OpenStoreOptions } from '../storage/open-store.ts';
import { signedReadUrl } from '../storage/signed-url.ts';
import type { SignedUrlOptions } from '../storage/signed-url.ts';
import { startAzurite } from '../storage/testing/azurite.ts';
import type { AzuriteInstance } from '../storage/testing/azurite.ts';
import { newObject } from '../storage/testing/gcs-objects.ts';
import { startGcsServer } from '../storage/testing/gcs-server.ts';
import type { GcsTestServer } from '../storage/testing/gcs-server.ts';

const SIGNER = 'member-gcs@tessera-test.iam.gserviceaccount.com';
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });

let gcs: GcsTestServer;
let azurite: AzuriteInstance;
let aggregator: RunningAggregator;
let operator: Transport;
const dir = mkdtempSync(join(tmpdir(), 'tessera-multicloud-'));
const localRoot = join(dir, 'local-store');
let storeOptions: OpenStoreOptions;
let urlOptions: SignedUrlOptions;
const STORES = [`file://${localRoot}`, 'gs://tessera-fed/heart', 'az://devstoreaccount1/tessera-fed/heart'];
const [LOCAL, GCS, AZURE] = STORES;
const logLines: string[] = [];

beforeAll(async () => {
  gcs = await startGcsServer({ v4Signers: { [SIGNER]: rsa.publicKey } });
  azurite = await startAzurite();
  storeOptions = { gcs: { apiEndpoint: gcs.url, projectId: 'tessera-test' }, azure: { connectionString: azurite.connectionString } };
  urlOptions = { gcs: { apiEndpoint: gcs.url, projectId: 'tessera-test', credentials: { client_email: SIGNER, private_key: rsa.privateKey } }, azure: { connectionString: azurite.connectionString }, ttlSeconds: 300 };
  // Loopback stores are private addresses: the SSRF rule has to be relaxed for this test only.
  aggregator = await startAggregator({ dataDir: join(dir, 'aggregator'), storeOptions, urlFetch: { allowPrivate: true, timeoutMs: 10_000 }, tickMs: 100, log: (l) => logLines.push(l) });
  operator = new Transport({ baseUrl: aggregator.url, bearer: aggregator.operatorToken!, retries: 0 });
});

afterAll(async () => {
  // Figures for the record: publish time per store, as the replicator logged it.
  for (const l of logLines.filter((x) => x.includes('published to'))) console.log(`[multicloud] ${l}`);
  await aggregator?.close();
  await gcs?.close();
  await azurite?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A stand-in trainer: records the hash of the model it was given, moves every weight a little. */
function recordingModel(step: number, seen: Map<number, string>): LocalModel {
  return {
    async train(global, { round }) {
      seen.set(round, contentHash(encodeWeights(global)));
      const weights: Tensor[] = global.map((t) => ({ ...t, data: t.data.map((v) => v + step) }));
      return { weights, examples: 10 + Math.round(step * 1000) };
    },
    async evaluate() {
      return { examples: 20, correct: 15, lossSum: 8 };
    },
  };
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const replicasPublished = (fid: string, version: number) =>
  waitFor(`model ${version} on every store`, async () => {
    const r = await operator.json<{ replicas: { store: string; status: string }[] }>('GET', `/v1/federations/${fid}/models/${version}/replicas`);
    return r.replicas.length === STORES.length && r.replicas.every((x) => x.status === 'published') && r;
  });

const sealedOf = async (fid: string, version: number) => {
  const [a] = await aggregator.database.db.select().from(modelArtifacts).where(and(eq(modelArtifacts.federationId, fid), eq(modelArtifacts.version, version)));
  return a;
};

/** Replaces an object behind the GCS API with consistent metadata (as a misbehaving replica would serve it). */
function gcsReplace(key: string, bytes: Uint8Array): void {
  const bucket = gcs.buckets.get('tessera-fed')!;
  const old = bucket.objects.get(`heart/${key}`)!;
  bucket.objects.set(`heart/${key}`, newObject('tessera-fed', `heart/${key}`, Buffer.from(bytes), old.contentType));
}

describe('a federation replicated to local, GCS and Azure, members in three clouds', () => {
  let fid = '';
  const members: { name: string; home: string; id: MemberIdentity; store: ArtifactStore; seen: Map<number, string>; events: MemberEvent[]; uploads: Map<string, Uint8Array> }[] = [];
  let runs: Promise<unknown>[] = [];

  it('publishes the sealed initial model to every store and hands out keys sealed per member', async () => {
    const { federation } = await operator.json<{ federation: { id: string } }>('POST', '/v1/federations', {
      body: { name: 'multicloud', model: { kind: 'mlp', inputs: 13, hidden: [16], outputs: 1 }, rounds: 2, minMembers: 3, deadlines: { fit: 60, evaluate: 60 }, stores: STORES, secure: false },
    });
    fid = federation.id;
    const published = await replicasPublished(fid, 0);
    expect(published.replicas.map((r) => r.store).sort()).toEqual([...STORES].sort());
    const v0 = await sealedOf(fid, 0);
    for (const url of STORES) {
      const store = openStore(url, storeOptions);
      expect((await store.head(contentKey(v0.sealedHash)))?.size).toBe(v0.sealedSize);
      expect(JSON.parse((await store.readPointer('latest'))!.value)).toEqual({ federationId: fid, version: 0, sealedHash: v0.sealedHash });
      await store.close();
    }
    // The cloud holds ciphertext only: the plaintext model's bytes do not appear in it.
    const [m0] = await aggregator.database.db.select().from(modelVersions).where(and(eq(modelVersions.federationId, fid), eq(modelVersions.version, 0)));
    expect(Buffer.from(v0.body).includes(Buffer.from(m0.body.subarray(16, 48)))).toBe(false);

    for (const [i, [name, home]] of [['hospital-gcp', GCS], ['bank-azure', AZURE], ['clinic-onprem', LOCAL]].entries()) {
      const { invitation } = await operator.json<{ invitation: { token: string } }>('POST', `/v1/federations/${fid}/invitations`, { body: { memberName: name } });
      const id = await enroll({ aggregatorUrl: aggregator.url, federationId: fid, token: invitation.token });
      members.push({ name, home, id, store: openStore(home, storeOptions), seen: new Map(), events: [], uploads: new Map(), ...{ step: (i + 1) / 100 } });
    }
    // A member's keys route: every content key sealed to that member only.
    const { keys } = await memberTransport(members[0].id).json<{ keys: { signerPublicKey: string; contentKeys: { keyId: string; sealed: string }[] } }>('GET', `/v1/federations/${fid}/members/${members[0].id.memberId}/keys`);
    expect(keys.signerPublicKey).toBe(aggregator.ledgerPublicKey);
    expect(keys.contentKeys.map((k) => k.keyId)).toEqual(['k1']);
  });

  it('survives an altered (GCS) and a torn (local) initial model: members fall back, train on v0, and report it', async () => {
    const v0 = await sealedOf(fid, 0);
    const altered = Buffer.from(v0.body);
    altered[altered.length - 200] ^= 0x40;
    gcsReplace(contentKey(v0.sealedHash), altered);
    truncateSync(join(localRoot, 'objects', v0.sealedHash), v0.sealedSize - 100);

    runs = members.map((m, i) => {
      const transport = memberTransport(m.id);
      const others = STORES.filter((s) => s !== m.home && s !== LOCAL).map((u) => openStore(u, storeOptions));
      const modelSource = createModelSource({ transport, federationId: fid, memberId: m.id.memberId, secretKey: fromBase64(m.id.secretKey)!, home: m.store, replicas: m.home === LOCAL ? [] : others, attempts: 3, backoffMs: 30 });
      const uploadVia = m.home === LOCAL ? undefined : async (body: Uint8Array) => {
        const put = await m.store.putContent(body);
        m.uploads.set(put.hash, body);
        return { url: await signedReadUrl(m.home, put.key, urlOptions) };
      };
      return runMember({ transport, federationId: fid, memberId: m.id.memberId, model: recordingModel((i + 1) / 100, m.seen), pollMs: 25, modelSource, uploadVia, onEvent: (e) => m.events.push(e) }).catch((e: Error) => {
        failures.push(`${m.name}: ${e.message}`);
      });
    });
    const failures: string[] = [];
    await operator.json('POST', `/v1/federations/${fid}/rounds`);
    await waitFor('round 1 to commit', async () => {
      if (failures.length) throw new Error(`a member stopped: ${failures.join('; ')}`);
      return (await operator.json<{ round: { status: string } }>('GET', `/v1/federations/${fid}/rounds/1`)).round.status === 'committed';
    }, 30_000);

    const [m0] = await aggregator.database.db.select().from(modelVersions).where(and(eq(modelVersions.federationId, fid), eq(modelVersions.version, 0)));
    for (const m of members) expect(m.seen.get(1), m.name).toBe(m0.hash);

    const reports = await fetchReports(fid);
    const gcpReport = reports.find((r) => r.memberId === members[0].id.memberId && r.modelVersion === 0)!;
    expect(gcpReport.attempts.filter((a) => a.source === GCS).map((a) => a.outcome)).toEqual(['altered', 'altered', 'altered']);
    expect(gcpReport.usedSource).toBe(AZURE);
    const localReport = reports.find((r) => r.memberId === members[2].id.memberId && r.modelVersion === 0)!;
    expect(localReport.attempts.map((a) => a.outcome)).toEqual(['torn', 'torn', 'torn', 'ok']);
    expect(localReport.usedSource).toBe('aggregator');
    expect(reports.some((r) => r.memberId === members[1].id.memberId && r.modelVersion === 0)).toBe(false); // Azure was intact
  });

  it('accepts updates through a GCS V4 signed URL and an Azure SAS, byte-identical to what the member encoded', async () => {
    const ups = await aggregator.database.db.select().from(contributions).orderBy(asc(contributions.memberId));
    for (const m of members) {
      const uploaded = m.events.find((e): e is Extract<MemberEvent, { kind: 'uploaded' }> => e.kind === 'uploaded' && e.round === 1)!;
      expect(uploaded, JSON.stringify(m.events.map((e) => [e.kind, (e as { reason?: string }).reason]))).toBeDefined();
      expect(uploaded.via, m.name).toBe(m.home === LOCAL ? 'http' : 'url');
      const row = ups.find((u) => u.memberId === m.id.memberId)!;
      expect(row.hash).toBe(uploaded.hash);
      expect(contentHash(row.body)).toBe(uploaded.hash);
      if (m.home !== LOCAL) expect(Buffer.from(row.body).equals(Buffer.from(m.uploads.get(uploaded.hash)!))).toBe(true);
    }
  });

  it('survives a stale (GCS) and a missing (Azure) model in round 2, training on v1', async () => {
    await replicasPublished(fid, 1);
    await waitFor('round 1 evaluated', async () => (await operator.json<{ round: { status: string; stage: string | null } }>('GET', `/v1/federations/${fid}/rounds/1`)).round.stage === null);
    const [v0, v1] = [await sealedOf(fid, 0), await sealedOf(fid, 1)];
    gcsReplace(contentKey(v1.sealedHash), v0.body); // an authentic, older artifact where v1 should be
    const azure = members[1].store;
    expect(await azure.delete(contentKey(v1.sealedHash))).toBe(true);

    await operator.json('POST', `/v1/federations/${fid}/rounds`);
    await Promise.all(runs);
    const [m1] = await aggregator.database.db.select().from(modelVersions).where(and(eq(modelVersions.federationId, fid), eq(modelVersions.version, 1)));
    for (const m of members) expect(m.seen.get(2), m.name).toBe(m1.hash);
    const reports = (await fetchReports(fid)).filter((r) => r.modelVersion === 1 && r.round === 2);
    const gcp = reports.find((r) => r.memberId === members[0].id.memberId)!;
    expect(gcp.attempts.filter((a) => a.source === GCS).map((a) => a.outcome)).toEqual(['stale', 'stale', 'stale']);
    const bank = reports.find((r) => r.memberId === members[1].id.memberId)!;
    expect(bank.attempts.filter((a) => a.source === AZURE).map((a) => a.outcome)).toEqual(['missing', 'missing', 'missing']);
    expect(bank.usedSource).not.toBe(AZURE);
    const rounds = await operator.json<{ rounds: { status: string }[] }>('GET', `/v1/federations/${fid}/rounds`);
    expect(rounds.rounds.map((r) => r.status)).toEqual(['committed', 'committed']);
    await replicasPublished(fid, 2);
  });

  it('refuses a signed URL whose object does not match the declared hash, and one over the size limit', async () => {
    const m = members[0];
    const transport = memberTransport(m.id);
    const put = await m.store.putContent(new Uint8Array([1, 2, 3, 4]));
    const url = await signedReadUrl(m.home, put.key, urlOptions);
    const path = `/v1/federations/${fid}/members/${m.id.memberId}/rounds/2/update-url`;
    const wrong = await transport.send('PUT', path, { body: { url, hash: 'ab'.repeat(32), size: 4, examples: 5 }, retry: false }).catch((e: { code: string; details: { status: number } }) => e);
    expect(wrong).toMatchObject({ code: 'HASH_MISMATCH', details: { status: 409 } });
    const tooBig = await transport.send('PUT', path, { body: { url, hash: put.hash, size: 1 << 30, examples: 5 }, retry: false }).catch((e: { code: string }) => e);
    expect(tooBig).toMatchObject({ code: 'TOO_LARGE' });
    const notHttp = await transport.send('PUT', path, { body: { url: `file:///etc/passwd`, hash: put.hash, size: 4, examples: 5 }, retry: false }).catch((e: { code: string }) => e);
    expect(notHttp).toMatchObject({ code: 'BAD_REQUEST' });
  });
});

async function fetchReports(fid: string): Promise<(FetchReport & { memberId: string; round: number })[]> {
  const rows = await aggregator.database.db.select().from(auditEvents).where(and(eq(auditEvents.federationId, fid), eq(auditEvents.kind, 'model.fetch-report'))).orderBy(asc(auditEvents.seq));
  return rows.map((r) => r.payload as FetchReport & { memberId: string; round: number });
}
