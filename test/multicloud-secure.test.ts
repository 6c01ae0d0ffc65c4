/**
 * End to end, secure rounds with masked inputs handed in through the members' own stores: a real
 * aggregator on loopback, the project's GCS test server and Azurite. Two federations with the
 * same seed and the same (deterministic) members run two secure rounds each: in one, every masked
 * input goes straight to the aggregator; in the other, one member puts its frame in a GCS bucket
 * and hands in a V4 signed URL, another in an Azure container with a SAS, a third uploads
 * directly. The committed models must be byte-identical. In round 2 the GCS object is altered
 * behind the store's API: the aggregator refuses it (HASH_MISMATCH, recorded in the ledger) and
 * the member falls back to the direct upload. Then the URL refusals (too large, URL refused,
 * store unavailable) are each answered with their code and recorded.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHash } from '../core/hash.ts';
import { startAggregator } from '../aggregator/server.ts';
import type { RunningAggregator } from '../aggregator/server.ts';
import { enroll, memberTransport } from '../clients/enrollment.ts';
import type { MemberIdentity } from '../clients/enrollment.ts';
import type { LocalModel, MemberEvent } from '../clients/runtime.ts';
import { runMember } from '../clients/runtime.ts';
import type { UploadVia } from '../clients/store-upload.ts';
import { Transport } from '../clients/transport.ts';
import { auditEvents, contributions, modelVersions, rounds } from '../schema/index.ts';
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
const GCS_HOME = 'gs://hospital-bucket/tessera';
const AZURE_HOME = 'az://devstoreaccount1/bank-container/tessera';
const MODEL = { kind: 'mlp', inputs: 6, hidden: [8], outputs: 1 } as const;

let gcs: GcsTestServer;
let azurite: AzuriteInstance;
let aggregator: RunningAggregator;
let operator: Transport;
let storeOptions: OpenStoreOptions;
let urlOptions: SignedUrlOptions;
const dir = mkdtempSync(join(tmpdir(), 'tessera-secure-store-'));

beforeAll(async () => {
  gcs = await startGcsServer({ v4Signers: { [SIGNER]: rsa.publicKey } });
  azurite = await startAzurite();
  storeOptions = { gcs: { apiEndpoint: gcs.url, projectId: 'tessera-test' }, azure: { connectionString: azurite.connectionString } };
  urlOptions = { gcs: { apiEndpoint: gcs.url, projectId: 'tessera-test', credentials: { client_email: SIGNER, private_key: rsa.privateKey } }, azure: { connectionString: azurite.connectionString }, ttlSeconds: 300 };
  // The stores listen on loopback, a private address: the SSRF rule is relaxed for this test only.
  aggregator = await startAggregator({ dataDir: join(dir, 'aggregator'), urlFetch: { allowPrivate: true, timeoutMs: 10_000 }, tickMs: 50, log: () => {} });
  operator = new Transport({ baseUrl: aggregator.url, bearer: aggregator.operatorToken!, retries: 0 });
}, 60_000);

afterAll(async () => {
  await aggregator?.close();
  await gcs?.close();
  await azurite?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The same deterministic update for the same member index in both federations. */
const deterministic = (k: number): LocalModel => ({
  async train(global) {
    return { weights: global.map((t) => ({ ...t, data: t.data.map((v, i) => v + 0.003 * (((i * 7 + k * 13) % 23) - 11)) })), examples: 20 + 5 * k };
  },
  async evaluate() {
    return { examples: 10, correct: 7, lossSum: 4 };
  },
});

interface Member {
  id: MemberIdentity;
  events: MemberEvent[];
  /** Frames the member put in its store, by hash. */
  uploads: Map<string, Uint8Array>;
}

/** A member's store path: put the frame, sign a read URL; `tamper` alters the stored object afterwards (a misbehaving store). */
function storeUpload(home: string, m: Member, tamper?: (round: number, key: string) => void): UploadVia {
  const store = openStore(home, { create: true, ...storeOptions });
  return async (body, { round }) => {
    const put = await store.putContent(body);
    m.uploads.set(put.hash, body);
    tamper?.(round, put.key);
    return { url: await signedReadUrl(home, put.key, urlOptions) };
  };
}

/** Alters the object behind the GCS API with consistent metadata, as a misbehaving replica would serve it. */
function gcsAlter(key: string): void {
  const bucket = gcs.buckets.get('hospital-bucket')!;
  const name = `tessera/${key}`;
  const old = bucket.objects.get(name)!;
  const bytes = Buffer.from(old.bytes);
  bytes[bytes.length - 3] ^= 0x01;
  bucket.objects.set(name, newObject('hospital-bucket', name, bytes, old.contentType));
}

async function federation(name: string, homes: (string | null)[], tamper?: (round: number, key: string) => void) {
  const { federation: f } = await operator.json<{ federation: { id: string } }>('POST', '/v1/federations', {
    body: { name, model: MODEL, seed: 7, rounds: 2, minMembers: 3, deadlines: { fit: 60, evaluate: 60, keys: 60 } },
  });
  const members: Member[] = [];
  for (const [k] of homes.entries()) {
    const { invitation } = await operator.json<{ invitation: { token: string } }>('POST', `/v1/federations/${f.id}/invitations`, { body: { memberName: `member-${k}` } });
    members.push({ id: await enroll({ aggregatorUrl: aggregator.url, federationId: f.id, token: invitation.token }), events: [], uploads: new Map() });
  }
  const failures: string[] = [];
  const runs = members.map((m, k) =>
    runMember({
      transport: memberTransport(m.id), federationId: f.id, memberId: m.id.memberId, model: deterministic(k), pollMs: 20,
      uploadVia: homes[k] ? storeUpload(homes[k]!, m, k === 0 ? tamper : undefined) : undefined,
      secaggRandom: () => 0.5, // the same rounding in both federations, so their sums can be compared exactly
      onEvent: (e) => m.events.push(e),
    }).catch((e: Error) => void failures.push(`member-${k}: ${e.message}`)),
  );
  await operator.json('POST', `/v1/federations/${f.id}/rounds`);
  const waitCommitted = async (round: number) => {
    for (let i = 0; ; i++) {
      if (failures.length) throw new Error(failures.join('; '));
      const { round: r } = await operator.json<{ round: { status: string; stage: string | null; failureReason: string | null } }>('GET', `/v1/federations/${f.id}/rounds/${round}`);
      if (r.status === 'failed') throw new Error(`round ${round} failed: ${r.failureReason}`);
      if (r.status === 'committed' && r.stage === null) return;
      if (i > 1200) throw new Error(`round ${round} did not commit (${r.status}, ${r.stage})`);
      await new Promise((res) => setTimeout(res, 50));
    }
  };
  await waitCommitted(1);
  await operator.json('POST', `/v1/federations/${f.id}/rounds`);
  await waitCommitted(2);
  await Promise.all(runs);
  if (failures.length) throw new Error(failures.join('; '));
  return { fid: f.id, members };
}

const modelsOf = async (fid: string) =>
  (await aggregator.database.db.select({ version: modelVersions.version, hash: modelVersions.hash }).from(modelVersions).where(eq(modelVersions.federationId, fid)).orderBy(asc(modelVersions.version))).map((m) => `${m.version}:${m.hash}`);

const ledgerOf = async (fid: string) =>
  (await aggregator.database.db.select().from(auditEvents).where(eq(auditEvents.federationId, fid)).orderBy(asc(auditEvents.seq))).map((e) => ({ kind: e.kind, payload: e.payload as Record<string, unknown> }));

describe('masked inputs through the members\' own stores (GCS signed URL, Azure SAS)', () => {
  let direct: Awaited<ReturnType<typeof federation>>;
  let viaStores: Awaited<ReturnType<typeof federation>>;

  it('commits the same models as direct uploads, and accepts the frames byte for byte', async () => {
    direct = await federation('direct', [null, null, null]);
    viaStores = await federation('via stores', [GCS_HOME, AZURE_HOME, null], (round, key) => {
      if (round === 2) gcsAlter(key);
    });
    const want = await modelsOf(direct.fid);
    expect(want).toHaveLength(3);
    expect(await modelsOf(viaStores.fid)).toEqual(want);

    const [r1] = await aggregator.database.db.select().from(rounds).where(and(eq(rounds.federationId, viaStores.fid), eq(rounds.number, 1)));
    const masked = await aggregator.database.db.select().from(contributions).where(and(eq(contributions.roundId, r1.id), eq(contributions.stage, 'masked_input')));
    expect(masked).toHaveLength(3);
    for (const [k, m] of viaStores.members.entries()) {
      const sent = m.events.find((e): e is Extract<MemberEvent, { kind: 'secagg' }> => e.kind === 'secagg' && e.round === 1 && e.stage === 'masked_input');
      expect(sent?.via, `member-${k}`).toBe(k < 2 ? 'url' : 'http');
      const row = masked.find((r) => r.memberId === m.id.memberId)!;
      if (k < 2) expect(Buffer.from(row.body).equals(Buffer.from(m.uploads.get(row.hash)!))).toBe(true);
    }
    // The ledger records a stored input exactly as a direct one: hash and size of the frame.
    const accepted = (await ledgerOf(viaStores.fid)).filter((e) => e.kind === 'contribution.accepted' && e.payload.stage === 'masked_input' && e.payload.round === 1);
    expect(accepted).toHaveLength(3);
    for (const e of accepted) expect(Object.keys(e.payload).sort()).toEqual(['hash', 'memberId', 'round', 'size', 'stage']);
    // Receipts for the inputs that came through a store, as for direct ones.
    const gcsMember = viaStores.members[0];
    const { receipts } = await memberTransport(gcsMember.id).json<{ receipts: { round: number; stage: string }[] }>('GET', `/v1/federations/${viaStores.fid}/members/${gcsMember.id.memberId}/receipts`);
    expect(receipts.filter((r) => r.stage === 'masked_input').map((r) => r.round).sort()).toEqual([1, 2]);
  }, 180_000);

  it('refuses an altered object (HASH_MISMATCH), records it, and the member falls back to a direct upload', async () => {
    const m = viaStores.members[0];
    expect(m.events.filter((e) => e.kind === 'upload-fallback' && e.round === 2).map((e) => (e as { reason: string }).reason)).toEqual([expect.stringMatching(/^HASH_MISMATCH: url: the object is \d+ bytes hashing to [0-9a-f]{64}/)]);
    const sent = m.events.find((e): e is Extract<MemberEvent, { kind: 'secagg' }> => e.kind === 'secagg' && e.round === 2 && e.stage === 'masked_input');
    expect(sent?.via).toBe('http');
    const refused = (await ledgerOf(viaStores.fid)).filter((e) => e.kind === 'contribution.refused');
    expect(refused).toHaveLength(1);
    const p = refused[0].payload;
    expect(p).toMatchObject({ round: 2, memberId: m.id.memberId, stage: 'masked_input', by: 'aggregator', code: 'HASH_MISMATCH', via: 'url', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/.*hospital-bucket.*[0-9a-f]{64}$/) });
    expect(p.actualHash).not.toBe(p.hash);
    expect(String(p.url)).not.toContain('X-Goog-Signature'); // signatures stay out of the ledger
    // What the aggregator accepted for round 2 is the member's own frame, sent directly.
    const [r2] = await aggregator.database.db.select().from(rounds).where(and(eq(rounds.federationId, viaStores.fid), eq(rounds.number, 2)));
    const [row] = await aggregator.database.db.select().from(contributions).where(and(eq(contributions.roundId, r2.id), eq(contributions.memberId, m.id.memberId), eq(contributions.stage, 'masked_input')));
    expect(row.hash).toBe(p.hash);
  });

  it('answers each refusal of the URL path with its code and records it', async () => {
    const m = viaStores.members[1];
    const t = new Transport({ ...memberTransport(m.id).opts, retries: 0 });
    const path = `/v1/federations/${viaStores.fid}/members/${m.id.memberId}/rounds/2/secagg/masked_input/url`;
    const frame = [...m.uploads.values()].at(-1)!; // its round-2 masked input
    const hash = contentHash(frame);
    const store = openStore(AZURE_HOME, storeOptions);
    const missing = await signedReadUrl(AZURE_HOME, 'objects/' + 'ab'.repeat(32), urlOptions);
    const present = await signedReadUrl(AZURE_HOME, (await store.putContent(frame)).key, urlOptions);
    await store.close();
    const attempt = (body: Record<string, unknown>) => t.send('PUT', path, { body, retry: false }).then(() => null, (e: { code: string; details?: { status?: number } }) => `${e.code} ${e.details?.status}`);
    expect(await attempt({ url: present, hash, size: 1 << 30 })).toBe('TOO_LARGE 413');
    expect(await attempt({ url: 'http://user:secret@127.0.0.1:9/x', hash, size: frame.length })).toBe('URL_REFUSED 400');
    expect(await attempt({ url: missing, hash, size: frame.length })).toBe('STORE_UNAVAILABLE 503');
    expect(await attempt({ url: present, hash: 'cd'.repeat(32), size: frame.length })).toBe('HASH_MISMATCH 409');
    expect(await attempt({ url: present, hash, size: 'big' })).toBe('BAD_REQUEST 400');
    const codes = (await ledgerOf(viaStores.fid)).filter((e) => e.kind === 'contribution.refused' && e.payload.memberId === m.id.memberId).map((e) => e.payload.code);
    expect(codes).toEqual(['TOO_LARGE', 'URL_REFUSED', 'STORE_UNAVAILABLE', 'HASH_MISMATCH']);
    // The same frame again through the URL path: the slot already holds it, so the same answer (nothing stored twice).
    const again = await t.json<{ accepted: { duplicate: boolean; hash: string } }>('PUT', path, { body: { url: present, hash, size: frame.length }, retry: false });
    expect(again.accepted).toMatchObject({ duplicate: true, hash });
  });
});
