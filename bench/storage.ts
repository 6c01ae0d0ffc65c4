/** @module Storage benchmark: publish and verified fetch of 4 MB and 40 MB artifacts per adapter, against a plain file copy. */
// Run: npx tsx bench/storage.ts [--json FILE] [--reps N]
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getContent } from '../core/artifact-store.ts';
import type { ArtifactStore } from '../core/artifact-store.ts';
import { AzureStore } from '../storage/azure.ts';
import { GcsStore } from '../storage/gcs.ts';
import { LocalStore } from '../storage/local.ts';
import { fetchSealed, generateContentKey, publishSealed } from '../storage/sealed.ts';
import { generateIdentity } from '../crypto/identity.ts';
import { AZURITE_ACCOUNT, startAzurite } from '../storage/testing/azurite.ts';
import { startGcsServer } from '../storage/testing/gcs-server.ts';

const args = process.argv.slice(2);
const jsonFile = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
const reps = Number(args.includes('--reps') ? args[args.indexOf('--reps') + 1] : 3);
const MB = 1e6;

interface Row {
  adapter: string;
  sizeMB: number;
  publishMs: number;
  fetchMs: number;
  copyMs: number;
  publishMBps: number;
  fetchMBps: number;
  publishVsCopy: number;
  fetchVsCopy: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const work = await mkdtemp(join(tmpdir(), 'tessera-bench-storage-'));
const gcs = await startGcsServer();
const azurite = await startAzurite();
const stores: [string, ArtifactStore][] = [
  ['local', new LocalStore(join(work, 'store'))],
  ['gcs (fixture)', GcsStore.open(`gs://tessera-bench/run-${randomUUID()}`, { apiEndpoint: gcs.url, projectId: 'bench', createBucket: true })],
  ['azure (azurite)', AzureStore.open(`az://${AZURITE_ACCOUNT}/tessera-bench/run-${randomUUID()}`, { connectionString: azurite.connectionString, createContainer: true })],
];

const aggregator = generateIdentity();
const federationKey = generateContentKey();
const sealing = { keyId: 'bench', contentKey: federationKey, signingKey: aggregator.secretKey };
const opening = { contentKeys: () => federationKey, signerPublicKey: aggregator.publicKey };
const rows: Row[] = [];
try {
  for (const size of [4 * MB, 40 * MB]) {
    const bytes = new Uint8Array(randomBytes(size));
    // The baseline: copying the same bytes between two files on the same disk.
    const src = join(work, 'src.bin');
    await writeFile(src, bytes);
    const copies: number[] = [];
    for (let i = 0; i < reps; i++) copies.push(await time(() => copyFile(src, join(work, `copy-${i}.bin`))));
    const copyMs = median(copies);
    for (const [adapter, store] of stores) for (const sealedMode of [false, true]) {
      const publish: number[] = [];
      const fetch: number[] = [];
      for (let r = 0; r < reps; r++) {
        let key = '';
        if (sealedMode) {
          publish.push(await time(async () => void ({ key } = await publishSealed(store, bytes, sealing))));
          fetch.push(await time(() => fetchSealed(store, key.slice('objects/'.length), opening)));
        } else {
          publish.push(await time(async () => void ({ key } = await store.putContent(bytes))));
          fetch.push(await time(() => getContent(store, key.slice('objects/'.length), size)));
        }
        await store.delete(key); // the next publish must really upload
      }
      const p = median(publish);
      const f = median(fetch);
      rows.push({
        adapter: sealedMode ? `${adapter} sealed` : adapter,
        sizeMB: size / MB,
        publishMs: p,
        fetchMs: f,
        copyMs,
        publishMBps: size / MB / (p / 1000),
        fetchMBps: size / MB / (f / 1000),
        publishVsCopy: p / copyMs,
        fetchVsCopy: f / copyMs,
      });
    }
  }
} finally {
  await azurite.stop();
  await gcs.close();
  await rm(work, { recursive: true, force: true });
}

const fmt = (n: number, d = 1) => n.toFixed(d).padStart(9);
console.log(`storage: putContent (hash + upload) and getContent (download + BLAKE2b verify); sealed = publishSealed/fetchSealed (+ XChaCha20-Poly1305, Ed25519); median of ${reps}; copy = fs.copyFile of the same bytes`);
console.log('adapter                  size MB  publish ms    MB/s   fetch ms    MB/s    copy ms  publish/copy  fetch/copy');
for (const r of rows) {
  console.log(
    `${r.adapter.padEnd(24)}${fmt(r.sizeMB, 0)}${fmt(r.publishMs)}${fmt(r.publishMBps, 0)}${fmt(r.fetchMs)}${fmt(r.fetchMBps, 0)}${fmt(r.copyMs)}${fmt(r.publishVsCopy)}x${fmt(r.fetchVsCopy)}x`,
  );
}
if (jsonFile) await writeFile(jsonFile, JSON.stringify({ node: process.version, reps, rows }, null, 2));
