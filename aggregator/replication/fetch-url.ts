/**
 * @module Fetching a member's update from a URL it handed in (a GCS V4 signed URL, an Azure SAS).
 * The aggregator is the one making the request, so the URL is untrusted (SSRF): only http(s);
 * no redirects; every address the host resolves to (and the one actually connected) must be a
 * public unicast address unless `allowPrivate` is set (tests, a compose network); a size cap
 * enforced on Content-Length and on the bytes as they arrive; one overall timeout.
 */
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';
import { concatBytes } from '../../core/artifact-store.ts';
import { TesseraError } from '../../core/errors.ts';

export interface SafeFetchOptions {
  /** Allow loopback, private, link-local and other non-public targets (tests, docker-compose). */
  allowPrivate?: boolean;
  /** Whole request deadline, ms (default 60 s). */
  timeoutMs?: number;
}

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.0.2.0', 24],
  ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96], ['2001:db8::', 32]] as const) blocked.addSubnet(net, prefix, 'ipv6');

/** True for addresses an untrusted URL must not reach (IPv4-mapped IPv6 is checked as IPv4). */
export function isNonPublicAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return blocked.check(mapped, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  return blocked.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const refused = (url: string, why: string) => new TesseraError('URL_REFUSED', `url: ${why} (${redact(url)}); hand in an https URL of your bucket or container`, { field: 'url' });

/** The URL without its query (signatures and SAS tokens stay out of errors and logs). */
export const redact = (url: string): string => url.split('?')[0].slice(0, 300);

/**
 * GETs `url` and returns its body, at most `maxBytes`. Refusals are URL_REFUSED (400); an
 * unreachable or failing store STORE_UNAVAILABLE (503); a body over the cap TOO_LARGE (413).
 */
export async function fetchUntrustedUrl(url: string, maxBytes: number, opts: SafeFetchOptions = {}): Promise<Uint8Array> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw refused(url, 'not a URL');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw refused(url, `scheme ${u.protocol} is not allowed`);
  if (u.username || u.password) throw refused(url, 'credentials in the URL are not allowed');
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && !opts.allowPrivate && isNonPublicAddress(host)) throw refused(url, `${host} is not a public address`);
  // Checked at connect time too, so a DNS answer that changes between check and use cannot slip through.
  const guardedLookup = (hostname: string, options: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const list = addresses as LookupAddress[];
      const bad = opts.allowPrivate ? undefined : list.find((a) => isNonPublicAddress(a.address));
      if (bad) return callback(Object.assign(new Error(`${hostname} resolves to ${bad.address}, not a public address`), { code: 'TESSERA_REFUSED' }), '');
      if (options.all) return callback(null, list);
      callback(null, list[0].address, list[0].family);
    });
  };
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise<Uint8Array>((resolve, reject) => {
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(u, { method: 'GET', lookup: guardedLookup as never, headers: { accept: '*/*' } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400) {
        res.resume();
        return reject(refused(url, `the store answered a redirect (${status}); redirects are not followed`));
      }
      if (status !== 200) {
        res.resume();
        return reject(new TesseraError('STORE_UNAVAILABLE', `url: the store answered HTTP ${status} for ${redact(url)} (expired or wrong signature?)`, { field: 'url', details: { status: status } }));
      }
      const declared = Number(res.headers['content-length'] ?? NaN);
      if (declared > maxBytes) {
        res.destroy();
        return reject(new TesseraError('TOO_LARGE', `url: the object is ${declared} bytes, more than the ${maxBytes} allowed`, { field: 'url' }));
      }
      const chunks: Uint8Array[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          res.destroy();
          return reject(new TesseraError('TOO_LARGE', `url: the object is more than the ${maxBytes} bytes allowed`, { field: 'url' }));
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve(concatBytes(chunks)));
      res.on('error', (e) => reject(new TesseraError('STORE_UNAVAILABLE', `url: reading ${redact(url)} failed: ${e.message}`, { field: 'url' })));
    });
    const timer = setTimeout(() => req.destroy(new Error(`no complete answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === 'TESSERA_REFUSED' ? refused(url, e.message) : new TesseraError('STORE_UNAVAILABLE', `url: ${redact(url)}: ${e.message}`, { field: 'url' }));
    });
    req.end();
  });
}
