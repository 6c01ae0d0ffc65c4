import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TesseraError } from '../core/errors.ts';
import { createLocalCohort, runLocalRound } from './secagg-local.ts';
import type { ServerSnapshot } from './secagg-server.ts';
import { SecAggServer } from './secagg-server.ts';
import { applyPrgInto } from './prg.ts';
import type { MaskJob } from './unmask-pool.ts';
import { applyMasks, choosePool, PARALLEL_MIN_WORDS, UnmaskPool, workerExecArgv } from './unmask-pool.ts';
import { SimdAccumulator, simdModule } from './unmask-simd.ts';

const sameBytes = (a: Uint32Array, b: Uint32Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

const jobs = (count: number): MaskJob[] => Array.from({ length: count }, (_, i) => ({ seed: new Uint8Array(randomBytes(32)), sign: i % 3 === 0 ? 1 : -1 }));

function startingSum(words: number): Uint32Array {
  const acc = new Uint32Array(words);
  for (let i = 0; i < words; i++) acc[i] = (i * 2654435761) >>> 0;
  return acc;
}

describe('WebAssembly SIMD additions', () => {
  it('give the bytes of the JavaScript loop, on odd lengths and with both signs', () => {
    expect(simdModule).not.toBeNull();
    for (const words of [1, 3, 4, 5, 16_383, 16_384, 16_385, 100_004, 70_001]) {
      const batch = jobs(4);
      const expected = startingSum(words);
      for (const job of batch) applyPrgInto(expected, job.seed, job.sign);
      const acc = startingSum(words);
      applyMasks(acc, batch);
      expect(sameBytes(acc, expected)).toBe(true);
    }
  });

  it('adds a whole vector longer than its scratch area in pieces', () => {
    const words = 50_001;
    const sum = new SimdAccumulator(simdModule!, words, 4096);
    const other = new Int32Array(startingSum(words).buffer);
    sum.load(startingSum(words));
    sum.apply(other, 0, 1);
    sum.apply(other, 0, 1);
    sum.apply(other, 0, -1);
    const out = new Uint32Array(words);
    sum.store(out);
    const expected = startingSum(words).map((x) => (x * 2) >>> 0);
    expect(sameBytes(out, expected)).toBe(true);
  });
});

describe('unmask worker pool', () => {
  const pool = new UnmaskPool(2);
  afterAll(() => pool.close());
  // Once a worker has loaded, the main thread leaves every job to the workers: start them first,
  // so the tests below check the worker module's bytes, not the main thread's.
  beforeAll(async () => {
    const warm = pool.start(new Uint32Array(4));
    warm.post([]);
    await warm.finish();
    expect(pool.workersReady()).toBe(true);
  });

  it('starts workers with the flags they accept and need, not the parent\'s tsx or heap flags', () => {
    const parent = ['--require', '/app/node_modules/tsx/dist/preflight.cjs', '--import', 'file:///app/node_modules/tsx/dist/loader.mjs',
      '--max-old-space-size=8192', '--conditions', 'development', '-C', 'node', '--enable-source-maps', '--cpu-prof', '--cpu-prof-dir=/tmp/p'];
    expect(workerExecArgv(parent)).toEqual(['--conditions', 'development', '-C', 'node', '--enable-source-maps', '--cpu-prof', '--cpu-prof-dir=/tmp/p']);
  });

  it('adds the same bytes as the in-thread path, over batches posted one after another', async () => {
    // An odd length crosses the 16K-word chunks unevenly.
    const words = 70_001;
    const first = jobs(25);
    const second = jobs(17);
    const expected = startingSum(words);
    applyMasks(expected, [...first, ...second]);
    const acc = startingSum(words);
    const task = pool.start(acc);
    task.post(first);
    task.post(second);
    await task.finish();
    expect(sameBytes(acc, expected)).toBe(true);
    // Every job ran in the TypeScript worker module (crypto/unmask-worker.ts).
    expect(task.workerJobs).toBe(first.length + second.length);
  });

  it('redoes the work in-thread when a worker dies mid-task, with the same result', async () => {
    const words = 100_004;
    const batch = jobs(60);
    const expected = startingSum(words);
    applyMasks(expected, batch);
    const acc = startingSum(words);
    const task = pool.start(acc);
    task.post(batch);
    // A real crash: the worker thread is stopped while it holds half-summed jobs.
    await (pool as unknown as { workers: { terminate(): Promise<number> }[] }).workers[0].terminate();
    await task.finish();
    expect(sameBytes(acc, expected)).toBe(true);
    // The pool respawns its workers for the next task.
    const again = startingSum(words);
    const next = pool.start(again);
    next.post(batch);
    await next.finish();
    expect(sameBytes(again, expected)).toBe(true);
  });

  it('uses the pool only from the threshold on, and never without workers', () => {
    expect(choosePool(10, 100_004, { pool })).toBeNull();
    expect(choosePool(Math.ceil(PARALLEL_MIN_WORDS / 100_004), 100_004, { pool })).toBe(pool);
    expect(choosePool(1, 1, { pool, minParallelWords: 0 })).toBe(pool);
    expect(choosePool(10_000, 100_004, { pool: null })).toBeNull();
    expect(choosePool(10_000, 100_004, { pool: new UnmaskPool(0) })).toBeNull();
  });
});

describe('SecAggServer.closeAsync', () => {
  const pool = new UnmaskPool(1);
  afterAll(() => pool.close());
  // SecAgg+ with dropouts after share_keys (their pairwise masks are rebuilt) and after consistency.
  const cohort = createLocalCohort({ members: 24, params: 20_000, seed: 11, neighbours: 10, threshold: 6 });
  let beforeUnmask: ServerSnapshot | null = null;
  const run = runLocalRound({
    ...cohort,
    dropAfter: { share_keys: ['m03', 'm11', 'm17'], consistency: ['m20'] },
    beforeClose: (stage, server) => { if (stage === 'unmask') beforeUnmask = server.snapshot(); },
  });

  it('on the worker pool gives the bytes of the in-thread close()', async () => {
    expect(run.result.status).toBe('completed');
    if (run.result.status === 'completed') expect(run.result.dropped).toEqual(['m03', 'm11', 'm17']);
    const single = SecAggServer.restore(beforeUnmask!);
    expect(single.close()).toBe('done');
    expect(single.unmaskPath).toBe('in-thread');
    const pooled = SecAggServer.restore(beforeUnmask!);
    expect(await pooled.closeAsync({ pool, minParallelWords: 0 })).toBe('done');
    expect(pooled.unmaskPath).toBe('workers');
    expect(JSON.stringify(pooled.snapshot().result)).toBe(JSON.stringify(single.snapshot().result));
    expect(JSON.stringify(single.snapshot().result)).toBe(JSON.stringify(run.server.snapshot().result));
  });

  it('stays in-thread below the threshold, with the same bytes', async () => {
    const small = SecAggServer.restore(beforeUnmask!);
    expect(await small.closeAsync({ pool })).toBe('done');
    expect(small.unmaskPath).toBe('in-thread');
    expect(JSON.stringify(small.snapshot().result)).toBe(JSON.stringify(run.server.snapshot().result));
  });

  it('refuses messages and snapshots while the unmask runs, and closes other stages like close()', async () => {
    const server = SecAggServer.restore(beforeUnmask!);
    const pending = server.closeAsync({ pool, minParallelWords: 0 });
    const refusal = (() => {
      try {
        server.snapshot();
      } catch (e) {
        return e instanceof TesseraError ? `${e.code}: ${e.message}` : String(e);
      }
      return 'no error';
    })();
    expect(refusal).toMatch(/^ROUND_STATE: .*unmasking is in progress/);
    expect(await pending).toBe('done');
    expect(server.result()?.status).toBe('completed');
    // Before unmask, closeAsync is close(): the same next stage.
    const fresh = new SecAggServer(cohort.config);
    expect(await fresh.closeAsync({ pool })).toBe('failed');
    expect(fresh.result()).toEqual({ status: 'failed', reason: 'advertise_keys: only 0 members completed it; at least t = 6 needed' });
  });
});
