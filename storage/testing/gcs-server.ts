/** @module A GCS JSON-API server on loopback, enough for @google-cloud/storage: the project's GCS test fixture. */
import { createHash, createSign, randomUUID, verify as verifySignature } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import {
  GcsHttpError, bucketResource, checkPreconditions, checkUploadHashes, listPage, newObject, objectResource, preconditionsOf,
} from './gcs-objects.ts';
import type { GcsObject, Preconditions } from './gcs-objects.ts';

/** A running fixture: its base URL (pass as `apiEndpoint`) and a way to stop it. */
export interface GcsTestServer {
  url: string;
  port: number;
  /** The live objects, for tests that need to look behind the API. */
  buckets: Map<string, { created: Date; objects: Map<string, GcsObject> }>;
  /** The service accounts signBlob signed for, in call order. */
  iamCalls: string[];
  close(): Promise<void>;
}

interface Session {
  bucket: string;
  name: string;
  contentType?: string;
  metadata?: Record<string, string>;
  preconditions: Preconditions;
  chunks: Buffer[];
  received: number;
  result?: Record<string, unknown>;
}

/** Starts the server (port 0: any free port) on 127.0.0.1. */
export interface GcsServerOptions {
  port?: number;
  host?: string;
  buckets?: string[];
  /** Service-account email -> public key (PEM): V4 signed URLs naming it must verify with it. */
  v4Signers?: Record<string, string>;
  /** Service-account email -> private key (PEM): answers the IAM Credentials signBlob call
   *  (`POST /v1/projects/-/serviceAccounts/{email}:signBlob`) for keyless signing. */
  iamSigners?: Record<string, string>;
}

export async function startGcsServer(opts: GcsServerOptions = {}): Promise<GcsTestServer> {
  const buckets: GcsTestServer['buckets'] = new Map();
  for (const b of opts.buckets ?? []) buckets.set(b, { created: new Date(), objects: new Map() });
  const sessions = new Map<string, Session>();
  const iamCalls: string[] = [];
  let base = '';

  const bucketOf = (name: string) => {
    const b = buckets.get(name);
    if (!b) throw new GcsHttpError(404, `The specified bucket does not exist: ${name}`, 'notFound');
    return b;
  };
  const objectOf = (bucket: string, name: string, generation: string | null) => {
    const o = bucketOf(bucket).objects.get(name);
    if (!o || (generation && o.generation !== Number(generation))) throw new GcsHttpError(404, `No such object: ${bucket}/${name}`, 'notFound');
    return o;
  };
  // The only place objects change: preconditions are checked against the live object at commit.
  const commit = (origin: string, bucket: string, name: string, bytes: Buffer, meta: { contentType?: string; metadata?: Record<string, string> }, p: Preconditions, hashes?: string) => {
    const b = bucketOf(bucket);
    if (!name) throw new GcsHttpError(400, 'Required parameter: name', 'required');
    checkPreconditions(b.objects.get(name), p);
    const o = newObject(bucket, name, bytes, meta.contentType, meta.metadata);
    checkUploadHashes(hashes, o);
    b.objects.set(name, o);
    return objectResource(o, origin);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Links name the host the client used (a container name in docker-compose, not 0.0.0.0).
    const origin = req.headers.host ? `http://${req.headers.host}` : base;
    const u = new URL(req.url ?? '/', origin);
    const q = u.searchParams;
    const path = u.pathname;
    const method = req.method ?? 'GET';
    const body = await readBody(req);
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      const text = value === undefined ? '' : JSON.stringify(value);
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text), ...headers });
      res.end(text);
    };
    let m: RegExpMatchArray | null;

    // IAM Credentials signBlob, as a keyless signer calls it: a bearer token, the blob in base64.
    if ((m = path.match(/^\/v1\/projects\/-\/serviceAccounts\/([^/]+):signBlob$/)) && method === 'POST') {
      if (!/^Bearer \S+/.test(String(req.headers.authorization ?? ''))) throw new GcsHttpError(401, 'signBlob needs an access token', 'unauthorized');
      const email = decodeURIComponent(m[1]);
      const privateKey = opts.iamSigners?.[email];
      if (!privateKey) throw new GcsHttpError(403, `Permission 'iam.serviceAccounts.signBlob' denied on ${email}`, 'forbidden');
      const payload = Buffer.from((JSON.parse(body.toString('utf8') || '{}') as { payload?: string }).payload ?? '', 'base64');
      iamCalls.push(email);
      return json(200, { keyId: 'test-key', signedBlob: createSign('RSA-SHA256').update(payload).sign(privateKey).toString('base64') });
    }

    // A V4 signed URL (path style, as getSignedUrl builds it from apiEndpoint): GET only.
    if (q.has('X-Goog-Signature') && (m = path.match(/^\/([^/]+)\/(.+)$/)) && !path.startsWith('/storage/') && !path.startsWith('/upload/')) {
      if (method !== 'GET') throw new GcsHttpError(405, 'signed URLs here are read-only', 'invalid');
      checkV4Signature(req, u, opts.v4Signers);
      return sendMedia(req, res, objectOf(decodeURIComponent(m[1]), decodeURIComponent(m[2]), null));
    }

    if ((m = path.match(/^\/upload\/storage\/v1\/b\/([^/]+)\/o$/))) {
      const bucket = decodeURIComponent(m[1]);
      const type = q.get('uploadType');
      if (method === 'PUT' || q.get('upload_id')) return resumableChunk(req, res, origin, q.get('upload_id') ?? '', body, json);
      if (type === 'media') return json(200, commit(origin, bucket, q.get('name') ?? '', body, { contentType: req.headers['content-type'] }, preconditionsOf(q), hashHeader(req)));
      if (type === 'multipart') {
        const [metaPart, media] = parseMultipart(body, req.headers['content-type'] ?? '');
        const meta = JSON.parse(metaPart.body.toString('utf8') || '{}') as { name?: string; contentType?: string; metadata?: Record<string, string> };
        const contentType = meta.contentType ?? media.headers['content-type'];
        return json(200, commit(origin, bucket, q.get('name') ?? meta.name ?? '', media.body, { contentType, metadata: meta.metadata }, preconditionsOf(q), hashHeader(req)));
      }
      if (type === 'resumable') {
        const meta = body.length ? (JSON.parse(body.toString('utf8')) as { name?: string; contentType?: string; metadata?: Record<string, string> }) : {};
        const name = q.get('name') ?? meta.name ?? '';
        const p = preconditionsOf(q);
        checkPreconditions(bucketOf(bucket).objects.get(name), p);
        const id = randomUUID();
        const contentType = meta.contentType ?? (req.headers['x-upload-content-type'] as string | undefined);
        sessions.set(id, { bucket, name, contentType, metadata: meta.metadata, preconditions: p, chunks: [], received: 0 });
        const location = `${origin}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`;
        return json(200, undefined, { location });
      }
      throw new GcsHttpError(400, `unsupported uploadType ${type}`, 'invalid');
    }

    if ((m = path.match(/^\/storage\/v1\/b\/([^/]+)\/o\/([^/]+)\/(rewriteTo|copyTo)\/b\/([^/]+)\/o\/([^/]+)$/)) && method === 'POST') {
      const src = objectOf(decodeURIComponent(m[1]), decodeURIComponent(m[2]), q.get('sourceGeneration'));
      checkPreconditions(src, { ifGenerationMatch: q.get('ifSourceGenerationMatch'), ifMetagenerationMatch: q.get('ifSourceMetagenerationMatch') });
      const meta = body.length ? (JSON.parse(body.toString('utf8')) as { contentType?: string; metadata?: Record<string, string> }) : {};
      const resource = commit(origin, decodeURIComponent(m[4]), decodeURIComponent(m[5]), src.bytes, { contentType: meta.contentType ?? src.contentType, metadata: meta.metadata ?? src.metadata }, preconditionsOf(q));
      if (m[3] === 'copyTo') return json(200, resource);
      const size = String(src.bytes.length);
      return json(200, { kind: 'storage#rewriteResponse', totalBytesRewritten: size, objectSize: size, done: true, resource });
    }

    if ((m = path.match(/^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o\/([^/]+)$/))) {
      const bucket = decodeURIComponent(m[1]);
      const name = decodeURIComponent(m[2]);
      if (method === 'GET') {
        const o = objectOf(bucket, name, q.get('generation'));
        checkPreconditions(o, preconditionsOf(q), true);
        if (q.get('alt') === 'media' || path.startsWith('/download/')) return sendMedia(req, res, o);
        return json(200, objectResource(o, origin));
      }
      if (method === 'DELETE') {
        const o = objectOf(bucket, name, q.get('generation'));
        checkPreconditions(o, preconditionsOf(q));
        bucketOf(bucket).objects.delete(name);
        return json(204, undefined);
      }
      if (method === 'PATCH' || method === 'PUT') {
        const o = objectOf(bucket, name, q.get('generation'));
        checkPreconditions(o, preconditionsOf(q));
        const patch = JSON.parse(body.toString('utf8') || '{}') as { contentType?: string; metadata?: Record<string, string> };
        if (patch.contentType) o.contentType = patch.contentType;
        if (patch.metadata) o.metadata = { ...o.metadata, ...patch.metadata };
        o.metageneration += 1;
        o.updated = new Date();
        return json(200, objectResource(o, origin));
      }
    }

    if ((m = path.match(/^\/storage\/v1\/b\/([^/]+)\/o$/)) && method === 'GET') {
      const page = listPage(bucketOf(decodeURIComponent(m[1])).objects.values(), q);
      return json(200, {
        kind: 'storage#objects',
        ...(page.items.length ? { items: page.items.map((o) => objectResource(o, origin)) } : {}),
        ...(page.prefixes.length ? { prefixes: page.prefixes } : {}),
        ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
      });
    }

    if (path === '/storage/v1/b' && method === 'POST') {
      const { name } = JSON.parse(body.toString('utf8') || '{}') as { name?: string };
      if (!name || !/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(name)) throw new GcsHttpError(400, `Invalid bucket name: '${name}'`, 'invalid');
      if (buckets.has(name)) throw new GcsHttpError(409, 'Your previous request to create the named bucket succeeded and you already own it.', 'conflict');
      const created = new Date();
      buckets.set(name, { created, objects: new Map() });
      return json(200, bucketResource(name, created));
    }
    if (path === '/storage/v1/b' && method === 'GET') {
      return json(200, { kind: 'storage#buckets', items: [...buckets].map(([n, b]) => bucketResource(n, b.created)) });
    }
    if ((m = path.match(/^\/storage\/v1\/b\/([^/]+)$/))) {
      const name = decodeURIComponent(m[1]);
      const b = bucketOf(name);
      if (method === 'GET') return json(200, bucketResource(name, b.created));
      if (method === 'DELETE') {
        if (b.objects.size) throw new GcsHttpError(409, 'The bucket you tried to delete is not empty.', 'conflict');
        buckets.delete(name);
        return json(204, undefined);
      }
    }
    throw new GcsHttpError(404, `Not Found: ${method} ${path}`, 'notFound');
  }

  function resumableChunk(req: IncomingMessage, res: ServerResponse, origin: string, id: string, body: Buffer, json: (s: number, v: unknown, h?: Record<string, string>) => void): void {
    const s = sessions.get(id);
    if (!s) throw new GcsHttpError(404, `No such upload session: ${id}`, 'notFound');
    if (s.result) return json(200, s.result);
    // Content-Range: "bytes a-b/total", "bytes a-b/*", "bytes a-*/total", "bytes */total" (a status query).
    const range = /^bytes (\*|(\d+)-(\d+|\*))\/(\d+|\*)$/.exec(String(req.headers['content-range'] ?? `bytes 0-*/${body.length}`).trim());
    if (!range) throw new GcsHttpError(400, `bad Content-Range ${req.headers['content-range']}`, 'invalid');
    if (range[1] !== '*') {
      const start = Number(range[2]);
      if (start <= s.received && start + body.length > s.received) {
        const fresh = body.subarray(s.received - start);
        s.chunks.push(fresh);
        s.received += fresh.length;
      }
    }
    const total = range[4] === '*' ? (range[3] === '*' && range[1] !== '*' ? s.received : undefined) : Number(range[4]);
    if (total === undefined || s.received < total) {
      const headers: Record<string, string> = s.received > 0 ? { range: `bytes=0-${s.received - 1}` } : {};
      res.writeHead(308, { ...headers, 'content-length': '0' });
      res.end();
      return;
    }
    if (s.received > total) throw new GcsHttpError(400, `received ${s.received} bytes, more than the declared ${total}`, 'invalid');
    sessions.delete(id);
    s.result = commit(origin, s.bucket, s.name, Buffer.concat(s.chunks), s, s.preconditions, hashHeader(req));
    json(200, s.result);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const e = err instanceof GcsHttpError ? err : new GcsHttpError(500, String((err as Error)?.stack ?? err), 'backendError');
      if (res.headersSent) return void res.destroy();
      const text = e.status === 304 ? '' : JSON.stringify({ error: { code: e.status, message: e.message, errors: [{ domain: 'global', reason: e.reason, message: e.message }] } });
      res.writeHead(e.status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  base = `http://${address}:${port}`;
  return {
    url: base,
    port,
    buckets,
    iamCalls,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function hashHeader(req: IncomingMessage): string | undefined {
  const h = req.headers['x-goog-hash'];
  return Array.isArray(h) ? h.join(',') : h;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Sends an object's bytes with the headers the client library validates (x-goog-hash) and Range support. */
function sendMedia(req: IncomingMessage, res: ServerResponse, o: GcsObject): void {
  const size = o.bytes.length;
  const headers: Record<string, string | number> = {
    'content-type': o.contentType,
    'x-goog-hash': `crc32c=${o.crc32c},md5=${o.md5Hash}`,
    'x-goog-generation': String(o.generation),
    'x-goog-metageneration': String(o.metageneration),
    'x-goog-stored-content-encoding': 'identity',
    'x-goog-stored-content-length': String(size),
    etag: `"${Buffer.from(o.md5Hash, 'base64').toString('hex')}"`,
    'accept-ranges': 'bytes',
    'last-modified': o.updated.toUTCString(),
  };
  const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''));
  if (!range || (range[1] === '' && range[2] === '')) {
    res.writeHead(200, { ...headers, 'content-length': size });
    return void res.end(o.bytes);
  }
  let start = range[1] === '' ? Math.max(0, size - Number(range[2])) : Number(range[1]);
  const end = range[1] === '' || range[2] === '' ? size - 1 : Math.min(Number(range[2]), size - 1);
  if (start >= size || start > end) {
    res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-length': 0 });
    return void res.end();
  }
  start = Math.max(0, start);
  delete headers['x-goog-hash']; // a range cannot be checked against whole-object hashes
  res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': end - start + 1 });
  res.end(o.bytes.subarray(start, end + 1));
}

/**
 * Checks a V4 signed URL: not expired, and (when the server knows signers' public keys) signed by
 * the named service account over GCS's canonical request (method, path, sorted query without the
 * signature, the host header, UNSIGNED-PAYLOAD). Without signers only the expiry is checked.
 */
function checkV4Signature(req: IncomingMessage, u: URL, signers: Record<string, string> | undefined): void {
  const q = u.searchParams;
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(q.get('X-Goog-Date') ?? '');
  const expires = Number(q.get('X-Goog-Expires'));
  if (q.get('X-Goog-Algorithm') !== 'GOOG4-RSA-SHA256' || !date || !Number.isInteger(expires)) throw new GcsHttpError(400, 'malformed V4 signed URL', 'invalid');
  const signedAt = Date.UTC(+date[1], +date[2] - 1, +date[3], +date[4], +date[5], +date[6]);
  if (Date.now() > signedAt + expires * 1000) throw new GcsHttpError(400, 'ExpiredToken: the signed URL has expired', 'invalid');
  if (!signers) return;
  const credential = q.get('X-Goog-Credential') ?? '';
  const email = credential.split('/')[0];
  const publicKey = signers[email];
  if (!publicKey) throw new GcsHttpError(403, `AccessDenied: unknown signer ${email}`, 'forbidden');
  const query = u.search.slice(1).split('&').filter((p) => !p.startsWith('X-Goog-Signature=')).sort((a, b) => (a.split('=')[0] < b.split('=')[0] ? -1 : 1)).join('&');
  const host = String(req.headers.host ?? '').replace(/:\d+$/, '');
  const canonical = ['GET', u.pathname, query, `host:${host}\n`, q.get('X-Goog-SignedHeaders') ?? 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const toSign = ['GOOG4-RSA-SHA256', q.get('X-Goog-Date'), credential.split('/').slice(1).join('/'), createHash('sha256').update(canonical).digest('hex')].join('\n');
  if (!verifySignature('RSA-SHA256', Buffer.from(toSign), publicKey, Buffer.from(q.get('X-Goog-Signature') ?? '', 'hex'))) {
    throw new GcsHttpError(403, 'SignatureDoesNotMatch: the V4 signature does not verify', 'forbidden');
  }
}

/** Splits a multipart/related body into its parts (headers lower-cased). */
function parseMultipart(body: Buffer, contentType: string): { headers: Record<string, string>; body: Buffer }[] {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!boundary) throw new GcsHttpError(400, 'multipart upload without a boundary', 'invalid');
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    const part = body.subarray(start + 2, next - 2); // skip CRLF after the delimiter and before the next
    const split = part.indexOf('\r\n\r\n');
    const headers: Record<string, string> = {};
    for (const line of part.subarray(0, split).toString('utf8').split('\r\n')) {
      const c = line.indexOf(':');
      if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
    }
    parts.push({ headers, body: part.subarray(split + 4) });
    at = next;
  }
  if (parts.length !== 2) throw new GcsHttpError(400, `multipart upload needs 2 parts, got ${parts.length}`, 'invalid');
  return parts;
}

// CLI: `npx tsx storage/testing/gcs-server.ts --port 4443 [--host 0.0.0.0] [--bucket name]...`
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const value = (flag: string): string | undefined => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
  const buckets = args.flatMap((a, i) => (a === '--bucket' ? [args[i + 1]] : []));
  const server = await startGcsServer({ port: Number(value('--port') ?? 4443), host: value('--host') ?? '127.0.0.1', buckets });
  console.log(`GCS test server listening on ${server.url} (buckets: ${buckets.join(', ') || 'none'})`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
