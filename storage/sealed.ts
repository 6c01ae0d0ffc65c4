/** @module Sealed artifacts in a store: publish (seal, then store content-addressed) and fetch (check the announced hash, open). The format lives in crypto/sealed-artifact.ts. */
import { createHasher } from '../core/hash.ts';
import { contentKey } from '../core/artifact-store.ts';
import type { ArtifactStore, ByteSource, PutResult } from '../core/artifact-store.ts';
import { openSealed, sealArtifact, sealedIntegrityError } from '../crypto/sealed-artifact.ts';
import type { OpeningKeys, SealingKeys } from '../crypto/sealed-artifact.ts';

export { generateContentKey, openSealed, sealArtifact } from '../crypto/sealed-artifact.ts';
export type { OpeningKeys, SealingKeys } from '../crypto/sealed-artifact.ts';

/** Seals and stores an artifact under the content address of its sealed bytes. */
export function publishSealed(store: ArtifactStore, plaintext: ByteSource, keys: SealingKeys): Promise<PutResult> {
  return store.putContent(sealArtifact(plaintext, keys));
}

/** Fetches by sealed hash (the one the round announcement names), checks it, and opens it. */
export async function fetchSealed(store: ArtifactStore, sealedHash: string, keys: OpeningKeys): Promise<{ plaintext: Uint8Array; keyId: string }> {
  const object = await store.get(contentKey(sealedHash));
  const hasher = createHasher();
  const body = (async function* () {
    for await (const chunk of object.body) {
      hasher.update(chunk);
      yield chunk;
    }
  })();
  const opened = await openSealed(body, keys);
  const actual = hasher.digest();
  if (actual !== sealedHash) throw sealedIntegrityError(`hash ${actual} is not the announced ${sealedHash}`);
  return opened;
}
