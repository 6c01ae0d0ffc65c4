/**
 * @module `npm run bench:scale`: whole rounds at scale through the real aggregator, member runtime,
 * crypto and database (simulations/federation.ts, no faults): one secure (SecAgg+) round and one
 * plaintext round, each at two model sizes, with wall time, member messages per second, and the
 * process's peak heap and RSS during the round (sampled every 20 ms; the virtual members share the
 * process, so the figures include their state). Sizes: `--quick` small; default 1,000 members
 * secure at 10K and 100K params, 10,000 members plaintext at 10K and 100K. To explore other sizes,
 * `SCALE_SIZES=secure:300x10000,plaintext:1000x10000 npm run bench:scale`; `SCALE_LOG=1` prints
 * each stage change with the seconds since the round opened.
 */
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

async function oneRound(size: Size): Promise<BenchResult[]> {
  const database = await openSimulationDatabase();
  let messages = 0;
  let peakHeap = 0;
  let peakRss = 0;
  let sampling: NodeJS.Timeout | null = null;
  let roundStart = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed + m.arrayBuffers);
    peakRss = Math.max(peakRss, m.rss);
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
      log: process.env.SCALE_LOG ? (line) => console.log(`  [${((performance.now() - (roundStart || performance.now())) / 1000).toFixed(2)} s, heap ${Math.round(process.memoryUsage().heapUsed / 2 ** 20)} MiB]${line}`) : undefined,
      wire: () => async (req, next) => {
        if (!roundStart && req.kind !== 'poll') {
          roundStart = performance.now();
          sampling = setInterval(sample, 20);
        }
        messages++;
        return next();
      },
    });
    if (sampling) clearInterval(sampling);
    sample();
    const wallMs = performance.now() - (roundStart || performance.now());
    const status = run.rounds.map((r) => r.status).join(',');
    const detail = { members: size.members, params: size.params, secure: size.secure, status, forcedDeadlines: run.forcedDeadlines, baseHeapMiB: Math.round(base.heapUsed / 2 ** 20) };
    const key = `${size.label}, ${size.members} members x ${size.params} params`;
    return [
      { section: 'scale', metric: `${key}: round wall time`, value: wallMs / 1000, unit: 's', detail },
      { section: 'scale', metric: `${key}: member messages/s`, value: messages / (wallMs / 1000), unit: 'msg/s', detail: { ...detail, messages } },
      { section: 'scale', metric: `${key}: peak heap+buffers`, value: peakHeap / 2 ** 20, unit: 'MiB', detail },
      { section: 'scale', metric: `${key}: peak RSS`, value: peakRss / 2 ** 20, unit: 'MiB', detail },
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
