/**
 * @module HTTP transport to the aggregator: signs member requests, retries network failures and
 * 5xx/429 answers with exponential backoff, and turns error bodies into TesseraErrors.
 * Each retry is signed anew (fresh timestamp and nonce); the aggregator's idempotent slots make
 * a retried upload safe.
 */
import type { ErrorCode } from '../core/errors.ts';
import { TesseraError } from '../core/errors.ts';
import { signedRequestHeaders } from '../crypto/request-signer.ts';

export interface MemberCredentials {
  memberId: string;
  secretKey: Uint8Array;
}

export interface TransportOptions {
  baseUrl: string;
  member?: MemberCredentials;
  /** Operator or auditor bearer token, for the CLI's operator commands. */
  bearer?: string;
  retries?: number;
  backoffMs?: number;
  now?: () => number;
  fetch?: typeof fetch;
  onRetry?: (info: { attempt: number; error: string; waitMs: number }) => void;
}

export interface RequestOptions {
  body?: Uint8Array | Record<string, unknown>;
  headers?: Record<string, string>;
  /** Retry on network errors and 5xx (default true). */
  retry?: boolean;
  /** Aborts the request (a held long poll when the member stops). */
  signal?: AbortSignal;
}

export class Transport {
  constructor(readonly opts: TransportOptions) {}

  private headersFor(method: string, path: string, body: Uint8Array): Record<string, string> {
    const h: Record<string, string> = {};
    if (this.opts.bearer) h.authorization = `Bearer ${this.opts.bearer}`;
    const m = this.opts.member;
    if (m) Object.assign(h, signedRequestHeaders({ method, path, body, memberId: m.memberId, secretKey: m.secretKey, now: this.opts.now }));
    return h;
  }

  /** Sends one request; resolves with the response on 2xx, throws TesseraError otherwise. */
  async send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const isJson = opts.body !== undefined && !(opts.body instanceof Uint8Array);
    const body = opts.body === undefined ? new Uint8Array(0) : isJson ? new TextEncoder().encode(JSON.stringify(opts.body)) : (opts.body as Uint8Array);
    const retries = opts.retry === false ? 0 : (this.opts.retries ?? 5);
    const doFetch = this.opts.fetch ?? fetch;
    for (let attempt = 0; ; attempt++) {
      let failure: string;
      try {
        const res = await doFetch(this.opts.baseUrl + path, {
          method,
          headers: {
            ...(isJson ? { 'content-type': 'application/json' } : body.length ? { 'content-type': 'application/octet-stream' } : {}),
            ...opts.headers,
            ...this.headersFor(method, path, body),
          },
          body: method === 'GET' || method === 'HEAD' ? undefined : (body as Uint8Array<ArrayBuffer>),
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        // 304 answers a conditional request (If-None-Match) the caller made: nothing changed.
        if (res.ok || (res.status === 304 && opts.headers?.['if-none-match'] !== undefined)) return res;
        if (res.status < 500 && res.status !== 429) throw await errorFrom(res);
        if (attempt >= retries) {
          // Out of retries: the aggregator's own code (e.g. STORE_UNAVAILABLE) is kept, not hidden behind INTERNAL.
          const last = await errorFrom(res);
          throw new TesseraError(last.code, `${method} ${path} failed after ${attempt + 1} attempts: ${last.message}`, { field: last.field, details: last.details });
        }
        failure = `HTTP ${res.status}`;
        await res.body?.cancel();
      } catch (e) {
        if (e instanceof TesseraError || opts.signal?.aborted) throw e;
        failure = (e as Error).message;
      }
      if (attempt >= retries) throw new TesseraError('INTERNAL', `${method} ${path} failed after ${attempt + 1} attempts: ${failure}`);
      const waitMs = Math.min(30_000, (this.opts.backoffMs ?? 200) * 2 ** attempt) * (0.5 + Math.random() / 2);
      this.opts.onRetry?.({ attempt: attempt + 1, error: failure, waitMs });
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }

  async json<T = Record<string, unknown>>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return (await (await this.send(method, path, opts)).json()) as T;
  }

  async bytes(method: string, path: string, opts: RequestOptions = {}): Promise<{ bytes: Uint8Array; headers: Headers }> {
    const res = await this.send(method, path, opts);
    return { bytes: new Uint8Array(await res.arrayBuffer()), headers: res.headers };
  }
}

async function errorFrom(res: Response): Promise<TesseraError> {
  const text = await res.text();
  try {
    const { error } = JSON.parse(text) as { error: { code: ErrorCode; message: string; field?: string; details?: Record<string, unknown> } };
    return new TesseraError(error.code, error.message, { field: error.field, details: { ...error.details, status: res.status } });
  } catch {
    return new TesseraError('INTERNAL', `HTTP ${res.status}: ${text.slice(0, 200)}`, { details: { status: res.status } });
  }
}
