/** @module The adapter suite every artifact store must pass; each adapter's test file registers it against a real backend. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TesseraError } from '../core/errors.ts';
import { contentHash } from '../core/hash.ts';
import { concatBytes, contentKey, getContent, readVerified } from '../core/artifact-store.ts';
import type { ArtifactStore } from '../core/artifact-store.ts';

/** Deterministic-size random chunks, yielded lazily (a stand-in for a large streamed model). */
export async function* randomChunks(total: number, chunk = 256 * 1024): AsyncGenerator<Uint8Array> {
  for (let sent = 0; sent < total; sent += chunk) yield new Uint8Array(randomBytes(Math.min(chunk, total - sent)));
}

async function readAll(store: ArtifactStore, key: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of (await store.get(key)).body) chunks.push(c);
  return concatBytes(chunks);
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    if (err instanceof TesseraError) return err.code;
    throw err;
  }
}

/** Registers the suite; `open` gives a fresh, empty store (its own prefix) and is called once. */
export function registerStoreSuite(name: string, open: () => Promise<ArtifactStore> | ArtifactStore): void {
  describe(`artifact store suite: ${name}`, () => {
    let store: ArtifactStore;
    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store?.close();
    });

    it('round-trips bytes with put/get/head, reporting the BLAKE2b-256 and size', async () => {
      const bytes = new TextEncoder().encode('model v1 weights');
      const put = await store.put('models/v1.bin', bytes, { contentType: 'application/octet-stream' });
      expect(put).toMatchObject({ key: 'models/v1.bin', hash: contentHash(bytes), size: bytes.length });
      expect(await readAll(store, 'models/v1.bin')).toEqual(bytes);
      const head = await store.head('models/v1.bin');
      expect(head).toMatchObject({ key: 'models/v1.bin', size: bytes.length });
      expect(head!.version).toBe(put.version);
      const object = await store.get('models/v1.bin');
      expect(object.size).toBe(bytes.length);
      for await (const _ of object.body) break; // abandoning a body releases it
    });

    it('streams a multi-megabyte object in and out without changing a byte', async () => {
      const parts: Uint8Array[] = [];
      const source = (async function* () {
        for await (const c of randomChunks(9 * 1024 * 1024 + 12345)) {
          parts.push(c);
          yield c;
        }
      })();
      const put = await store.put('big/model.bin', source);
      const sent = concatBytes(parts);
      expect(put.size).toBe(sent.length);
      expect(put.hash).toBe(contentHash(sent));
      const object = await store.get('big/model.bin');
      expect(object.size).toBe(sent.length);
      let chunks = 0;
      const received: Uint8Array[] = [];
      for await (const c of object.body) {
        chunks++;
        received.push(c);
      }
      expect(chunks).toBeGreaterThan(1);
      expect(contentHash(concatBytes(received))).toBe(put.hash);
      expect(await readVerified(store, 'big/model.bin', { hash: put.hash, size: put.size })).toHaveLength(sent.length);
    });

    it('overwrites a key and changes its version', async () => {
      const first = await store.put('notes/a.txt', new TextEncoder().encode('one'));
      const second = await store.put('notes/a.txt', new TextEncoder().encode('two!'));
      expect(second.version).not.toBe(first.version);
      expect(new TextDecoder().decode(await readAll(store, 'notes/a.txt'))).toBe('two!');
    });

    it('addresses content by its hash; the same bytes twice are one object', async () => {
      const bytes = new Uint8Array(randomBytes(100_000));
      const a = await store.putContent(bytes);
      expect(a.key).toBe(contentKey(contentHash(bytes)));
      const b = await store.putContent(bytes);
      expect(b.key).toBe(a.key);
      expect(b.hash).toBe(a.hash);
      const streamed = await store.putContent((async function* () {
        yield bytes.subarray(0, 50_000);
        yield bytes.subarray(50_000);
      })());
      expect(streamed).toMatchObject({ key: a.key, hash: a.hash, size: bytes.length });
      expect(await getContent(store, a.hash, bytes.length)).toEqual(bytes);
      expect((await store.list('objects/')).filter((o) => o.key === a.key)).toHaveLength(1);
    });

    it('detects a tampered, a truncated and a wrongly sized object in verified reads', async () => {
      const bytes = new Uint8Array(randomBytes(64 * 1024));
      const { hash, key } = await store.putContent(bytes);
      const tampered = bytes.slice();
      tampered[1000] ^= 1;
      await store.put(key, tampered);
      expect(await codeOf(getContent(store, hash))).toBe('INTEGRITY');
      await store.put(key, bytes.subarray(0, bytes.length - 10));
      expect(await codeOf(getContent(store, hash, bytes.length))).toBe('INTEGRITY');
      expect(await codeOf(getContent(store, hash))).toBe('INTEGRITY');
      await store.put(key, bytes);
      expect(await getContent(store, hash, bytes.length)).toEqual(bytes);
      expect(await codeOf(readVerified(store, key, { hash, size: bytes.length + 1 }))).toBe('INTEGRITY');
    });

    it('answers NOT_FOUND, null and false for a missing key', async () => {
      expect(await codeOf(store.get('missing/nothing.bin'))).toBe('NOT_FOUND');
      expect(await store.head('missing/nothing.bin')).toBeNull();
      expect(await store.delete('missing/nothing.bin')).toBe(false);
      expect(await codeOf(getContent(store, contentHash(new Uint8Array([1, 2, 3]))))).toBe('NOT_FOUND');
    });

    it('deletes', async () => {
      await store.put('tmp/x', new Uint8Array([1]));
      expect(await store.delete('tmp/x')).toBe(true);
      expect(await store.head('tmp/x')).toBeNull();
      expect(await store.delete('tmp/x')).toBe(false);
    });

    it('lists by prefix, sorted, without the store’s own pointer files', async () => {
      const one = new Uint8Array([1]);
      for (const k of ['runs/r2/delta.bin', 'runs/r1/b.bin', 'runs/r1/a.bin', 'runsx/z.bin']) await store.put(k, one);
      await store.publishPointer('runs-latest', 'r2', null);
      expect((await store.list('runs/')).map((o) => o.key)).toEqual(['runs/r1/a.bin', 'runs/r1/b.bin', 'runs/r2/delta.bin']);
      expect((await store.list('runs/r1/')).map((o) => o.key)).toEqual(['runs/r1/a.bin', 'runs/r1/b.bin']);
      expect((await store.list('runs')).map((o) => o.key)).toContain('runsx/z.bin');
      expect((await store.list('runs/r1/a')).every((o) => o.size === 1)).toBe(true);
      const all = (await store.list()).map((o) => o.key);
      expect(all).toContain('runs/r2/delta.bin');
      expect(all.some((k) => k.includes('pointer') || k.startsWith('.'))).toBe(false);
      expect(await store.list('nothing-here/')).toEqual([]);
    });

    it('refuses keys that escape or reach into the store’s own files', async () => {
      for (const bad of ['../etc/passwd', '/abs/key', 'a//b', 'a/../b', '.pointers/latest', 'a/./b', '', 'trailing/']) {
        expect(await codeOf(store.put(bad, new Uint8Array([1]))), bad).toBe('BAD_REQUEST');
      }
      expect(await codeOf(store.get('../x'))).toBe('BAD_REQUEST');
      expect(await codeOf(store.publishPointer('../latest', 'x', null))).toBe('BAD_REQUEST');
    });

    it('publishes a pointer by compare-and-swap', async () => {
      expect(await store.readPointer('latest')).toBeNull();
      const v1 = await store.publishPointer('latest', 'model-1', null);
      expect(await store.readPointer('latest')).toEqual(v1);
      expect(await codeOf(store.publishPointer('latest', 'model-x', null))).toBe('CONFLICT');
      const v2 = await store.publishPointer('latest', 'model-2', v1.version);
      expect(v2.version).not.toBe(v1.version);
      const stale = store.publishPointer('latest', 'model-stale', v1.version);
      await expect(stale).rejects.toMatchObject({ code: 'CONFLICT', details: expect.objectContaining({ pointer: 'latest' }) });
      expect(await store.readPointer('latest')).toEqual({ value: 'model-2', version: v2.version });
    });

    it('lets exactly one of several racing publishers win, from absent and from a version', async () => {
      const race = async (name: string, expected: string | null) => {
        const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => store.publishPointer(name, `writer-${i}`, expected)));
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ i, state: r.value }] : []));
        const losers = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as TesseraError] : []));
        expect(winners).toHaveLength(1);
        expect(losers.map((e) => e.code)).toEqual(Array(7).fill('CONFLICT'));
        expect(await store.readPointer(name)).toEqual({ value: `writer-${winners[0].i}`, version: winners[0].state.version });
        return winners[0].state;
      };
      const first = await race('raced', null);
      await race('raced', first.version);
    });
  });
}
