/** @module The SSRF rule for member-given URLs: scheme, address, redirects, size and time limits. */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchUntrustedUrl, isNonPublicAddress } from './fetch-url.ts';

let server: Server;
let base = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/redirect') return void res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    if (req.url === '/big') return void res.writeHead(200, { 'content-length': 1000 }).end(Buffer.alloc(1000));
    if (req.url === '/chunked') {
      res.writeHead(200);
      res.write(Buffer.alloc(600));
      return void res.end(Buffer.alloc(600));
    }
    if (req.url === '/slow') return void setTimeout(() => res.writeHead(200).end('late'), 2000);
    if (req.url === '/missing') return void res.writeHead(403).end('expired');
    res.writeHead(200).end('hello');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string }) => e.code);

describe('fetching a member-given URL', () => {
  it('classifies addresses: loopback, private, link-local (cloud metadata), CGNAT, ULA and mapped IPv4 are not public', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.5', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', 'not-an-ip']) expect(isNonPublicAddress(a), a).toBe(true);
    for (const a of ['8.8.8.8', '142.250.74.46', '2607:f8b0:4004:800::200e', '::ffff:8.8.8.8']) expect(isNonPublicAddress(a), a).toBe(false);
  });

  it('refuses non-http schemes, credentials in the URL, and private targets by literal address or by DNS name', async () => {
    expect(await codeOf(fetchUntrustedUrl('file:///etc/passwd', 100))).toBe('URL_REFUSED');
    expect(await codeOf(fetchUntrustedUrl('ftp://example.com/x', 100))).toBe('URL_REFUSED');
    expect(await codeOf(fetchUntrustedUrl(`http://user:pw@example.com/`, 100))).toBe('URL_REFUSED');
    expect(await codeOf(fetchUntrustedUrl(`${base}/`, 100))).toBe('URL_REFUSED');
    expect(await codeOf(fetchUntrustedUrl(`http://[::1]:1/`, 100))).toBe('URL_REFUSED');
    expect(await codeOf(fetchUntrustedUrl(base.replace('127.0.0.1', 'localhost') + '/', 100))).toBe('URL_REFUSED');
  });

  it('with private targets allowed (tests): fetches, never follows redirects, caps size and time', async () => {
    const allow = { allowPrivate: true, timeoutMs: 300 };
    expect(new TextDecoder().decode(await fetchUntrustedUrl(`${base}/`, 100, allow))).toBe('hello');
    expect(await codeOf(fetchUntrustedUrl(`${base}/redirect`, 100, allow))).toBe('URL_REFUSED');
    expect(await codeOf(fetchUntrustedUrl(`${base}/big`, 999, allow))).toBe('TOO_LARGE');
    expect(await codeOf(fetchUntrustedUrl(`${base}/chunked`, 1000, allow))).toBe('TOO_LARGE');
    expect(await codeOf(fetchUntrustedUrl(`${base}/slow`, 100, allow))).toBe('STORE_UNAVAILABLE');
    expect(await codeOf(fetchUntrustedUrl(`${base}/missing`, 100, allow))).toBe('STORE_UNAVAILABLE');
  });
});
