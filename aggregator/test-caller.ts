/**
 * @module A test-only caller for `app.request()`: bearer credentials or member-signed requests
 * (built from core/request-signing, as a member's client does), and enrollment. Lets aggregator
 * tests act as every role without importing clients/ (a sibling layer).
 */
import type { Hono } from 'hono';
import { TesseraError } from '../core/errors.ts';
import type { ErrorCode } from '../core/errors.ts';
import { enrollmentMessage } from '../core/request-signing.ts';
import { generateIdentity, sign, toBase64 } from '../crypto/identity.ts';
import { signedRequestHeaders } from '../crypto/request-signer.ts';
import type { AppEnv } from './context.ts';

export interface Caller {
  /** Any status; the body is JSON unless it is bytes. */
  send(method: string, path: string, opts?: { body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  /** 2xx JSON, else throws TesseraError(code, message, {field, details: {status}}). */
  json<T = Record<string, unknown>>(method: string, path: string, opts?: { body?: unknown; headers?: Record<string, string> }): Promise<T>;
}

export function caller(app: Hono<AppEnv>, who: { bearer?: string; member?: { memberId: string; secretKey: Uint8Array }; now?: () => number } = {}): Caller {
  const send: Caller['send'] = async (method, path, opts = {}) => {
    const bytes = opts.body === undefined ? new Uint8Array(0) : opts.body instanceof Uint8Array ? opts.body : new TextEncoder().encode(JSON.stringify(opts.body));
    const headers: Record<string, string> = { ...opts.headers };
    if (who.bearer) headers.authorization = `Bearer ${who.bearer}`;
    if (who.member) Object.assign(headers, signedRequestHeaders({ method, path, body: bytes, ...who.member, now: who.now }));
    return app.request(`http://aggregator${path}`, { method, headers, body: method === 'GET' ? undefined : (bytes as Uint8Array<ArrayBuffer>) });
  };
  return {
    send,
    async json<T>(method: string, path: string, opts?: { body?: unknown; headers?: Record<string, string> }): Promise<T> {
      const res = await send(method, path, opts);
      const body = (await res.json()) as T & { error?: { code: ErrorCode; message: string; field?: string } };
      if (!res.ok) throw new TesseraError(body.error!.code, body.error!.message, { field: body.error!.field, details: { status: res.status } });
      return body;
    },
  };
}

/** Enrolls a new member with an invitation token; returns its id and a signing caller. */
export async function enrollMember(app: Hono<AppEnv>, federationId: string, token: string, now?: () => number): Promise<{ memberId: string; caller: Caller }> {
  const keys = generateIdentity();
  const publicKey = toBase64(keys.publicKey);
  const proof = toBase64(sign(enrollmentMessage(federationId, token, publicKey), keys.secretKey));
  const { member } = await caller(app).json<{ member: { id: string } }>('POST', `/v1/federations/${federationId}/enroll`, { body: { token, publicKey, proof } });
  return { memberId: member.id, caller: caller(app, { member: { memberId: member.id, secretKey: keys.secretKey }, now }) };
}
