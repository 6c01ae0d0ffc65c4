/**
 * @module Test databases: a fresh PGlite in memory, or a fresh database on the PostgreSQL server
 * named by TEST_DATABASE_URL (default the local one), created for the test file and dropped after.
 */
import type { Database } from './database.ts';
import { openDatabase, openScratchDatabase } from './database.ts';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export type TestDatabaseKind = 'pglite' | 'postgres';

/** Opens a fresh, migrated database; `close()` also drops it on PostgreSQL. */
export async function openTestDatabase(kind: TestDatabaseKind): Promise<Database & { url?: string }> {
  if (kind === 'pglite') return openDatabase({ dataDir: 'memory' });
  return openScratchDatabase(TEST_DATABASE_URL, 'tessera_test');
}
