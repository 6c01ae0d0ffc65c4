/**
 * @module The one place a database handle is made: `DATABASE_URL` (or an explicit url) selects
 * PostgreSQL through postgres.js; otherwise PGlite, embedded, in a folder (or in memory).
 * Migrations from drizzle/ run on open.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import * as schema from '../../schema/index.ts';
import { hexBytea, oneTripClient } from './pglite-client.ts';

export type Schema = typeof schema;
/** The drizzle handle, the same type on both drivers. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;

export interface Database {
  db: Db;
  kind: 'postgres' | 'pglite';
  /** Where the data lives: the URL without credentials, a folder, or "memory". */
  location: string;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgres:// URL; defaults to process.env.DATABASE_URL. */
  url?: string;
  /** PGlite data folder when no URL is set; "memory" for an in-memory database. */
  dataDir?: string;
}

const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url));

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres';
  }
}

/** A map kept per database handle (a process may open several; tests do), made on first use. */
export function perDatabase<K, V>(): (db: Db) => Map<K, V> {
  const maps = new WeakMap<Db, Map<K, V>>();
  return (db) => {
    let map = maps.get(db);
    if (!map) maps.set(db, (map = new Map<K, V>()));
    return map;
  };
}

/** Opens (and migrates) the database. */
export async function openDatabase(opts: DatabaseOptions = {}): Promise<Database> {
  const url = opts.url ?? process.env.DATABASE_URL;
  if (url) {
    const client = postgres(url, { max: 10, onnotice: () => {} });
    const db = drizzlePostgres(client, { schema }) as unknown as Db;
    await migratePostgres(drizzlePostgres(client), { migrationsFolder });
    return { db, kind: 'postgres', location: redact(url), close: () => client.end({ timeout: 5 }) };
  }
  const dataDir = opts.dataDir ?? '.tessera/db';
  if (dataDir !== 'memory') mkdirSync(dataDir, { recursive: true });
  const client = dataDir === 'memory' ? new PGlite(hexBytea) : new PGlite(dataDir, hexBytea);
  await client.waitReady;
  // Statements go through oneTripClient (one wasm exchange each); migrations through PGlite itself.
  const db = drizzlePglite({ client: oneTripClient(client) as unknown as PGlite, schema }) as unknown as Db;
  await migratePglite(drizzlePglite(client), { migrationsFolder });
  return { db, kind: 'pglite', location: dataDir, close: () => client.close() };
}

/**
 * A fresh, migrated database created on the PostgreSQL server `serverUrl` points at, named
 * `<prefix>_<random>`, and dropped by `close()`: for test files and simulation runs.
 */
export async function openScratchDatabase(serverUrl: string, prefix: string): Promise<Database & { url: string }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({ url: url.toString() });
  return {
    ...database,
    url: url.toString(),
    async close() {
      await database.close();
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end({ timeout: 5 });
    },
  };
}
