/** @module The GCS test server speaks the JSON API the way GCS does: raw HTTP checks plus @google-cloud/storage. */
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c, crc32cBase64 } from './crc32c.ts';
import { startGcsServer } from './gcs-server.ts';
import type { GcsTestServer } from './gcs-server.ts';

let server: GcsTestServer;
let base: string;
beforeAll(async () => {
  server = await startGcsServer({ buckets: ['fixture'] });
  base = server.url;
});
afterAll(async () => {
  await server.close();
});

const media = (name: string, body: string, query = '') =>
  fetch(`${base}/upload/storage/v1/b/fixture/o?uploadType=media&name=${encodeURIComponent(name)}${query}`, { method: 'POST', body });

describe('GCS test server', () => {
  it('computes CRC32C as GCS does', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32cBase64(crc32c(new Uint8Array(0)))).toBe('AAAAAA==');
  });

  it('stores media uploads with md5Hash, crc32c and generations, and serves alt=media with x-goog-hash', async () => {
    const meta = (await (await media('dir/a.txt', 'hello')).json()) as Record<string, string>;
    expect(meta).toMatchObject({ name: 'dir/a.txt', size: '5', md5Hash: 'XUFAKrxLKna5cZ2REBfFkg==', crc32c: crc32cBase64(crc32c(new TextEncoder().encode('hello'))) });
    const res = await fetch(`${base}/storage/v1/b/fixture/o/${encodeURIComponent('dir/a.txt')}?alt=media`);
    expect(await res.text()).toBe('hello');
    expect(res.headers.get('x-goog-hash')).toBe(`crc32c=${meta.crc32c},md5=${meta.md5Hash}`);
    expect(res.headers.get('x-goog-generation')).toBe(meta.generation);
    const ranged = await fetch(`${base}/storage/v1/b/fixture/o/${encodeURIComponent('dir/a.txt')}?alt=media`, { headers: { range: 'bytes=1-3' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe('bytes 1-3/5');
    expect(await ranged.text()).toBe('ell');
    expect((await fetch(`${base}/storage/v1/b/fixture/o/x?alt=media`, { headers: { range: 'bytes=9-' } })).status).toBe(404);
  });

  it('answers preconditions with 412 (ifGenerationMatch incl. 0, ifMetagenerationMatch) and 304 on reads', async () => {
    const first = (await (await media('pre', 'v1', '&ifGenerationMatch=0')).json()) as Record<string, string>;
    expect((await media('pre', 'again', '&ifGenerationMatch=0')).status).toBe(412);
    expect((await media('pre', 'stale', '&ifGenerationMatch=1')).status).toBe(412);
    const second = (await (await media('pre', 'v2', `&ifGenerationMatch=${first.generation}`)).json()) as Record<string, string>;
    expect(BigInt(second.generation)).toBeGreaterThan(BigInt(first.generation));
    const patch = (q: string) => fetch(`${base}/storage/v1/b/fixture/o/pre?${q}`, { method: 'PATCH', body: JSON.stringify({ metadata: { k: 'v' } }) });
    expect((await patch('ifMetagenerationMatch=1')).status).toBe(200);
    expect((await patch('ifMetagenerationMatch=1')).status).toBe(412);
    expect((await fetch(`${base}/storage/v1/b/fixture/o/pre?ifGenerationNotMatch=${second.generation}`)).status).toBe(304);
    const error = (await (await media('pre', 'x', '&ifGenerationMatch=0')).json()) as { error: { code: number; errors: { reason: string }[] } };
    expect(error.error).toMatchObject({ code: 412, errors: [{ reason: 'conditionNotMet' }] });
    expect((await fetch(`${base}/storage/v1/b/fixture/o/pre?ifGenerationMatch=1`, { method: 'DELETE' })).status).toBe(412);
    expect((await fetch(`${base}/storage/v1/b/fixture/o/pre`, { method: 'DELETE' })).status).toBe(204);
  });

  it('runs a resumable session: chunks with Content-Range, 308 with Range, status query, final object', async () => {
    const init = await fetch(`${base}/upload/storage/v1/b/fixture/o?uploadType=resumable&name=res.bin`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    const session = init.headers.get('location')!;
    expect(session).toContain('upload_id=');
    const put = (body: string, range: string) => fetch(session, { method: 'PUT', body, headers: { 'content-range': range } });
    const r1 = await put('abcd', 'bytes 0-3/*');
    expect(r1.status).toBe(308);
    expect(r1.headers.get('range')).toBe('bytes=0-3');
    const status = await put('', 'bytes */*');
    expect(status.status).toBe(308);
    expect(status.headers.get('range')).toBe('bytes=0-3');
    const r2 = await put('cdefgh', 'bytes 2-7/8'); // overlaps what it already has: only new bytes count
    expect(r2.status).toBe(200);
    expect(((await r2.json()) as { size: string }).size).toBe('8');
    expect(await (await fetch(`${base}/storage/v1/b/fixture/o/res.bin?alt=media`)).text()).toBe('abcdefgh');
  });

  it('lists with prefix, delimiter and page tokens', async () => {
    for (const n of ['l/a/1', 'l/a/2', 'l/b', 'l/c/3', 'l/d']) await media(n, 'x');
    const list = async (q: string) => (await (await fetch(`${base}/storage/v1/b/fixture/o?${q}`)).json()) as { items?: { name: string }[]; prefixes?: string[]; nextPageToken?: string };
    const page1 = await list('prefix=l/&delimiter=/&maxResults=2');
    expect(page1.prefixes).toEqual(['l/a/']);
    expect(page1.items!.map((i) => i.name)).toEqual(['l/b']);
    const page2 = await list(`prefix=l/&delimiter=/&maxResults=2&pageToken=${page1.nextPageToken}`);
    expect(page2.prefixes).toEqual(['l/c/']);
    expect(page2.items!.map((i) => i.name)).toEqual(['l/d']);
    expect(page2.nextPageToken).toBeUndefined();
  });

  it('serves @google-cloud/storage without credentials: buckets, multipart, resumable, copy, download validation', async () => {
    const storage = new Storage({ apiEndpoint: base, projectId: 'tessera-test' });
    await storage.createBucket('lib-bucket');
    await expect(storage.createBucket('lib-bucket')).rejects.toMatchObject({ code: 409 });
    const bucket = storage.bucket('lib-bucket');
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 7, 5);
    await bucket.file('multi').save(bytes, { resumable: false });
    await bucket.file('resumable').save(bytes, { resumable: true, chunkSize: 1024 * 1024 });
    await bucket.file('multi').copy(bucket.file('copied'));
    for (const name of ['multi', 'resumable', 'copied']) expect((await bucket.file(name).download({ validation: 'crc32c' }))[0].equals(bytes)).toBe(true);
    const [files] = await bucket.getFiles();
    expect(files.map((f) => f.name)).toEqual(['copied', 'multi', 'resumable']);
    await expect(bucket.file('nope').download()).rejects.toMatchObject({ code: 404 });
  });
});
