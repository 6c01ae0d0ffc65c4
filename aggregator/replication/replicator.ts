/**
 * @module Publishing sealed model versions to the federation's stores. After a commit (and on
 * every tick, for retries) each pending or failed replica is uploaded content-addressed, checked
 * (the store must report the artifact's hash), and the store's `latest` pointer is moved forward
 * by compare-and-swap. Failures are recorded on the replica row and retried with backoff; they
 * never touch the committed model.
 */
import { and, asc, eq, ne } from 'drizzle-orm';
import type { ArtifactStore, PointerState } from '../../core/artifact-store.ts';
import { TesseraError } from '../../core/errors.ts';
import { modelArtifacts, modelReplicas } from '../../schema/index.ts';
import { openStore } from '../../storage/open-store.ts';
import type { OpenStoreOptions } from '../../storage/open-store.ts';
import type { Db } from '../db/database.ts';

/** The pointer every store keeps: the newest version published there. */
export const LATEST_POINTER = 'latest';

/** What `latest` holds (JSON). */
export interface LatestPointer {
  federationId: string;
  version: number;
  sealedHash: string;
}

export interface ReplicatorOptions {
  db: Db;
  /** Endpoints and credentials for the stores (GCS apiEndpoint, Azure connection string...). */
  storeOptions?: OpenStoreOptions;
  now?: () => number;
  log?: (line: string) => void;
  /** First retry delay after a failure, ms (doubles per attempt, at most 60 s). */
  retryBaseMs?: number;
}

export interface Replicator {
  /** Publishes a federation's pending replicas soon (serialized per federation); never throws. */
  kick(federationId: string): void;
  /** Publishes (or retries) every due replica of every federation. */
  tick(): Promise<void>;
  /** Resolves when no publish is running. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const parsePointer = (p: PointerState | null): LatestPointer | null => {
  if (!p) return null;
  try {
    return JSON.parse(p.value) as LatestPointer;
  } catch {
    return null;
  }
};

export function createReplicator(opts: ReplicatorOptions): Replicator {
  const { db } = opts;
  const now = opts.now ?? Date.now;
  const log = opts.log ?? (() => {});
  const stores = new Map<string, ArtifactStore>();
  const chains = new Map<string, Promise<void>>();
  const storeFor = (url: string): ArtifactStore => {
    let s = stores.get(url);
    if (!s) stores.set(url, (s = openStore(url, { create: true, ...opts.storeOptions })));
    return s;
  };

  /** Moves `latest` forward to `next`, never backwards; CONFLICT means someone else moved it: re-read. */
  async function movePointer(store: ArtifactStore, next: LatestPointer): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const current = await store.readPointer(LATEST_POINTER);
      const at = parsePointer(current);
      if (current && at?.federationId !== next.federationId) {
        throw new TesseraError('CONFLICT', `${store.url}: pointer ${LATEST_POINTER} belongs to ${at ? `federation ${at.federationId}` : 'something else'}; give each federation its own store prefix`);
      }
      // Forward only; the same version with another hash is that version resealed under a rotated key.
      if (at && (at.version > next.version || (at.version === next.version && at.sealedHash === next.sealedHash))) return;
      try {
        await store.publishPointer(LATEST_POINTER, JSON.stringify(next), current?.version ?? null);
        return;
      } catch (e) {
        if (!(e instanceof TesseraError && e.code === 'CONFLICT') || attempt >= 4) throw e;
      }
    }
  }

  async function publishOne(row: typeof modelReplicas.$inferSelect): Promise<void> {
    const [artifact] = await db.select().from(modelArtifacts).where(and(eq(modelArtifacts.federationId, row.federationId), eq(modelArtifacts.version, row.version)));
    const t0 = now();
    try {
      if (!artifact) throw new TesseraError('INTERNAL', `no sealed artifact for version ${row.version}`);
      const store = storeFor(row.store);
      const put = await store.putContent(artifact.body);
      if (put.hash !== artifact.sealedHash || put.size !== artifact.sealedSize) {
        throw new TesseraError('INTEGRITY', `${row.store} stored ${put.size} bytes hashing to ${put.hash}, expected ${artifact.sealedHash}`);
      }
      await movePointer(store, { federationId: row.federationId, version: row.version, sealedHash: artifact.sealedHash });
      await db.update(modelReplicas).set({ status: 'published', attempts: row.attempts + 1, lastError: null, updatedAt: now(), publishedAt: now() }).where(eq(modelReplicas.id, row.id));
      log(`model ${row.version} published to ${row.store} (${artifact.sealedSize} bytes sealed, ${now() - t0} ms)`);
    } catch (e) {
      const message = e instanceof TesseraError ? `${e.code}: ${e.message}` : String((e as Error).message ?? e);
      await db.update(modelReplicas).set({ status: 'failed', attempts: row.attempts + 1, lastError: message.slice(0, 1000), updatedAt: now() }).where(eq(modelReplicas.id, row.id));
      log(`model ${row.version} not published to ${row.store} (attempt ${row.attempts + 1}; will retry): ${message}`);
    }
  }

  async function publishDue(federationId: string): Promise<void> {
    const rows = await db
      .select()
      .from(modelReplicas)
      .where(and(eq(modelReplicas.federationId, federationId), ne(modelReplicas.status, 'published')))
      .orderBy(asc(modelReplicas.version), asc(modelReplicas.id));
    const t = now();
    for (const row of rows) {
      const wait = row.status === 'failed' ? Math.min(60_000, (opts.retryBaseMs ?? 1000) * 2 ** Math.min(row.attempts - 1, 10)) : 0;
      if (row.updatedAt + wait <= t) await publishOne(row);
    }
  }

  const serialize = (federationId: string): Promise<void> => {
    const prev = chains.get(federationId) ?? Promise.resolve();
    const next = prev.then(() => publishDue(federationId)).catch((e: Error) => log(`replication of ${federationId} failed: ${e.message}`));
    chains.set(federationId, next);
    return next;
  };

  return {
    kick(federationId) {
      void serialize(federationId);
    },
    async tick() {
      const due = await db.selectDistinct({ federationId: modelReplicas.federationId }).from(modelReplicas).where(ne(modelReplicas.status, 'published'));
      await Promise.all(due.map((d) => serialize(d.federationId)));
    },
    async idle() {
      for (;;) {
        const running = [...chains.values()];
        await Promise.all(running);
        if ([...chains.values()].every((p) => running.includes(p))) return;
      }
    },
    async close() {
      await this.idle();
      for (const s of stores.values()) await s.close().catch(() => undefined);
      stores.clear();
    },
  };
}
