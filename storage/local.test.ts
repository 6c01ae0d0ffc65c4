/** @module The adapter suite on a local directory, plus what only the local store does (atomic files, stale locks). */
import { mkdtemp, readdir, rm, utimes, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalStore } from './local.ts';
import { registerStoreSuite } from './store-suite.ts';

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-local-store-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

registerStoreSuite('local directory', async () => new LocalStore(await freshDir()));

describe('LocalStore specifics', () => {
  it('leaves no temp files behind and keeps its own files out of listings', async () => {
    const root = await freshDir();
    const store = new LocalStore(root);
    await store.put('a/b.bin', new Uint8Array([1, 2]));
    await store.putContent(new Uint8Array([3]));
    await store.publishPointer('latest', 'x', null);
    expect(await readdir(join(root, '.tmp'))).toEqual([]);
    expect((await store.list()).map((o) => o.key)).toEqual(['a/b.bin', expect.stringMatching(/^objects\/[0-9a-f]{64}$/)]);
  });

  it('keeps the old bytes when a streamed write fails midway', async () => {
    const root = await freshDir();
    const store = new LocalStore(root);
    await store.put('m.bin', new Uint8Array([9, 9, 9]));
    const failing = (async function* () {
      yield new Uint8Array(1000);
      throw new Error('network dropped');
    })();
    await expect(store.put('m.bin', failing)).rejects.toThrow('network dropped');
    const chunks: Uint8Array[] = [];
    for await (const c of (await store.get('m.bin')).body) chunks.push(c);
    expect(Buffer.concat(chunks)).toEqual(Buffer.from([9, 9, 9]));
    expect(await readdir(join(root, '.tmp'))).toEqual([]);
  });

  it('breaks a pointer lock left by a crashed writer, but waits on a live one', async () => {
    const root = await freshDir();
    const store = new LocalStore(root, { staleLockMs: 1000 });
    await mkdir(join(root, '.pointers'), { recursive: true });
    const lock = join(root, '.pointers', 'latest.json.lock');
    await writeFile(lock, 'crashed');
    const old = new Date(Date.now() - 5000);
    await utimes(lock, old, old);
    expect(await store.publishPointer('latest', 'v1', null)).toEqual({ value: 'v1', version: '1' });

    await writeFile(lock, 'live');
    let done = false;
    const pending = store.publishPointer('latest', 'v2', '1').then((r) => ((done = true), r));
    await new Promise((r) => setTimeout(r, 200));
    expect(done).toBe(false);
    await rm(lock);
    expect(await pending).toEqual({ value: 'v2', version: '2' });
  });
});
