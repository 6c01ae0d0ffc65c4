/**
 * Signed requests are judged at arrival: a request that waited its turn in the aggregator (the
 * upload gate) is not refused for a stale timestamp; one that waited longer than the signature's
 * window is sent back (503 BUSY, the member re-signs and retries); a stale one is still refused;
 * nonces outlive their window by one more window, so no waiting copy can be replayed.
 */
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CLOCK_SKEW_MS } from '../core/request-signing.ts';
import { generateIdentity, toBase64 } from '../crypto/identity.ts';
import { signedRequestHeaders } from '../crypto/request-signer.ts';
import { federations, members, requestNonces } from '../schema/index.ts';
import { currentLedgerKey, useLedgerKey } from './audit.ts';
import { authenticate, purgeNonces } from './auth.ts';
import type { AppEnv } from './context.ts';
import type { Database } from './db/database.ts';
import { openTestDatabase } from './db/testing.ts';

describe('signed requests judged at arrival', () => {
  let database: Database;
  const identity = generateIdentity();
  const t0 = Date.parse('2026-06-01T00:00:00Z');
  let clock = t0;

  beforeAll(async () => {
    database = await openTestDatabase('pglite');
    // A refusal for the clock is recorded in the ledger: a key must be installed (createApp does it).
    if (!currentLedgerKey()) useLedgerKey(generateIdentity());
    await database.db.insert(federations).values({ id: 'f', name: 'f', config: {}, createdAt: t0 });
    await database.db.insert(members).values({ id: 'm', federationId: 'f', name: 'm', publicKey: toBase64(identity.publicKey), status: 'active', enrolledAt: t0 });
  }, 30_000);
  afterAll(async () => {
    await database?.close();
  });

  /** The request arrives at `arrivedAt` and is authenticated at `clock` (after waiting in between). */
  function appArrivingAt(arrivedAt: number) {
    const app = new Hono<AppEnv>();
    app.use('*', async (c, next) => {
      c.set('db', database.db);
      c.set('now', () => clock);
      c.set('arrivedAt', arrivedAt);
      await next();
    });
    app.use('*', authenticate);
    app.get('/x', (c) => c.json({ ok: c.get('principal')?.role }));
    app.onError((e, c) => c.json({ code: (e as { code?: string }).code }, (e as { code?: string }).code === 'BUSY' ? 503 : 401));
    return app;
  }
  const signedAt = (t: number) => signedRequestHeaders({ method: 'GET', path: '/x', body: new Uint8Array(0), memberId: 'm', secretKey: identity.secretKey, now: () => t });
  const answer = async (res: Response) => `${res.status} ${JSON.stringify(await res.json())}`;

  it('accepts a request that waited 4 minutes after arriving fresh (340 s after signing); sends back one that waited longer than the window; refuses one stale on arrival', async () => {
    // Signed 100 s before it arrived, taken 240 s after: 340 s old when judged, but fresh on arrival.
    clock = t0 + 240_000;
    expect(await answer(await appArrivingAt(t0).request('/x', { headers: signedAt(t0 - 100_000) }))).toBe('200 {"ok":"member"}');
    clock = t0 + MAX_CLOCK_SKEW_MS + 1_000;
    expect(await answer(await appArrivingAt(t0).request('/x', { headers: signedAt(t0) }))).toBe('503 {"code":"BUSY"}');
    // Signed 6 minutes before it arrived: stale, whatever the wait.
    expect(await answer(await appArrivingAt(clock).request('/x', { headers: signedAt(clock - 360_000) }))).toBe('401 {"code":"UNAUTHENTICATED"}');
  });

  it('keeps a nonce one window past its expiry, so a copy that waited cannot be replayed', async () => {
    clock = t0 + 1_000_000;
    const headers = signedAt(clock);
    expect(await answer(await appArrivingAt(clock).request('/x', { headers }))).toBe('200 {"ok":"member"}');
    // A copy that arrived in the window and waited 4 more minutes: its nonce is still known.
    const arrived = clock + 200_000;
    clock = arrived + 240_000;
    await purgeNonces(database.db, clock);
    expect(await answer(await appArrivingAt(arrived).request('/x', { headers }))).toBe('401 {"code":"REPLAYED"}');
    // Two windows after the timestamp the nonce goes: no copy can pass the arrival check by then.
    clock = t0 + 1_000_000 + 2 * MAX_CLOCK_SKEW_MS + 1;
    await purgeNonces(database.db, clock);
    const left = await database.db.select().from(requestNonces);
    expect(left.map((n) => n.nonce)).not.toContain(headers[Object.keys(headers).find((k) => k.endsWith('nonce'))!]);
  });
});
