/**
 * @module Transport faults: a `fetch` for one virtual member that passes each request through the
 * scenario's middleware (duplicate, reorder, delay, drop, partition, hold), counts requests in
 * flight (so the harness knows when the federation is idle), and records every update the
 * aggregator acknowledged (invariant 2: none accepted is lost).
 */

/** One member request as the network sees it. */
export interface WireRequest {
  member: number;
  method: string;
  path: string;
  /** For member PUTs: the round and the stage the message answers ('fit', 'evaluate', a secure stage). */
  round: number | null;
  stage: string | null;
  /** 'update' (fit update, masked input), 'message' (other protocol PUTs), 'report' (fetch reports, refusals), 'poll' (GETs). */
  kind: 'update' | 'message' | 'report' | 'poll';
  /** The member process generation (restarts count up). */
  generation: number;
  /** The request as sent (URL, init with its signed headers, body bytes), for capture and replay. */
  url: string;
  init: RequestInit;
  body: Uint8Array;
  headers: Record<string, string>;
}

/** A scenario's transport fault: call `next()` to deliver (zero, one or several times). */
export type WireMiddleware = (req: WireRequest, next: () => Promise<Response>) => Promise<Response>;

/** An update the aggregator acknowledged to a member. */
export interface Ack {
  member: number;
  round: number;
  stage: string;
  hash: string;
}

/** Activity the harness watches to decide that only a deadline can move the round on. */
export interface WireActivity {
  inflight: number;
  lastPutAt: number;
}

const PUT_PATH = /^\/v1\/federations\/[^/]+\/members\/[^/]+\/rounds\/(\d+)\/(update|update-url|evaluation|decline|fetch-report|secagg\/([a-z_]+)(\/refusal)?)$/;

/** Classifies a member request by its path. */
export function classify(member: number, generation: number, url: string, init: RequestInit = {}): WireRequest {
  const method = init.method ?? 'GET';
  const path = new URL(url).pathname;
  const body = init.body instanceof Uint8Array ? init.body : new Uint8Array(0);
  const headers = { ...(init.headers as Record<string, string> | undefined) };
  const base = { member, method, path, generation, url, init, body, headers };
  const m = method === 'PUT' ? PUT_PATH.exec(path) : null;
  if (!m) return { ...base, round: null, stage: null, kind: 'poll' };
  const round = Number(m[1]);
  const what = m[2];
  if (what === 'update' || what === 'update-url') return { ...base, round, stage: 'fit', kind: 'update' };
  if (what === 'evaluation') return { ...base, round, stage: 'evaluate', kind: 'message' };
  if (m[3]) return { ...base, round, stage: m[3], kind: m[4] ? 'report' : m[3] === 'masked_input' ? 'update' : 'message' };
  return { ...base, round, stage: null, kind: 'report' };
}

/** A network error, as fetch raises it. */
export const networkError = (why: string): Error => Object.assign(new TypeError(`fetch failed: ${why}`), { cause: why });

export interface WireOptions {
  member: number;
  generation: number;
  /** The aggregator as it is now (it may be replaced after a crash). */
  deliver: typeof fetch;
  middleware?: WireMiddleware;
  activity: WireActivity;
  acks: Ack[];
  /** A crashed member process sends nothing more. */
  dead: () => boolean;
}

/** The member's fetch with faults injected. */
export function faultyFetch(o: WireOptions): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const req = classify(o.member, o.generation, String(input), init);
    if (o.dead()) throw networkError('the member process is gone');
    o.activity.inflight++;
    try {
      // A long poll (conditional GET) the aggregator holds is not a message on its way: the
      // harness may still reach a deadline meanwhile (it is counted again once answered).
      const held = req.kind === 'poll' && req.headers['if-none-match'] !== undefined;
      const next = async () => {
        if (held) o.activity.inflight--;
        try {
          return await o.deliver(input, init);
        } finally {
          if (held) o.activity.inflight++;
        }
      };
      const res = o.middleware ? await o.middleware(req, next) : await next();
      if (req.kind === 'update' && res.ok && req.round !== null) {
        const body = (await res.clone().json()) as { accepted?: { hash?: string } };
        if (body.accepted?.hash) o.acks.push({ member: o.member, round: req.round, stage: req.stage!, hash: body.accepted.hash });
      }
      return res;
    } finally {
      o.activity.inflight--;
      if (req.kind !== 'poll') o.activity.lastPutAt = performance.now();
    }
  }) as typeof fetch;
}

/** Composes middlewares: the first listed sees the request first. */
export function chain(...mws: (WireMiddleware | undefined)[]): WireMiddleware | undefined {
  const list = mws.filter((m): m is WireMiddleware => m !== undefined);
  if (list.length === 0) return undefined;
  return (req, next) => {
    const run = (i: number): Promise<Response> => (i === list.length ? next() : list[i](req, () => run(i + 1)));
    return run(0);
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
