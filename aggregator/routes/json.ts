/** @module Reading request bodies and path parameters with errors that name the field. */
import type { Context } from 'hono';
import { TesseraError } from '../../core/errors.ts';
import type { AppEnv } from '../context.ts';

export async function jsonBody(c: Context<AppEnv>): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(await c.req.arrayBuffer()) || '{}');
  } catch {
    throw new TesseraError('BAD_REQUEST', 'body: expected a JSON object', { field: 'body' });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new TesseraError('BAD_REQUEST', 'body: expected a JSON object', { field: 'body' });
  return body as Record<string, unknown>;
}

export function intParam(c: Context<AppEnv>, name: string): number {
  const raw = c.req.param(name) ?? '';
  const n = Number(raw);
  if (!/^\d{1,9}$/.test(raw) || !Number.isSafeInteger(n)) throw new TesseraError('BAD_REQUEST', `${name}: expected a non-negative integer in the path`, { field: name });
  return n;
}

export function stringField(body: Record<string, unknown>, key: string, pattern = /^.{1,200}$/s): string {
  const v = body[key];
  if (typeof v !== 'string' || !pattern.test(v)) throw new TesseraError('BAD_REQUEST', `${key}: expected a string matching ${pattern}`, { field: key });
  return v;
}
