/**
 * @module Sealing model versions. A federation with stores gets, in the same transaction that
 * stores a model version, its sealed and signed artifact (sealed once, so every store holds the
 * same bytes under the same hash) and one pending replica row per store. Publishing happens after
 * the transaction (replicator.ts): a store being down can delay a replica, never lose a commit.
 */
import { and, eq } from 'drizzle-orm';
import { concatBytes } from '../../core/artifact-store.ts';
import type { FederationConfig } from '../../core/federation.ts';
import { contentHash } from '../../core/hash.ts';
import type { SealedModelRef } from '../../core/rounds.ts';
import { sealArtifact } from '../../crypto/sealed-artifact.ts';
import { modelArtifacts, modelReplicas } from '../../schema/index.ts';
import type { Tx } from '../audit.ts';
import type { LedgerKey } from '../ledger/entry.ts';
import type { ContentKey } from './keys.ts';
import { createContentKey, currentContentKey } from './keys.ts';

/** The stores of a config (configs stored before `stores` existed have none). */
export const storesOf = (config: FederationConfig): string[] => config.stores ?? [];

/** The sealed, signed artifact of a model's bytes under `key`, and its hash. */
export async function sealedArtifactOf(body: Uint8Array, key: ContentKey, signer: LedgerKey): Promise<{ bytes: Uint8Array; hash: string }> {
  const chunks: Uint8Array[] = [];
  for await (const c of sealArtifact(body, { keyId: key.keyId, contentKey: key.key, signingKey: signer.secretKey })) chunks.push(c);
  const bytes = concatBytes(chunks);
  return { bytes, hash: contentHash(bytes) };
}

/** Seals `body` as model `version` and queues it for every store; a no-op without stores. */
export async function sealModelVersion(tx: Tx, federationId: string, config: FederationConfig, version: number, body: Uint8Array, signer: LedgerKey, t: number): Promise<void> {
  const stores = storesOf(config);
  if (stores.length === 0) return;
  const key = (await currentContentKey(tx, federationId, signer)) ?? (await createContentKey(tx, federationId, signer, t));
  const sealed = await sealedArtifactOf(body, key, signer);
  await tx.insert(modelArtifacts).values({ federationId, version, keyId: key.keyId, sealedHash: sealed.hash, sealedSize: sealed.bytes.length, body: sealed.bytes, createdAt: t });
  await tx.insert(modelReplicas).values(stores.map((store) => ({ federationId, version, store, status: 'pending', updatedAt: t })));
}

/** What a member needs to fetch a version from a store, or undefined when it has no artifact. */
export async function artifactRef(tx: Tx, federationId: string, config: FederationConfig, version: number): Promise<SealedModelRef | undefined> {
  if (storesOf(config).length === 0) return undefined;
  const [a] = await tx
    .select({ sealedHash: modelArtifacts.sealedHash, sealedSize: modelArtifacts.sealedSize, keyId: modelArtifacts.keyId })
    .from(modelArtifacts)
    .where(and(eq(modelArtifacts.federationId, federationId), eq(modelArtifacts.version, version)));
  return a ? { ...a, stores: storesOf(config) } : undefined;
}
