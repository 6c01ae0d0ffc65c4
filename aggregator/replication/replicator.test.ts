/** @module Replication: a store that is down delays its replica, never the commit; the next tick retries it. Keys rotate. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { contentKey } from '../../core/artifact-store.ts';
import { openContentKey } from '../../crypto/content-keys.ts';
import { generateIdentity, toBase64, sign } from '../../crypto/identity.ts';
import { enrollmentMessage } from '../../core/request-signing.ts';
import { fetchSealed } from '../../storage/sealed.ts';
import { LocalStore } from '../../storage/local.ts';
import { createApp } from '../app.ts';
import { issueCredential } from '../credentials.ts';
import { openDatabase } from '../db/database.ts';
import { currentLedgerKey } from '../audit.ts';
import { createReplicator } from './replicator.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-replicator-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the replicator', () => {
  it('records a failed store, keeps the commit, retries on the next tick; rotation adds a key every member gets sealed', async () => {
    const database = await openDatabase({ dataDir: 'memory' });
    const replicator = createReplicator({ db: database.db, retryBaseMs: 1 });
    const { app } = createApp({ db: database.db, replicator });
    const { token } = await issueCredential(database.db, 'operator', 'test', 'test');
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await app.request(path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    writeFileSync(join(dir, 'blocked'), 'a file where the store wants a directory');
    const stores = [`file://${join(dir, 'ok')}`, `file://${join(dir, 'blocked', 'store')}`];
    const created = await call('POST', '/v1/federations', { name: 'replicated', model: { kind: 'logistic', inputs: 3, outputs: 1 }, stores });
    expect(created.status).toBe(201);
    const fid = (created.json.federation as { id: string }).id;
    await replicator.idle();
    let replicas = (await call('GET', `/v1/federations/${fid}/models/0/replicas`)).json as unknown as { artifact: { sealedHash: string; keyId: string }; replicas: { store: string; status: string; attempts: number; lastError: string | null }[] };
    expect(replicas.replicas.map((r) => r.status)).toEqual(['published', 'failed']);
    expect(replicas.replicas[1].lastError).toMatch(/./);
    expect((await app.request(`/v1/federations/${fid}/models/0`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);

    rmSync(join(dir, 'blocked'));
    await new Promise((r) => setTimeout(r, 5));
    await replicator.tick();
    replicas = (await call('GET', `/v1/federations/${fid}/models/0/replicas`)).json as unknown as typeof replicas;
    expect(replicas.replicas.map((r) => [r.status, r.attempts])).toEqual([['published', 1], ['published', 2]]);

    // The published artifact opens with k1 and the ledger (signing) key, from either store.
    const signer = currentLedgerKey()!;
    const member = generateIdentity();
    const inv = await call('POST', `/v1/federations/${fid}/invitations`, { memberName: 'm1' });
    const invitation = (inv.json.invitation as { token: string }).token;
    const publicKey = toBase64(member.publicKey);
    const enrolled = await app.request(`/v1/federations/${fid}/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: invitation, publicKey, proof: toBase64(sign(enrollmentMessage(fid, invitation, publicKey), member.secretKey)) }) });
    const { keys } = (await enrolled.json()) as { keys: { signerPublicKey: string; contentKeys: { keyId: string; sealed: string }[] } };
    expect(keys.signerPublicKey).toBe(toBase64(signer.publicKey));
    const k1 = openContentKey(keys.contentKeys[0], member.secretKey);
    for (const url of stores) {
      const opened = await fetchSealed(new LocalStore(url.slice('file://'.length)), replicas.artifact.sealedHash, { contentKeys: (id) => (id === 'k1' ? k1 : undefined), signerPublicKey: signer.publicKey });
      expect(opened.keyId).toBe('k1');
    }
    expect(await new LocalStore(join(dir, 'ok')).head(contentKey(replicas.artifact.sealedHash))).not.toBeNull();

    const rotated = await call('POST', `/v1/federations/${fid}/keys/rotate`);
    expect(rotated).toMatchObject({ status: 201, json: { keyId: 'k2' } });
    await replicator.close();
    await database.close();
  });
});
