/**
 * @module Test databases: a fresh PGlite in memory, or a fresh database on the PostgreSQL server
 * named by TEST_DATABASE_URL (default the local one), created for the test file and dropped after.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import type { Database } from './database.ts';
import { openDatabase } from './database.ts';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export type TestDatabaseKind = 'pglite' | 'postgres';

/** Opens a fresh, migrated database; `close()` also drops it on PostgreSQL. */
export async function openTestDatabase(kind: TestDatabaseKind): Promise<Database & { url?: string }> {
  if (kind === 'pglite') return openDatabase({ dataDir: 'memory' });
  const name = `tessera_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(TEST_DATABASE_URL);
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
