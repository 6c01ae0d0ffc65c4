/**
 * @module Dashboard sessions. Signing in trades an operator or auditor bearer credential for a
 * session cookie that never holds the token: `<credentialId>.<expiresAt>.<nonce>.<mac>`, where mac
 * is HMAC-SHA256 under a key derived from the ledger key (so every aggregator process sharing that
 * key accepts it and a restart keeps sessions). The credential is looked up on every request, so
 * revoking it ends its sessions at once. Cookies are HttpOnly, SameSite=Strict, Secure over HTTPS.
 *
 * CSRF: SameSite=Strict, plus a per-session token (an HMAC of the cookie) in every POST form; the
 * sign-in form carries a signed double-submit token bound to a short-lived pre-session cookie.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { TesseraError } from '../../core/errors.ts';
import { credentials } from '../../schema/index.ts';
import type { Principal } from '../auth.ts';
import { tokenHash } from '../auth.ts';
import type { AppEnv } from '../context.ts';
import type { LedgerKey } from '../ledger/entry.ts';

export const SESSION_COOKIE = 'tessera_session';
export const SIGN_IN_COOKIE = 'tessera_sign_in';
/** Absolute session lifetime; sign in again after it. */
export const SESSION_TTL_MS = 8 * 3600_000;
const SIGN_IN_TTL_S = 3600;

/** The dashboard's environment: the API's, plus the signed-in session's CSRF token. */
export interface DashboardEnv {
  Variables: AppEnv['Variables'] & { csrf: string };
}

type Staff = Extract<Principal, { role: 'operator' | 'auditor' }>;

const macKeys = new WeakMap<LedgerKey, Buffer>();
function macKey(key: LedgerKey): Buffer {
  let k = macKeys.get(key);
  if (!k) {
    k = createHmac('sha256', key.secretKey).update('tessera-dashboard-session-key-v1').digest();
    macKeys.set(key, k);
  }
  return k;
}

const mac = (key: LedgerKey, purpose: string, text: string): string => createHmac('sha256', macKey(key)).update(`${purpose}\n${text}`).digest('base64url');

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** HTTPS as the browser sees it: directly, or behind a TLS terminator that says so. */
export function isHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto')?.split(',')[0].trim() === 'https';
}

const cookieOptions = (c: Context, maxAge: number, path = '/') => ({ httpOnly: true, sameSite: 'Strict' as const, secure: isHttps(c), path, maxAge });

/** The session cookie value for a credential (no token inside; only its id, expiry and a MAC). */
export function sessionValue(key: LedgerKey, credentialId: string, expiresAt: number): string {
  const body = `${credentialId}.${expiresAt}.${randomBytes(12).toString('base64url')}`;
  return `${body}.${mac(key, 'session', body)}`;
}

/** The credential id of a well-formed, authentic, unexpired session value; else null. */
export function readSessionValue(key: LedgerKey, value: string, now: number): string | null {
  const parts = value.split('.');
  if (parts.length !== 4) return null;
  const [id, expires, , tag] = parts;
  if (!sameText(tag, mac(key, 'session', parts.slice(0, 3).join('.')))) return null;
  if (!/^\d{1,15}$/.test(expires) || Number(expires) <= now) return null;
  return id;
}

/** The CSRF token of a session: forms carry it, POSTs must return it. */
export const csrfToken = (key: LedgerKey, session: string): string => mac(key, 'csrf', session);

/** Looks a bearer token up: an unrevoked operator or auditor credential, else null. */
export async function staffCredential(c: Context<DashboardEnv>, token: string): Promise<Staff | null> {
  const [row] = await c.var.db.select().from(credentials).where(and(eq(credentials.tokenHash, tokenHash(token)), isNull(credentials.revokedAt)));
  if (!row || (row.role !== 'operator' && row.role !== 'auditor')) return null;
  return { role: row.role, credentialId: row.id, label: row.label };
}

/** Starts a session for the credential: sets the cookie, drops the sign-in cookie. */
export function startSession(c: Context<DashboardEnv>, who: Staff): void {
  const value = sessionValue(c.var.ledgerKey, who.credentialId, c.var.now() + SESSION_TTL_MS);
  setCookie(c, SESSION_COOKIE, value, cookieOptions(c, SESSION_TTL_MS / 1000));
  deleteCookie(c, SIGN_IN_COOKIE, { path: '/sign-in', secure: isHttps(c) });
}

export function endSession(c: Context<DashboardEnv>): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/', secure: isHttps(c) });
}

/**
 * Requires a live session: sets `principal` and `csrf`. Without one, a page view is sent to the
 * sign-in page; anything else is refused with 401.
 */
export const signedIn: MiddlewareHandler<DashboardEnv> = async (c, next) => {
  const value = getCookie(c, SESSION_COOKIE);
  const id = value ? readSessionValue(c.var.ledgerKey, value, c.var.now()) : null;
  const [row] = id ? await c.var.db.select().from(credentials).where(and(eq(credentials.id, id), isNull(credentials.revokedAt))) : [];
  if (!row || (row.role !== 'operator' && row.role !== 'auditor')) {
    if (value) endSession(c);
    if (c.req.method === 'GET') return c.redirect('/sign-in', 303);
    throw new TesseraError('UNAUTHENTICATED', 'your dashboard session has ended; sign in again');
  }
  c.set('principal', { role: row.role, credentialId: row.id, label: row.label });
  c.set('csrf', csrfToken(c.var.ledgerKey, value!));
  await next();
};

/** POST forms must return the session's CSRF token (field `csrf`); run after `signedIn`. */
export const csrfChecked: MiddlewareHandler<DashboardEnv> = async (c, next) => {
  const form = await c.req.parseBody();
  const sent = typeof form.csrf === 'string' ? form.csrf : '';
  if (!sameText(sent, c.var.csrf)) throw new TesseraError('FORBIDDEN', 'this form is stale or came from another site (CSRF token mismatch); reload the page and try again');
  await next();
};

/** For the sign-in form: a fresh pre-session cookie and the token the form must send back. */
export function signInChallenge(c: Context<DashboardEnv>): string {
  const nonce = getCookie(c, SIGN_IN_COOKIE) ?? randomBytes(16).toString('base64url');
  setCookie(c, SIGN_IN_COOKIE, nonce, cookieOptions(c, SIGN_IN_TTL_S, '/sign-in'));
  return mac(c.var.ledgerKey, 'sign-in', nonce);
}

/** True when the sign-in form's token matches the pre-session cookie (no login CSRF). */
export function signInChallengeValid(c: Context<DashboardEnv>, sent: string): boolean {
  const nonce = getCookie(c, SIGN_IN_COOKIE);
  return !!nonce && sameText(sent, mac(c.var.ledgerKey, 'sign-in', nonce));
}
