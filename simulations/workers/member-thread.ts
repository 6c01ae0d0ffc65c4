/**
 * @module A member worker thread: runs the real member runtime (runMember, its signed transport,
 * the secure-aggregation client with its in-memory state store, the model source) for the
 * virtual members the harness gave it. Their `fetch` and their model-store reads go over the
 * worker's port to the main thread, which passes them through the wire faults to the aggregator
 * (pool.ts); what a member trains on and how its runs end are posted back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ArtifactStore, StoredObject } from '../../core/artifact-store.ts';
import { TesseraError } from '../../core/errors.ts';
import { createModelSource } from '../../clients/model-source.ts';
import { runMember } from '../../clients/runtime.ts';
import type { SecAggStateStore } from '../../clients/secagg-runtime.ts';
import { memorySecAggStore } from '../../clients/secagg-runtime.ts';
import { Transport } from '../../clients/transport.ts';
import { VirtualClock } from '../clock.ts';
import { virtualModel } from '../virtual-member.ts';
import type { FromWorker, MemberInit, ToWorker, WorkerInit } from './messages.ts';
import { fromWireError } from './messages.ts';

const port = parentPort!;
const init = workerData as WorkerInit;
const clock = VirtualClock.attach(init.clock);
const post = (m: FromWorker) => port.postMessage(m);

let nextId = 1;
const pending = new Map<number, { resolve: (m: ToWorker) => void; reject: (e: Error) => void }>();
function ask(m: FromWorker & { id: number }): Promise<ToWorker> {
  return new Promise((resolve, reject) => {
    pending.set(m.id, { resolve, reject });
    post(m);
  });
}

/** The member's fetch: the request crosses to the main thread, the answer comes back whole. */
function portFetch(member: number, generation: number): typeof fetch {
  return (async (input: string | URL | Request, req: RequestInit = {}) => {
    const id = nextId++;
    const signal = req.signal;
    if (signal?.aborted) throw signal.reason;
    const body = req.body instanceof Uint8Array ? req.body : null;
    const answer = ask({ type: 'fetch', id, member, generation, url: String(input), method: req.method ?? 'GET', headers: { ...(req.headers as Record<string, string> | undefined) }, body });
    const onAbort = () => {
      const p = pending.get(id);
      if (!p) return;
      pending.delete(id);
      post({ type: 'abort', id });
      p.reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const m = await answer;
      if (m.type !== 'response') throw new Error(`member worker: expected a response, got ${m.type}`);
      const nullBody = m.status === 204 || m.status === 205 || m.status === 304;
      return new Response(nullBody ? null : m.body, { status: m.status, statusText: m.statusText, headers: m.headers });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }) as typeof fetch;
}

const notHere = (what: string) => async (): Promise<never> => {
  throw new TesseraError('INTERNAL', `${what}: a simulated member in a worker thread only reads model stores`);
};

/** One of the member's model stores: reads go to the main thread, which holds the real (possibly faulty) store. */
function portStore(member: number, generation: number, which: 'home' | 'replica', url: string): ArtifactStore {
  return {
    url,
    async get(key): Promise<StoredObject> {
      const m = await ask({ type: 'get', id: nextId++, member, generation, store: which, key });
      if (m.type !== 'object') throw new Error(`member worker: expected an object, got ${m.type}`);
      const bytes = m.bytes;
      return { key: m.key, size: m.size, version: m.version, body: (async function* () { yield bytes; })() };
    },
    put: notHere('put'),
    putContent: notHere('putContent'),
    head: notHere('head'),
    list: notHere('list'),
    delete: notHere('delete'),
    readPointer: notHere('readPointer'),
    publishPointer: notHere('publishPointer'),
    close: async () => {},
  };
}

interface Member {
  init: MemberInit;
  secagg: SecAggStateStore;
  abort: AbortController;
}
const members = new Map<number, Member>(init.members.map((m) => [m.member, { init: m, secagg: memorySecAggStore(), abort: new AbortController() }]));
const models = new Map(init.members.map((m) => [m.member, virtualModel({ seed: init.seed, member: m.member, observe: (observation) => post({ type: 'observe', observation }) })]));

function start(i: number, generation: number): void {
  const m = members.get(i)!;
  const abort = new AbortController();
  m.abort = abort;
  const { memberId, secretKey, skewMs, stores } = m.init;
  const now = () => clock.now() + skewMs;
  const transport = new Transport({ baseUrl: init.baseUrl, member: { memberId, secretKey }, fetch: portFetch(i, generation), now, retries: 3, backoffMs: 5 });
  const modelSource = stores
    ? createModelSource({ transport, federationId: init.federationId, memberId, secretKey, home: portStore(i, generation, 'home', stores.home), replicas: [portStore(i, generation, 'replica', stores.replica)], attempts: 2, backoffMs: 1 })
    : undefined;
  runMember({ transport, federationId: init.federationId, memberId, model: models.get(i)!, pollMs: init.pollMs, signal: abort.signal, secaggStore: m.secagg, modelSource, now }).then(
    () => post({ type: 'ended', member: i, generation, error: null }),
    (e: unknown) => post({ type: 'ended', member: i, generation, error: e instanceof Error ? e.message : String(e) }),
  );
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'start':
      return start(m.member, m.generation);
    case 'stop':
      return members.get(m.member)?.abort.abort();
    default: {
      const p = pending.get(m.id);
      if (!p) return; // answered after the member gave up on it (aborted)
      pending.delete(m.id);
      if (m.type === 'failed') p.reject(fromWireError(m.error));
      else p.resolve(m);
    }
  }
});
post({ type: 'ready' });
