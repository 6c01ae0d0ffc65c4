/**
 * @module The main thread's side of member worker threads: spreads the virtual members
 * round-robin over `workers` threads (member i on thread i mod workers), starts and stops member
 * runs when the harness says (a crash, a restart), and serves what members send over the port:
 * each HTTP request goes through the member's faulty fetch (faults/wire.ts: the scenario's
 * middleware, acknowledgement records, in-flight counting) to `app.request()`, exactly as an
 * in-process member's does; each model-store read goes to the member's real, possibly faulty,
 * store here. Members' signing, key agreement, masking and JSON run in the workers.
 */
import { Worker } from 'node:worker_threads';
import type { ArtifactStore } from '../../core/artifact-store.ts';
import { concatBytes } from '../../core/artifact-store.ts';
import type { ModelObservation } from '../virtual-member.ts';
import type { FromWorker, ToWorker, WorkerInit } from './messages.ts';
import { wireError } from './messages.ts';

/** What every thread is started with (WorkerInit, all members; each thread gets its own), plus the main thread's seams. */
export interface MemberPoolOptions extends Omit<WorkerInit, 'entry'> {
  workers: number;
  /** Member `member`'s fetch in process generation `generation` (faults applied). */
  fetchFor(member: number, generation: number): typeof fetch;
  /** Member `member`'s home store or the other cloud's replica, as that process generation reads it. */
  storeFor(member: number, generation: number, which: 'home' | 'replica'): ArtifactStore;
  observe(o: ModelObservation): void;
}

export interface MemberPool {
  /** Starts member `i`'s run (process generation `generation`); settles when it ends (rejects with its error). */
  start(i: number, generation: number): Promise<void>;
  /** Stops member `i`'s current run (its signal aborts, as a killed process stops). */
  stop(i: number): void;
  /** Set when a worker thread died: the run cannot go on. */
  readonly failure: Error | null;
  /** Cancels what is still in flight, waits for it, and ends the threads. */
  close(): Promise<void>;
}

const BOOT = new URL('./boot.mjs', import.meta.url);
const ENTRY = new URL('./member-thread.ts', import.meta.url).href;

export async function startMemberPool(o: MemberPoolOptions): Promise<MemberPool> {
  const count = Math.max(1, Math.min(o.workers, o.members.length));
  const threadOf = (i: number) => i % count;
  const runs = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  const inflight = new Map<string, AbortController>();
  const serving = new Set<Promise<void>>();
  let failure: Error | null = null;

  const fail = (e: Error) => {
    failure ??= e;
    for (const r of runs.values()) r.reject(e);
    runs.clear();
  };

  const threads = Array.from({ length: count }, (_, t) => {
    const data: WorkerInit = { entry: ENTRY, baseUrl: o.baseUrl, federationId: o.federationId, seed: o.seed, pollMs: o.pollMs, clock: o.clock, members: o.members.filter((m) => threadOf(m.member) === t) };
    // execArgv: [] — the parent's loader flags (tsx's, vitest's) do not apply to a worker on Node 20; boot.mjs registers tsx itself.
    return new Worker(BOOT, { workerData: data, execArgv: [] });
  });

  function serve(w: Worker, t: number, m: FromWorker): void {
    const send = (x: ToWorker, transfer: ArrayBuffer[] = []) => w.postMessage(x, transfer);
    const key = `${t}/${'id' in m ? m.id : 0}`;
    switch (m.type) {
      case 'observe':
        return o.observe(m.observation);
      case 'ended': {
        const r = runs.get(`${m.member}/${m.generation}`);
        runs.delete(`${m.member}/${m.generation}`);
        if (m.error === null) r?.resolve();
        else r?.reject(new Error(m.error));
        return;
      }
      case 'abort':
        return inflight.get(key)?.abort();
      case 'fetch': {
        const abort = new AbortController();
        inflight.set(key, abort);
        const init: RequestInit = { method: m.method, headers: m.headers, signal: abort.signal, ...(m.body ? { body: m.body as Uint8Array<ArrayBuffer> } : {}) };
        const p = (async () => {
          try {
            const res = await o.fetchFor(m.member, m.generation)(m.url, init);
            const body = await res.arrayBuffer();
            send({ type: 'response', id: m.id, status: res.status, statusText: res.statusText, headers: [...res.headers], body }, [body]);
          } catch (e) {
            send({ type: 'failed', id: m.id, error: wireError(e) });
          } finally {
            inflight.delete(key);
          }
        })();
        serving.add(p);
        void p.finally(() => serving.delete(p));
        return;
      }
      case 'get': {
        const p = (async () => {
          try {
            const obj = await o.storeFor(m.member, m.generation, m.store).get(m.key);
            const chunks: Uint8Array[] = [];
            for await (const c of obj.body) chunks.push(c);
            // A copy of its own: a chunk may be a view into a pooled buffer, which must not be transferred.
            const bytes = concatBytes(chunks).slice();
            send({ type: 'object', id: m.id, key: obj.key, size: obj.size, version: obj.version, bytes }, [bytes.buffer]);
          } catch (e) {
            send({ type: 'failed', id: m.id, error: wireError(e) });
          }
        })();
        serving.add(p);
        void p.finally(() => serving.delete(p));
        return;
      }
    }
  }

  // Each thread says it is ready once its imports are done (an import error surfaces here).
  await Promise.all(
    threads.map(
      (w, t) =>
        new Promise<void>((resolve, reject) => {
          const onMessage = (m: FromWorker) => (m.type === 'ready' ? done() : done(new Error(`member worker ${t}: expected ready, got ${m.type}`)));
          const onError = (e: Error) => done(e);
          const onExit = (code: number) => done(new Error(`member worker ${t} exited (code ${code}) before it was ready`));
          // Only this handshake's listeners come off: the Worker keeps internal ones of its own.
          const done = (e?: Error) => {
            w.off('message', onMessage).off('error', onError).off('exit', onExit);
            if (e) reject(e);
            else resolve();
          };
          w.on('message', onMessage).on('error', onError).on('exit', onExit);
        }),
    ),
  ).catch(async (e: unknown) => {
    await Promise.all(threads.map((w) => w.terminate()));
    throw e;
  });
  let closing = false;
  threads.forEach((w, t) => {
    w.on('message', (m: FromWorker) => serve(w, t, m));
    w.on('error', (e) => fail(new Error(`member worker ${t} failed: ${e.message}`)));
    w.on('exit', (code) => {
      if (!closing) fail(new Error(`member worker ${t} exited (code ${code})`));
    });
  });

  return {
    start(i, generation) {
      if (failure) return Promise.reject(failure);
      return new Promise<void>((resolve, reject) => {
        runs.set(`${i}/${generation}`, { resolve, reject });
        threads[threadOf(i)].postMessage({ type: 'start', member: i, generation } satisfies ToWorker);
      });
    },
    stop(i) {
      threads[threadOf(i)].postMessage({ type: 'stop', member: i } satisfies ToWorker);
    },
    get failure() {
      return failure;
    },
    async close() {
      closing = true;
      for (const a of inflight.values()) a.abort();
      while (serving.size) await Promise.all([...serving]);
      await Promise.all(threads.map((w) => w.terminate()));
      for (const r of runs.values()) r.resolve();
      runs.clear();
    },
  };
}
