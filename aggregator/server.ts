/** @module Runs the aggregator: database, ledger key, operator credential, HTTP server on a port, deadline ticker. */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { TesseraError } from '../core/errors.ts';
import { useLedgerKey } from './audit.ts';
import { purgeNonces } from './auth.ts';
import { createApp } from './app.ts';
import { ensureOperatorCredential } from './credentials.ts';
import type { Database } from './db/database.ts';
import { openDatabase } from './db/database.ts';
import { hashSignatureValid } from './ledger/entry.ts';
import { loadOrCreateLedgerKey, publicKeyText } from './ledger/key.ts';
import { lastEntry } from './ledger/store.ts';
import type { SafeFetchOptions } from './replication/fetch-url.ts';
import { createReplicator } from './replication/replicator.ts';
import type { OpenStoreOptions } from '../storage/open-store.ts';

export interface AggregatorOptions {
  /** Folder for the embedded database, the operator token and the ledger key (default .tessera). */
  dataDir?: string;
  /** postgres:// URL; else PGlite in `<dataDir>/db`. */
  databaseUrl?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** How often deadlines are checked, ms. */
  tickMs?: number;
  maxBodyBytes?: number;
  /** Endpoints and credentials of the federations' stores (never taken from the API): GCS
   *  apiEndpoint/keyFilename, Azure connection string/key. Unset: the SDKs' environment defaults. */
  storeOptions?: OpenStoreOptions;
  /** How member-given update URLs are fetched; `allowPrivate` only for tests and private networks. */
  urlFetch?: SafeFetchOptions;
  now?: () => number;
  log?: (line: string) => void;
}

export interface RunningAggregator {
  url: string;
  port: number;
  database: Database;
  operatorTokenFile: string;
  operatorToken: string | null;
  ledgerKeyFile: string;
  /** The ledger's Ed25519 public key, URL-safe base64: all anyone needs to verify the ledger. */
  ledgerPublicKey: string;
  /** Resolves when no replica is being published (tests, orderly shutdown). */
  replicationIdle(): Promise<void>;
  close(): Promise<void>;
}

export async function startAggregator(opts: AggregatorOptions = {}): Promise<RunningAggregator> {
  const dataDir = opts.dataDir ?? '.tessera';
  const log = opts.log ?? ((line: string) => console.log(`[aggregator] ${line}`));
  const now = opts.now ?? Date.now;
  const database = await openDatabase({ url: opts.databaseUrl, dataDir: `${dataDir}/db` });
  const ledger = loadOrCreateLedgerKey(dataDir);
  // A ledger signed by another key (a lost or swapped ledger.key) must not silently continue.
  const last = await lastEntry(database.db);
  if (last && !hashSignatureValid(last.hash, last.signature, ledger.key.publicKey)) {
    await database.close();
    throw new TesseraError('INTEGRITY', `${ledger.file} does not sign this database's ledger (entry ${last.seq}); restore the ledger.key that belongs to this database`);
  }
  useLedgerKey(ledger.key);
  if (ledger.created) log(`ledger key created: ${ledger.file} (keep it secret, back it up)`);
  log(`ledger public key: ${publicKeyText(ledger.key)}`);
  const operator = await ensureOperatorCredential(database.db, dataDir);
  if (operator.created) log(`operator credential created: ${operator.file} (keep it secret)`);
  const replicator = createReplicator({ db: database.db, storeOptions: opts.storeOptions, now, log });
  const { app, orchestrator } = createApp({ db: database.db, now, log, maxBodyBytes: opts.maxBodyBytes, ledgerKey: ledger.key, replicator, urlFetch: opts.urlFetch });
  // A restarted aggregator picks up open rounds at once.
  await orchestrator.tick();
  void replicator.tick().catch((e: Error) => log(`replication failed: ${e.message}`));
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
      // Replicas that failed (a store was down) are retried here, with backoff per replica.
      .then(() => replicator.tick())
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
    ledgerKeyFile: ledger.file,
    ledgerPublicKey: publicKeyText(ledger.key),
    replicationIdle: () => replicator.idle(),
    async close() {
      clearInterval(timer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      await closed;
      while (ticking) await new Promise((r) => setTimeout(r, 20));
      await replicator.close();
      await database.close();
    },
  };
}
