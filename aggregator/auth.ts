/**
 * @module Authentication: operators and auditors present a bearer credential; members sign every
 * request with their Ed25519 key over method, path, body hash, member id, timestamp and nonce.
 * A skewed timestamp, a bad signature or a reused nonce is refused with 401.
 */
import { and, eq, isNull, lt, sql } from 'drizzle-orm';
import type { Context, MiddlewareHandler } from 'hono';
import { TesseraError } from '../core/errors.ts';
import { contentHash } from '../core/hash.ts';
import { MAX_CLOCK_SKEW_MS, SIGNATURE_HEADERS, canonicalRequest } from '../core/request-signing.ts';
import { fromBase64, verify } from '../crypto/identity.ts';
import { credentials, members, requestNonces } from '../schema/index.ts';
import { appendAudit } from './audit.ts';
import type { AppEnv } from './context.ts';
import type { Db } from './db/database.ts';
import { perDatabase } from './db/database.ts';

export type Principal =
  | { role: 'operator' | 'auditor'; credentialId: string; label: string }
  | { role: 'member'; memberId: string; federationId: string; name: string };

export type Role = Principal['role'];

/** The actor string recorded in the audit trail. */
export function actorOf(p: Principal): string {
  return p.role === 'member' ? `member:${p.memberId}` : `${p.role}:${p.credentialId}`;
}

export const tokenHash = (token: string): string => contentHash(new TextEncoder().encode(`tessera-credential:${token}`));

async function bearer(c: Context<AppEnv>, header: string): Promise<Principal> {
  const token = header.slice('Bearer '.length).trim();
  const [row] = await c.var.db
    .select()
    .from(credentials)
    .where(and(eq(credentials.tokenHash, tokenHash(token)), isNull(credentials.revokedAt)));
  if (!row) throw new TesseraError('UNAUTHENTICATED', 'unknown or revoked credential');
  return { role: row.role as 'operator' | 'auditor', credentialId: row.id, label: row.label };
}

/** What never changes about an enrolled member: its identity key and where it belongs (its status does). */
type Identity = { publicKey: string; federationId: string; name: string };
// Per database handle, bounded: a request after the first needs no read of the member's row; its
// status (revocation) is checked in the statement that records the nonce, so it stays immediate.
const identities = perDatabase<string, Identity>();
const MAX_IDENTITIES = 100_000;

/**
 * Records the nonce if the member is active, in one statement: no row back means a replay, or a
 * member that is no longer active (the caller reads which).
 */
async function recordNonce(db: Db, memberId: string, nonce: string, expiresAt: number): Promise<boolean> {
  const active = db
    .select({ memberId: sql<string>`${memberId}::text`.as('member_id'), nonce: sql<string>`${nonce}::text`.as('nonce'), expiresAt: sql<number>`${expiresAt}::bigint`.as('expires_at') })
    .from(members)
    .where(and(eq(members.id, memberId), eq(members.status, 'active')));
  const inserted = await db.insert(requestNonces).select(active).onConflictDoNothing().returning({ nonce: requestNonces.nonce });
  return inserted.length > 0;
}

async function signed(c: Context<AppEnv>, memberId: string): Promise<Principal> {
  const h = (name: string): string => {
    const v = c.req.header(name);
    if (!v) throw new TesseraError('UNAUTHENTICATED', `missing ${name} header on a signed request`);
    return v;
  };
  const timestamp = Number(h(SIGNATURE_HEADERS.timestamp));
  const nonce = h(SIGNATURE_HEADERS.nonce);
  const signature = fromBase64(h(SIGNATURE_HEADERS.signature));
  const now = c.var.now();
  // The timestamp is judged at arrival: time spent queued here (the upload gate holds all but a
  // few uploads) is the aggregator's, not the member's clock. Nonces are kept one window longer
  // than their timestamps (purgeNonces) and a request that waited longer than a window is sent
  // back, so no copy of a request can be checked after its nonce is forgotten.
  const arrived = c.var.arrivedAt ?? now;
  if (now - arrived > MAX_CLOCK_SKEW_MS) throw new TesseraError('BUSY', `the request waited ${Math.round((now - arrived) / 1000)} s for its turn, longer than its signature is valid; send it again`);
  const skewed = () => new TesseraError('UNAUTHENTICATED', `request timestamp is more than ${MAX_CLOCK_SKEW_MS / 1000} s from the aggregator's clock; check the member's clock`);
  if (!Number.isSafeInteger(timestamp)) throw skewed();
  if (!/^[A-Za-z0-9_-]{16,128}$/.test(nonce)) throw new TesseraError('UNAUTHENTICATED', 'nonce must be 16-128 URL-safe characters');
  const db = c.var.db;
  const known = identities(db);
  let member: Identity & { status?: string } | undefined = known.get(memberId);
  if (!member) {
    const [row] = await db.select().from(members).where(eq(members.id, memberId));
    if (!row || (row.status !== 'active' && row.status !== 'revoked')) throw new TesseraError('UNAUTHENTICATED', 'unknown member');
    member = row;
    if (known.size >= MAX_IDENTITIES) known.clear();
    known.set(memberId, { publicKey: row.publicKey, federationId: row.federationId, name: row.name });
  }
  const body = new Uint8Array(await c.req.arrayBuffer());
  const url = new URL(c.req.url);
  const message = canonicalRequest({
    method: c.req.method,
    path: url.pathname + url.search,
    bodyHash: contentHash(body),
    memberId,
    timestamp,
    nonce,
  });
  const publicKey = fromBase64(member.publicKey);
  if (!signature || !publicKey || !verify(message, signature, publicKey)) {
    throw new TesseraError('UNAUTHENTICATED', 'bad request signature');
  }
  // Said only to the member itself (the signature is checked first), so no one can probe who was revoked.
  const revoked = () => new TesseraError('MEMBER_REVOKED', `member ${memberId} was revoked by the operator; its requests are refused`);
  // The member's status now (read only on the paths that need it when the identity was cached).
  const currentStatus = async () => (await db.select({ status: members.status }).from(members).where(eq(members.id, memberId)))[0]?.status;
  if (member.status === 'revoked') throw revoked();
  if (Math.abs(arrived - timestamp) > MAX_CLOCK_SKEW_MS) {
    if ((member.status ?? (await currentStatus())) === 'revoked') throw revoked();
    await recordSkew(c, member.federationId, memberId, timestamp, arrived);
    throw skewed();
  }
  // The nonce is remembered for two skew windows (purgeNonces); inserting it twice is a replay.
  // It is recorded only while the member is active (checked in the same statement).
  if (!(await recordNonce(db, memberId, nonce, timestamp + MAX_CLOCK_SKEW_MS))) {
    const status = await currentStatus();
    if (status === 'revoked') throw revoked();
    if (status !== 'active') throw new TesseraError('UNAUTHENTICATED', 'unknown member');
    throw new TesseraError('REPLAYED', 'this request was already received (replayed nonce)');
  }
  return { role: 'member', memberId, federationId: member.federationId, name: member.name };
}

/**
 * An authentic request refused for its member's clock goes into the ledger, once per member per
 * window (a marker row in request_nonces), so replaying old captured requests cannot grow it.
 */
async function recordSkew(c: Context<AppEnv>, federationId: string, memberId: string, timestamp: number, now: number): Promise<void> {
  const marker = `clock-skew-${Math.floor(now / MAX_CLOCK_SKEW_MS)}`;
  await c.var.db.transaction(async (tx) => {
    const fresh = await tx.insert(requestNonces).values({ memberId, nonce: marker, expiresAt: now + MAX_CLOCK_SKEW_MS }).onConflictDoNothing().returning({ nonce: requestNonces.nonce });
    if (fresh.length === 0) return;
    const payload = { memberId, code: 'UNAUTHENTICATED', reason: 'request timestamp outside the clock-skew window', skewMs: timestamp - now, method: c.req.method, path: new URL(c.req.url).pathname };
    await appendAudit(tx, { kind: 'request.refused', actor: `member:${memberId}`, federationId, time: now, payload });
  });
}

/** Authenticates the caller if it presents credentials; routes then demand roles with `requireRole`. */
export const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
  const authz = c.req.header('authorization');
  const memberId = c.req.header(SIGNATURE_HEADERS.member);
  if (authz?.startsWith('Bearer ')) c.set('principal', await bearer(c, authz));
  else if (memberId) c.set('principal', await signed(c, memberId));
  await next();
};

/** Refuses with 401 when no one is signed in, 403 when the caller's role is not among `roles`. */
export function requireRole(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const p = c.get('principal');
    if (!p) throw new TesseraError('UNAUTHENTICATED', 'sign the request (member) or present a bearer credential (operator, auditor)');
    if (!roles.includes(p.role)) throw new TesseraError('FORBIDDEN', `a ${p.role} may not ${c.req.method} ${new URL(c.req.url).pathname}`);
    await next();
  };
}

/** Members may act only for themselves and within their own federation. */
export function assertMemberSelf(p: Principal, federationId: string, memberId?: string): void {
  if (p.role !== 'member') return;
  if (p.federationId !== federationId) throw new TesseraError('FORBIDDEN', 'a member may act only within its own federation');
  if (memberId !== undefined && p.memberId !== memberId) throw new TesseraError('FORBIDDEN', `member ${p.memberId} may not act for member ${memberId}`);
}

/**
 * Forgets nonces once no copy of their request can still be taken: its timestamp is out of the
 * skew window at arrival (expiresAt), plus the longest a request may wait after arriving (one
 * more window; signed() sends back one that waited longer).
 */
export async function purgeNonces(db: AppEnv['Variables']['db'], now: number): Promise<void> {
  await db.delete(requestNonces).where(lt(requestNonces.expiresAt, now - MAX_CLOCK_SKEW_MS));
}
