/**
 * @module `npm run bench:scale`: whole rounds at scale through the real aggregator, member runtime,
 * crypto and database (simulations/federation.ts, no faults): one secure (SecAgg+) round and one
 * plaintext round, each at two model sizes, with wall time and member messages per second.
 * The virtual members run in worker threads (default 1, `SCALE_WORKERS=N`; 0 runs them in the
 * aggregator's thread as before), so their signing, key agreement, masking and JSON do not share
 * the aggregator's thread (one thread had lower median wall times than two, 5 runs each on the
 * loaded 2-core machine; neither beat in-process there: docs/simulations.md, Scale), and memory
 * is reported in two figures, sampled every 20 ms during the round (the first member message
 * that is not a poll to the last member's evaluation, whose answer comes after the commit; the
 * harness's own checks afterwards are neither timed nor sampled): the aggregator's peak heap, i.e. the main thread's V8 heap in use
 * (v8.getHeapStatistics().used_heap_size) plus the ArrayBuffers that thread allocated
 * (process.memoryUsage().arrayBuffers is per thread): the aggregator, the JS side of its
 * in-process PGlite database and the harness, no member state. PGlite's WASM memory (the Postgres
 * engine's own heap; a real deployment's database server) is not an ArrayBuffer: it shows in the
 * main thread's `external` (peakExternalMiB in the detail) and in the whole process's peak RSS,
 * the second figure (members, worker heaps, WASM memory, code). With SCALE_WORKERS=0 the first figure
 * includes the members too. Sizes: `--quick` small; default 1,000 members secure at 10K and 100K
 * params, 10,000 members plaintext at 10K and 100K. To explore other sizes,
 * `SCALE_SIZES=secure:300x10000,plaintext:1000x10000 npm run bench:scale`; `SCALE_LOG=1` prints
 * each stage change with the seconds since the round opened.
 */
import v8 from 'node:v8';
import { openSimulationDatabase } from '../simulations/run.ts';
import { simulateFederation } from '../simulations/federation.ts';
import type { BenchOptions, BenchResult, BenchSection } from './harness.ts';
import { isMain, runBenchmarks } from './harness.ts';

interface Size {
  label: string;
  secure: boolean;
  members: number;
  params: number;
}

/** `secure:300x10000,plaintext:1000x10000` (from SCALE_SIZES) as sizes. */
function sizesFrom(list: string): Size[] {
  return list.split(',').map((item) => {
    const m = /^(secure|plaintext):(\d+)x(\d+)$/.exec(item.trim());
    if (!m) throw new Error(`SCALE_SIZES: expected items like secure:1000x10000 or plaintext:10000x10000, got "${item}"`);
    return { label: m[1], secure: m[1] === 'secure', members: Number(m[2]), params: Number(m[3]) };
  });
}

const SIZES = (quick: boolean): Size[] =>
  process.env.SCALE_SIZES
    ? sizesFrom(process.env.SCALE_SIZES)
    : quick
    ? [
        { label: 'secure', secure: true, members: 20, params: 10_000 },
        { label: 'secure', secure: true, members: 20, params: 100_000 },
        { label: 'plaintext', secure: false, members: 100, params: 10_000 },
        { label: 'plaintext', secure: false, members: 100, params: 100_000 },
      ]
    : [
        { label: 'secure', secure: true, members: 1000, params: 10_000 },
        { label: 'secure', secure: true, members: 1000, params: 100_000 },
        { label: 'plaintext', secure: false, members: 10_000, params: 10_000 },
        { label: 'plaintext', secure: false, members: 10_000, params: 100_000 },
      ];

/** Member worker threads (SCALE_WORKERS, default 1; 0: members in the aggregator's thread). */
function workersFrom(v: string | undefined): number {
  if (v === undefined || v === '') return 1;
  if (!/^\d+$/.test(v) || Number(v) > 64) throw new Error(`SCALE_WORKERS: expected an integer in [0, 64], got "${v}"`);
  return Number(v);
}
const WORKERS = workersFrom(process.env.SCALE_WORKERS);

async function oneRound(size: Size): Promise<BenchResult[]> {
  const database = await openSimulationDatabase();
  let messages = 0;
  let peakHeap = 0;
  let peakRss = 0;
  let peakExternal = 0;
  let sampling: NodeJS.Timeout | null = null;
  let roundStart = 0;
  // The round ends with the last member's evaluation (its answer comes after the round commits);
  // what the harness does after that (invariant checks reading everything back) is not timed.
  let roundEnd = 0;
  let evaluations = 0;
  const sample = () => {
    // Both per thread: this (the aggregator's) thread's heap and ArrayBuffers; RSS is the process's.
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, v8.getHeapStatistics().used_heap_size + m.arrayBuffers);
    peakRss = Math.max(peakRss, m.rss);
    peakExternal = Math.max(peakExternal, m.external);
  };
  try {
    global.gc?.();
    const base = process.memoryUsage();
    const run = await simulateFederation({
      name: `scale ${size.label} ${size.members}x${size.params}`,
      database,
      size: { members: size.members, params: size.params, rounds: 1, seed: 1 },
      secure: size.secure,
      // Members long-poll their view (pollMs paces only the operator loop and a member's first
      // poll); wait longer before taking silence for a missed deadline.
      pollMs: Math.max(20, Math.round(size.members / 10)),
      idleMs: 60_000,
      workers: WORKERS,
      log: process.env.SCALE_LOG ? (line) => console.log(`  [${((performance.now() - (roundStart || performance.now())) / 1000).toFixed(2)} s, heap ${Math.round(process.memoryUsage().heapUsed / 2 ** 20)} MiB]${line}`) : undefined,
      wire: () => async (req, next) => {
        if (!roundStart && req.kind !== 'poll') {
          roundStart = performance.now();
          sampling = setInterval(sample, 20);
        }
        if (!roundEnd) messages++;
        const res = await next();
        if (req.kind === 'message' && req.stage === 'evaluate' && res.ok && ++evaluations === size.members) {
          sample();
          if (sampling) clearInterval(sampling);
          roundEnd = performance.now();
        }
        return res;
      },
    });
    if (!roundEnd) {
      if (sampling) clearInterval(sampling);
      sample();
    }
    const wallMs = (roundEnd || performance.now()) - (roundStart || performance.now());
    const status = run.rounds.map((r) => r.status).join(',');
    const detail = { members: size.members, params: size.params, secure: size.secure, workers: WORKERS, status, forcedDeadlines: run.forcedDeadlines, memberErrors: run.memberErrors.length, baseHeapMiB: Math.round(base.heapUsed / 2 ** 20), peakExternalMiB: Math.round(peakExternal / 2 ** 20) };
    // A member whose runtime stopped on an error is not an invariant failure, but it is said.
    for (const e of run.memberErrors.slice(0, 3)) console.log(`  member error: ${e}`);
    if (run.memberErrors.length > 3) console.log(`  ... ${run.memberErrors.length - 3} more member errors`);
    const key = `${size.label}, ${size.members} members x ${size.params} params`;
    return [
      { section: 'scale', metric: `${key}: round wall time`, value: wallMs / 1000, unit: 's', detail },
      { section: 'scale', metric: `${key}: member messages/s`, value: messages / (wallMs / 1000), unit: 'msg/s', detail: { ...detail, messages } },
      { section: 'scale', metric: `${key}: aggregator peak heap+buffers${WORKERS ? '' : ' (members included: SCALE_WORKERS=0)'}`, value: peakHeap / 2 ** 20, unit: 'MiB', detail },
      { section: 'scale', metric: `${key}: process peak RSS (aggregator + members)`, value: peakRss / 2 ** 20, unit: 'MiB', detail },
    ];
  } finally {
    if (sampling) clearInterval(sampling);
    await database.close();
  }
}

export const scaleSections = (quick: boolean): BenchSection[] =>
  SIZES(quick).map((size) => ({
    name: `one ${size.label} round: ${size.members} members, ${size.params} params`,
    run: (_o: BenchOptions) => oneRound(size),
  }));

if (isMain(import.meta.url)) await runBenchmarks('scale', scaleSections(process.argv.includes('--quick')));
