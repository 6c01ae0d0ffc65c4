/**
 * @module Storage faults: an ArtifactStore wrapper for one member's home replica that serves what
 * real object stores serve on a bad day: a stale object (an older, authentic artifact where the
 * new one should be), a lost write (acknowledged, then gone), a torn (truncated) object, flipped
 * bits, a replica lagging several versions behind, and a list that misses fresh objects.
 */
import type { ArtifactStore, StoredObject } from '../../core/artifact-store.ts';
import { concatBytes } from '../../core/artifact-store.ts';
import { TesseraError } from '../../core/errors.ts';
import { createRng } from '../../core/random.ts';

export type StoreFaultMode = 'stale' | 'lost' | 'torn' | 'flip' | 'lag' | 'list-miss';

export interface StoreFaultOptions {
  mode: StoreFaultMode;
  /** The model version a key holds (content keys of sealed artifacts), null for other keys. */
  versionOf: (key: string) => Promise<number | null>;
  /** The content key of a version's sealed artifact. */
  keyOf: (version: number) => Promise<string | null>;
  /** The newest committed version (the replica lags behind it). */
  latest: () => Promise<number>;
  /** Versions below this are served intact (faults start with the first new model). */
  fromVersion: number;
  /** `lag`: how many versions the replica is behind. */
  lag?: number;
  seed: number;
  /** Records what was injected. */
  inject: (what: string, version: number) => void;
}

async function readAll(o: StoredObject): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of o.body) chunks.push(c);
  return concatBytes(chunks);
}

function served(info: StoredObject, bytes: Uint8Array): StoredObject {
  return { ...info, size: bytes.length, body: (async function* () { yield bytes; })() };
}

/** Wraps `inner` so reads of model versions >= fromVersion go wrong the way `mode` says. */
export function faultyStore(inner: ArtifactStore, o: StoreFaultOptions): ArtifactStore {
  const rng = createRng(`store/${o.seed}/${o.mode}`);
  const faulted = async (key: string): Promise<number | null> => {
    const v = await o.versionOf(key);
    return v !== null && v >= o.fromVersion ? v : null;
  };
  return {
    url: inner.url,
    put: (k, s, opts) => inner.put(k, s, opts),
    putContent: (s) => inner.putContent(s),
    head: (k) => inner.head(k),
    delete: (k) => inner.delete(k),
    readPointer: (n) => inner.readPointer(n),
    publishPointer: (n, v, e) => inner.publishPointer(n, v, e),
    close: () => inner.close(),
    async list(prefix) {
      const all = await inner.list(prefix);
      if (o.mode !== 'list-miss') return all;
      const out = [];
      for (const info of all) {
        const v = await faulted(info.key);
        if (v === null) out.push(info);
        else o.inject(`list of ${inner.url} missed ${info.key.slice(0, 20)}…`, v);
      }
      return out;
    },
    async get(key) {
      const v = await faulted(key);
      if (v === null) return inner.get(key);
      switch (o.mode) {
        case 'stale': {
          const older = await o.keyOf(v - 1);
          if (!older) return inner.get(key);
          o.inject(`stale read: version ${v - 1} served for version ${v}`, v);
          const old = await inner.get(older);
          return served({ ...old, key }, await readAll(old));
        }
        case 'lost': {
          // The write was acknowledged, then lost: the object is really gone from the replica.
          if (await inner.delete(key)) o.inject(`lost write: version ${v} vanished from ${inner.url}`, v);
          return inner.get(key);
        }
        case 'lag': {
          const latest = await o.latest();
          if (v > latest - (o.lag ?? 2)) {
            o.inject(`lagging replica: version ${v} not there yet (latest ${latest})`, v);
            throw new TesseraError('NOT_FOUND', `${inner.url}: no object ${key}`);
          }
          return inner.get(key);
        }
        case 'torn': {
          const obj = await inner.get(key);
          const bytes = await readAll(obj);
          o.inject(`torn object: version ${v} cut to ${bytes.length >> 1} of ${bytes.length} bytes`, v);
          return served(obj, bytes.subarray(0, bytes.length >> 1));
        }
        case 'flip': {
          const obj = await inner.get(key);
          const bytes = Uint8Array.from(await readAll(obj));
          const at = rng.int(bytes.length);
          bytes[at] ^= 1 << rng.int(8);
          o.inject(`flipped bit: version ${v}, byte ${at}`, v);
          return served(obj, bytes);
        }
        default:
          return inner.get(key);
      }
    },
  };
}
