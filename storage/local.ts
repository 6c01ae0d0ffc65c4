/** @module The local-directory artifact store: temp file + fsync + atomic rename; pointer CAS under a lock file. */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { TesseraError } from '../core/errors.ts';
import { contentKey, isInternalKey, validateKey, validatePrefix } from '../core/artifact-store.ts';
import type { ArtifactStore, ByteSource, ObjectInfo, PointerState, PutResult, StoredObject } from '../core/artifact-store.ts';
import { hashingSource, mappedBody, toReadable } from './streams.ts';

/** Options of the local store. */
export interface LocalStoreOptions {
  /** A pointer lock older than this is taken to belong to a crashed writer and is broken (ms). */
  staleLockMs?: number;
}

const isMissing = (err: unknown): boolean => (err as NodeJS.ErrnoException)?.code === 'ENOENT';
const versionOf = (s: Stats): string => `${s.ino}-${s.size}-${s.mtimeMs}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An artifact store in a directory: the default, and the model for what the cloud adapters promise. */
export class LocalStore implements ArtifactStore {
  readonly url: string;
  private readonly staleLockMs: number;

  constructor(readonly root: string, opts: LocalStoreOptions = {}) {
    this.url = pathToFileURL(root).href;
    this.staleLockMs = opts.staleLockMs ?? 30_000;
  }

  private path(key: string): string {
    return join(this.root, ...key.split('/'));
  }

  /** Writes to a temp file in the store (same filesystem) and fsyncs it; the caller renames it into `targetDir`. */
  private async writeAtomically(targetDir: string, source: ByteSource): Promise<{ hash: string; size: number; tmp: string }> {
    const tmpDir = join(this.root, '.tmp');
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, randomUUID());
    const hashing = hashingSource(source);
    const handle = await open(tmp, 'wx');
    try {
      await pipeline(toReadable(hashing.chunks), createWriteStream('', { fd: handle.fd, autoClose: false }));
      await handle.sync();
    } catch (err) {
      await handle.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await handle.close();
    await mkdir(targetDir, { recursive: true });
    return { ...hashing.result(), tmp };
  }

  async put(key: string, source: ByteSource): Promise<PutResult> {
    validateKey(key);
    const target = this.path(key);
    const { hash, size, tmp } = await this.writeAtomically(dirname(target), source);
    await rename(tmp, target);
    await syncDir(dirname(target));
    return { key, hash, size, version: versionOf(await stat(target)) };
  }

  async putContent(source: ByteSource): Promise<PutResult> {
    const { hash, size, tmp } = await this.writeAtomically(join(this.root, 'objects'), source);
    const key = contentKey(hash);
    const target = this.path(key);
    const existing = await stat(target).catch((err) => (isMissing(err) ? null : Promise.reject(err)));
    if (existing && existing.size === size) {
      await rm(tmp, { force: true });
      return { key, hash, size, version: versionOf(existing) };
    }
    await rename(tmp, target); // same bytes under the same name: replacing is harmless
    await syncDir(dirname(target));
    return { key, hash, size, version: versionOf(await stat(target)) };
  }

  async get(key: string): Promise<StoredObject> {
    validateKey(key);
    let handle;
    try {
      handle = await open(this.path(key), 'r');
    } catch (err) {
      if (isMissing(err)) throw new TesseraError('NOT_FOUND', `${this.url}: ${key} does not exist`, { details: { store: this.url, key } });
      throw err;
    }
    const s = await handle.stat();
    const h = handle;
    const chunks = (async function* () {
      yield* h.createReadStream({ highWaterMark: 1 << 20 });
    })();
    return { key, size: s.size, version: versionOf(s), body: mappedBody(chunks, this.url, key, () => h.close()) };
  }

  async head(key: string): Promise<ObjectInfo | null> {
    validateKey(key);
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { key, size: s.size, version: versionOf(s) } : null;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async list(prefix = ''): Promise<ObjectInfo[]> {
    validatePrefix(prefix);
    // Walk only the deepest directory the prefix names.
    const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const out: ObjectInfo[] = [];
    const walk = async (dirKey: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dirKey ? this.path(dirKey) : this.root, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) return;
        throw err;
      }
      for (const e of entries) {
        const key = dirKey ? `${dirKey}/${e.name}` : e.name;
        if (isInternalKey(key)) continue;
        if (e.isDirectory()) {
          if (prefix.startsWith(key + '/') || (key + '/').startsWith(prefix)) await walk(key);
        } else if (e.isFile() && key.startsWith(prefix)) {
          const s = await stat(this.path(key)).catch(() => null);
          if (s) out.push({ key, size: s.size, version: versionOf(s) });
        }
      }
    };
    await walk(base);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<boolean> {
    validateKey(key);
    try {
      await unlink(this.path(key));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  private pointerPath(name: string): string {
    return join(this.root, '.pointers', ...validateKey(name, 'pointer').split('/')) + '.json';
  }

  async readPointer(name: string): Promise<PointerState | null> {
    try {
      const parsed = JSON.parse(await readFile(this.pointerPath(name), 'utf8')) as PointerState;
      return { value: parsed.value, version: parsed.version };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async publishPointer(name: string, value: string, expectedVersion: string | null): Promise<PointerState> {
    const file = this.pointerPath(name);
    await mkdir(dirname(file), { recursive: true });
    const release = await this.lock(file + '.lock');
    try {
      const current = await this.readPointer(name);
      if ((current?.version ?? null) !== expectedVersion) {
        throw new TesseraError('CONFLICT', `${this.url}: pointer ${name} is at version ${current?.version ?? '(absent)'}, not ${expectedVersion ?? '(absent)'}; re-read it and retry`, {
          details: { store: this.url, pointer: name, expectedVersion, actualVersion: current?.version ?? null },
        });
      }
      const next: PointerState = { value, version: String(Number(current?.version ?? 0) + 1) };
      const { tmp } = await this.writeAtomically(dirname(file), new TextEncoder().encode(JSON.stringify(next)));
      await rename(tmp, file);
      await syncDir(dirname(file));
      return next;
    } finally {
      await release();
    }
  }

  /** An exclusive-create lock file; a lock older than staleLockMs is broken (its writer crashed). */
  private async lock(path: string): Promise<() => Promise<void>> {
    const token = `${process.pid}:${randomUUID()}`;
    for (let attempt = 0; ; attempt++) {
      try {
        const h = await open(path, 'wx');
        await h.writeFile(token);
        await h.close();
        return () => unlink(path).catch(() => undefined);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const s = await stat(path).catch(() => null);
      if (s && Date.now() - s.mtimeMs > this.staleLockMs) {
        // Rename first so that two processes breaking the same stale lock cannot both succeed.
        const aside = `${path}.stale-${randomUUID()}`;
        await rename(path, aside).then(() => rm(aside, { force: true }), () => undefined);
        continue;
      }
      if (attempt > 2000) throw new TesseraError('STORE_UNAVAILABLE', `${this.url}: pointer lock ${path} held for too long`);
      await sleep(Math.min(2 + attempt, 25));
    }
  }

  async close(): Promise<void> {}
}

/** fsync a directory so a rename survives a power cut (not supported everywhere: best effort). */
async function syncDir(dir: string): Promise<void> {
  try {
    const h = await open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    // Windows cannot open directories; the rename is still atomic.
  }
}
