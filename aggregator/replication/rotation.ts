/**
 * @module Rotating a federation's content key: the next key (keys.ts), the latest model version
 * sealed again under it and queued for every store (so the newest model a store serves opens only
 * with the new key), and the ledger entry, all in the caller's transaction. Older versions stay
 * sealed under the keys they were published with; a member revoked before the rotation never
 * receives the new key, so it can open nothing published from then on.
 */
import { and, desc, eq } from 'drizzle-orm';
import type { FederationConfig } from '../../core/federation.ts';
import { modelArtifacts, modelReplicas, modelVersions } from '../../schema/index.ts';
import type { Tx } from '../audit.ts';
import { appendAudit } from '../audit.ts';
import type { LedgerKey } from '../ledger/entry.ts';
import { sealedArtifactOf, storesOf } from './artifacts.ts';
import { createContentKey } from './keys.ts';

export interface Rotation {
  keyId: string;
  /** The model version sealed again under the new key (null without stores). */
  resealed: { version: number; sealedHash: string; sealedSize: number } | null;
}

export interface RotateOptions {
  federationId: string;
  config: FederationConfig;
  signer: LedgerKey;
  t: number;
  actor: string;
  /** Why, for the ledger (e.g. the revoked member). */
  cause?: Record<string, unknown>;
}

/** Makes the next content key, reseals and requeues the latest model under it, and records both. */
export async function rotateContentKey(tx: Tx, { federationId, config, signer, t, actor, cause }: RotateOptions): Promise<Rotation> {
  const key = await createContentKey(tx, federationId, signer, t);
  let resealed: Rotation['resealed'] = null;
  const stores = storesOf(config);
  const [latest] = await tx.select({ version: modelVersions.version, body: modelVersions.body }).from(modelVersions).where(eq(modelVersions.federationId, federationId)).orderBy(desc(modelVersions.version)).limit(1);
  if (stores.length && latest) {
    const sealed = await sealedArtifactOf(latest.body, key, signer);
    const row = { keyId: key.keyId, sealedHash: sealed.hash, sealedSize: sealed.bytes.length, body: sealed.bytes, createdAt: t };
    const updated = await tx.update(modelArtifacts).set(row).where(and(eq(modelArtifacts.federationId, federationId), eq(modelArtifacts.version, latest.version))).returning({ version: modelArtifacts.version });
    if (updated.length === 0) await tx.insert(modelArtifacts).values({ federationId, version: latest.version, ...row });
    // Every store gets the resealed bytes; its `latest` pointer moves to them (same version, new hash).
    await tx.delete(modelReplicas).where(and(eq(modelReplicas.federationId, federationId), eq(modelReplicas.version, latest.version)));
    await tx.insert(modelReplicas).values(stores.map((store) => ({ federationId, version: latest.version, store, status: 'pending', updatedAt: t })));
    resealed = { version: latest.version, sealedHash: sealed.hash, sealedSize: sealed.bytes.length };
  }
  await appendAudit(tx, { kind: 'content-key.rotated', actor, federationId, time: t, payload: { keyId: key.keyId, resealed, ...cause } });
  return { keyId: key.keyId, resealed };
}
