/** @module Runs the aggregator: database, operator credential, HTTP server on a port, deadline ticker. */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { purgeNonces } from './auth.ts';
import { createApp } from './app.ts';
import { ensureOperatorCredential } from './credentials.ts';
import type { Database } from './db/database.ts';
import { openDatabase } from './db/database.ts';

export interface AggregatorOptions {
  /** Folder for the embedded database and the operator token (default .tessera). */
  dataDir?: string;
  /** postgres:// URL; else PGlite in `<dataDir>/db`. */
  databaseUrl?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** How often deadlines are checked, ms. */
  tickMs?: number;
  maxBodyBytes?: number;
  now?: () => number;
  log?: (line: string) => void;
}

export interface RunningAggregator {
  url: string;
  port: number;
  database: Database;
  operatorTokenFile: string;
  operatorToken: string | null;
  close(): Promise<void>;
}

export async function startAggregator(opts: AggregatorOptions = {}): Promise<RunningAggregator> {
  const dataDir = opts.dataDir ?? '.tessera';
  const log = opts.log ?? ((line: string) => console.log(`[aggregator] ${line}`));
  const now = opts.now ?? Date.now;
  const database = await openDatabase({ url: opts.databaseUrl, dataDir: `${dataDir}/db` });
  const operator = await ensureOperatorCredential(database.db, dataDir);
  if (operator.created) log(`operator credential created: ${operator.file} (keep it secret)`);
  const { app, orchestrator } = createApp({ db: database.db, now, log, maxBodyBytes: opts.maxBodyBytes });
  // A restarted aggregator picks up open rounds at once.
  await orchestrator.tick();
  const server = serve({ fetch: app.fetch, hostname: opts.host ?? '127.0.0.1', port: opts.port ?? 0 });
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
  const port = (server.address() as AddressInfo).port;
  let ticking = false;
  const timer = setInterval(() => {
    if (ticking) return;
    ticking = true;
    orchestrator
      .tick()
      .then(() => purgeNonces(database.db, now()))
      .catch((e: Error) => log(`tick failed: ${e.message}`))
      .finally(() => (ticking = false));
  }, opts.tickMs ?? 1000);
  const host = opts.host ?? '127.0.0.1';
  log(`listening on http://${host}:${port} (database: ${database.kind} ${database.location})`);
  return {
    url: `http://${host}:${port}`,
    port,
    database,
    operatorTokenFile: operator.file,
    operatorToken: operator.token,
    async close() {
      clearInterval(timer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      await closed;
      while (ticking) await new Promise((r) => setTimeout(r, 20));
      await database.close();
    },
  };
}
