/** @module Sealed artifacts: round trip through a store, and every way a cloud could alter one is caught before use. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { concatBytes, contentKey } from '../core/artifact-store.ts';
import { generateIdentity } from '../crypto/identity.ts';
import { LocalStore } from './local.ts';
import { fetchSealed, generateContentKey, openSealed, publishSealed, sealArtifact } from './sealed.ts';

const aggregator = generateIdentity();
const contentKeyV1 = generateContentKey();
const sealing = { keyId: 'k1', contentKey: contentKeyV1, signingKey: aggregator.secretKey };
const opening = { contentKeys: (id: string) => (id === 'k1' ? contentKeyV1 : undefined), signerPublicKey: aggregator.publicKey };

async function sealed(plain: Uint8Array, chunkSize = 1000): Promise<Uint8Array> {
  const out: Uint8Array[] = [];
  for await (const c of sealArtifact(plain, sealing, chunkSize)) out.push(c);
  return concatBytes(out).slice();
}
const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string }) => e.code ?? String(e));

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('sealed artifacts', () => {
  const plain = new Uint8Array(randomBytes(5500));

  it('round-trips through a store by the hash of the sealed bytes, unreadable without the key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-sealed-'));
    dirs.push(dir);
    const store = new LocalStore(dir);
    const put = await publishSealed(store, plain, sealing);
    expect(put.key).toBe(contentKey(put.hash));
    const opened = await fetchSealed(store, put.hash, opening);
    expect(opened.keyId).toBe('k1');
    expect(Buffer.from(opened.plaintext).equals(Buffer.from(plain))).toBe(true);
    const raw = await sealed(plain);
    expect(Buffer.from(raw).includes(Buffer.from(plain.subarray(0, 32)))).toBe(false);
    const empty = await openSealed(await sealed(new Uint8Array(0)), opening);
    expect(empty.plaintext).toHaveLength(0);
  });

  it('detects a flipped bit anywhere, a truncation, a dropped frame, extra bytes and a foreign signer', async () => {
    const raw = await sealed(plain);
    for (const at of [3, 12, 40, 80, 2000, raw.length - 100, raw.length - 1]) {
      const bad = raw.slice();
      bad[at] ^= 0x01;
      expect(await codeOf(openSealed(bad, opening)), `bit at ${at}`).toBe('INTEGRITY');
    }
    for (const cut of [10, 100, raw.length - 64, raw.length - 1]) expect(await codeOf(openSealed(raw.subarray(0, cut), opening)), `cut ${cut}`).toBe('INTEGRITY');
    expect(await codeOf(openSealed(concatBytes([raw, new Uint8Array([0])]), opening))).toBe('INTEGRITY');
    const frames = 8 + 4 + new DataView(raw.buffer, raw.byteOffset + 8, 4).getUint32(0) + 24; // first frame's offset
    const frame = 4 + 1000 + 17;
    const dropped = concatBytes([raw.subarray(0, frames + frame), raw.subarray(frames + 2 * frame)]);
    expect(await codeOf(openSealed(dropped, opening))).toBe('INTEGRITY');
    const other = generateIdentity();
    const forged: Uint8Array[] = [];
    for await (const c of sealArtifact(plain, { ...sealing, signingKey: other.secretKey })) forged.push(c);
    expect(await codeOf(openSealed(concatBytes(forged), opening))).toBe('INTEGRITY');
  });

  it('refuses an artifact sealed under a key the member does not hold (revoked or rotated)', async () => {
    const rotated: Uint8Array[] = [];
    for await (const c of sealArtifact(plain, { ...sealing, keyId: 'k2', contentKey: generateContentKey() })) rotated.push(c);
    expect(await codeOf(openSealed(concatBytes(rotated), opening))).toBe('FORBIDDEN');
    const wrongKey = { ...opening, contentKeys: () => generateContentKey() };
    expect(await codeOf(openSealed(await sealed(plain), wrongKey))).toBe('INTEGRITY');
  });

  it('refuses bytes that are not the announced hash', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-sealed-'));
    dirs.push(dir);
    const store = new LocalStore(dir);
    const a = await publishSealed(store, plain, sealing);
    const b = await publishSealed(store, new Uint8Array([1, 2, 3]), sealing);
    await store.put(a.key, (await store.get(b.key)).body); // a validly sealed, signed, but different artifact
    expect(await codeOf(fetchSealed(store, a.hash, opening))).toBe('INTEGRITY');
  });
});
