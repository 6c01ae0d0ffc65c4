/**
 * @module A federation's content keys: made at federation create (`k1`), rotated on demand (the
 * operator's rotate route and member revocation, through rotation.ts), kept wrapped under the aggregator's
 * signing key, and handed to each active member only sealed to that member's identity key.
 */
import { and, eq, isNull } from 'drizzle-orm';
import { TesseraError } from '../../core/errors.ts';
import { sealContentKeyFor, unwrapContentKey, wrapContentKey } from '../../crypto/content-keys.ts';
import type { SealedContentKey } from '../../crypto/content-keys.ts';
import { fromBase64 } from '../../crypto/identity.ts';
import { generateContentKey } from '../../crypto/sealed-artifact.ts';
import { contentKeys } from '../../schema/index.ts';
import type { Tx } from '../audit.ts';
import type { LedgerKey } from '../ledger/entry.ts';

/** A usable content key. */
export interface ContentKey {
  keyId: string;
  key: Uint8Array;
}

/** Makes the federation's next content key (`k1` first) and retires the current one. */
export async function createContentKey(tx: Tx, federationId: string, signer: LedgerKey, t: number): Promise<ContentKey> {
  const existing = await tx.select({ keyId: contentKeys.keyId }).from(contentKeys).where(eq(contentKeys.federationId, federationId));
  const keyId = `k${existing.reduce((m, r) => Math.max(m, Number(r.keyId.slice(1)) || 0), 0) + 1}`;
  const key = generateContentKey();
  await tx.update(contentKeys).set({ retiredAt: t }).where(and(eq(contentKeys.federationId, federationId), isNull(contentKeys.retiredAt)));
  await tx.insert(contentKeys).values({ federationId, keyId, wrapped: wrapContentKey(key, signer.secretKey), createdAt: t });
  return { keyId, key };
}

/** The key new artifacts are sealed under, or null for a federation made before keys existed. */
export async function currentContentKey(tx: Tx, federationId: string, signer: LedgerKey): Promise<ContentKey | null> {
  const [row] = await tx.select().from(contentKeys).where(and(eq(contentKeys.federationId, federationId), isNull(contentKeys.retiredAt))).limit(1);
  return row ? { keyId: row.keyId, key: unwrapContentKey(row.wrapped, signer.secretKey) } : null;
}

/** Every key of the federation (old models stay readable), each sealed to one member's public key. */
export async function keysSealedFor(tx: Tx, federationId: string, memberPublicKey: string, signer: LedgerKey): Promise<SealedContentKey[]> {
  const pk = fromBase64(memberPublicKey);
  if (!pk || pk.length !== 32) throw new TesseraError('INTERNAL', 'a member public key in the database is malformed');
  const rows = await tx.select().from(contentKeys).where(eq(contentKeys.federationId, federationId)).orderBy(contentKeys.createdAt);
  return rows.map((r) => sealContentKeyFor(pk, r.keyId, unwrapContentKey(r.wrapped, signer.secretKey)));
}
