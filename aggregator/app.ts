/** @module The aggregator's HTTP API (v1): one Hono app over the database and the orchestrator. */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { TesseraError } from '../core/errors.ts';
import { useLedgerKey, currentLedgerKey } from './audit.ts';
import { authenticate } from './auth.ts';
import type { AppEnv } from './context.ts';
import { dashboard } from './dashboard/index.tsx';
import type { Db } from './db/database.ts';
import type { LedgerKey } from './ledger/entry.ts';
import { generateLedgerKey } from './ledger/key.ts';
import type { Orchestrator } from './rounds/orchestrator.ts';
import { createOrchestrator } from './rounds/orchestrator.ts';
import type { Replicator } from './replication/replicator.ts';
import type { SafeFetchOptions } from './replication/fetch-url.ts';
import { federationRoutes } from './routes/federations.ts';
import { auditorRoutes, ledgerRoutes, receiptRoutes } from './routes/audit.ts';
import { roundRoutes } from './routes/rounds.ts';
import { Slots, uploadGate } from './upload-gate.ts';

export interface AppOptions {
  db: Db;
  now?: () => number;
  orchestrator?: Orchestrator;
  /** Largest request body accepted on any route, bytes (each federation may set a lower one). */
  maxBodyBytes?: number;
  log?: (line: string) => void;
  /** The ledger key (startAggregator loads it from the data dir); else the one this process
   *  already uses, else a fresh one (tests through app.request()). */
  ledgerKey?: LedgerKey;
  /** Publishes sealed models to the federations' stores (startAggregator makes one); without it
   *  replicas stay pending in the database. */
  replicator?: Replicator;
  /** How member-given URLs are fetched (SSRF rule); private targets are refused unless allowed. */
  urlFetch?: SafeFetchOptions;
  /** Model-sized uploads read and processed at once; the others wait unread (aggregator/upload-gate.ts). Default 8. */
  maxConcurrentUploads?: number;
}

export const API_VERSION = 'v1';

export function createApp(opts: AppOptions): { app: Hono<AppEnv>; orchestrator: Orchestrator } {
  const now = opts.now ?? Date.now;
  const log = opts.log ?? (() => {});
  const replication = { kick: (fid: string) => opts.replicator?.kick(fid), urlFetch: opts.urlFetch ?? {} };
  const orchestrator = opts.orchestrator ?? createOrchestrator({ db: opts.db, now, log, onCommitted: replication.kick });
  const ledgerKey = opts.ledgerKey ?? currentLedgerKey() ?? generateLedgerKey();
  useLedgerKey(ledgerKey);
  const maxBodyBytes = opts.maxBodyBytes ?? 256 * 1024 * 1024;
  const app = new Hono<AppEnv>();

  app.onError((err, c) => {
    if (err instanceof TesseraError) return c.json(err.toJSON(), err.status as 400);
    if (err instanceof HTTPException) {
      const code = err.status === 413 ? 'TOO_LARGE' : err.status === 401 ? 'UNAUTHENTICATED' : 'BAD_REQUEST';
      return c.json({ error: { code, message: err.message || 'bad request' } }, err.status);
    }
    log(`internal error on ${c.req.method} ${new URL(c.req.url).pathname}: ${(err as Error).stack ?? err}`);
    return c.json({ error: { code: 'INTERNAL', message: 'internal error; the aggregator log has the details' } }, 500);
  });
  app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: `no route ${c.req.method} ${new URL(c.req.url).pathname}` } }, 404));

  app.use('*', async (c, next) => {
    c.set('db', opts.db);
    c.set('now', now);
    c.set('arrivedAt', now());
    c.set('orchestrator', orchestrator);
    c.set('ledgerKey', ledgerKey);
    c.set('replication', replication);
    await next();
  });
  app.get('/v1/health', (c) => c.json({ ok: true, api: API_VERSION }));
  // Before the body is read (the size limit and the signature check read it).
  app.use('/v1/*', uploadGate(new Slots(opts.maxConcurrentUploads ?? 8)));
  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: () => {
        throw new TesseraError('TOO_LARGE', `body: larger than the aggregator's ${maxBodyBytes}-byte limit`, { field: 'body' });
      },
    }),
  );
  app.use('/v1/*', authenticate);
  app.route('/v1/federations', federationRoutes);
  app.route('/v1/federations', roundRoutes);
  app.route('/v1/federations', receiptRoutes);
  app.route('/v1/ledger', ledgerRoutes);
  app.route('/v1/auditors', auditorRoutes);
  app.route('/', dashboard);
  return { app, orchestrator };
}
