/** @module Operator and auditor credentials: created once, stored only as hashes. */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { and, eq, isNull } from 'drizzle-orm';
import { randomToken } from '../crypto/identity.ts';
import { credentials } from '../schema/index.ts';
import { appendAudit } from './audit.ts';
import { tokenHash } from './auth.ts';
import type { Db } from './db/database.ts';

export const OPERATOR_TOKEN_FILE = 'operator.token';

/** Issues a new credential and returns its token (shown once; only the hash is stored). */
export async function issueCredential(db: Db, role: 'operator' | 'auditor', label: string, actor: string, now = Date.now()): Promise<{ id: string; token: string }> {
  const token = `tsr_${role === 'operator' ? 'op' : 'au'}_${randomToken(32)}`;
  const id = randomUUID();
  await db.transaction(async (tx) => {
    await tx.insert(credentials).values({ id, role, label, tokenHash: tokenHash(token), createdAt: now });
    await appendAudit(tx, { kind: 'credential.created', actor, time: now, payload: { id, role, label } });
  });
  return { id, token };
}

/**
 * At first start the aggregator creates the operator credential and writes it to
 * `<dataDir>/operator.token` (mode 0600), never to the log. Later starts reuse it.
 */
export async function ensureOperatorCredential(db: Db, dataDir: string): Promise<{ file: string; created: boolean; token: string | null }> {
  const file = join(dataDir, OPERATOR_TOKEN_FILE);
  const existing = await db.select({ id: credentials.id }).from(credentials).where(and(eq(credentials.role, 'operator'), isNull(credentials.revokedAt)));
  if (existing.length > 0) return { file, created: false, token: existsSync(file) ? readFileSync(file, 'utf8').trim() : null };
  const { token } = await issueCredential(db, 'operator', 'first-start operator', 'aggregator');
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return { file, created: true, token };
}
