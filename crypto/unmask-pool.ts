/**
 * @module Taking the masks away at unmask: `acc += sign * PRG(seed)` for every survivor's self
 * mask and every pairwise mask a dropped member left behind. At 500 members and 10% dropped that
 * is about 2 000 independent ChaCha20 expansions of the whole vector, almost all of the
 * aggregator's unmask time, so they are spread over worker threads.
 *
 * How: the jobs of a batch (seed, sign) sit in shared memory with a shared counter; each worker
 * (crypto/unmask-worker.ts) takes the next job until none is left (so a core slowed by other load
 * simply takes fewer) and adds into its own partial sum; the main thread takes jobs only until a
 * worker has loaded, then adds the partial sums. Addition mod 2^32 is commutative, so the result is
 * byte-identical to the in-thread path whatever the split (tested). Small inputs stay in-thread:
 * below PARALLEL_MIN_WORDS of PRG output the hand-off costs more than it saves. If a worker
 * fails, the whole unmask is redone in-thread from a copy of the accumulator. Every thread adds
 * with WebAssembly SIMD where available (crypto/unmask-simd.ts).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { applyPrgInto, PRG_SEED_BYTES } from './prg.ts';
import { SimdAccumulator, simdModule } from './unmask-simd.ts';
import type { WorkerJob } from './unmask-worker.ts';

/** One mask to remove: acc += sign * PRG(seed). */
export interface MaskJob {
  seed: Uint8Array;
  sign: 1 | -1;
}

/** Total PRG words (jobs x vector words) from which the pool is used: about 10 ms of in-thread work. */
export const PARALLEL_MIN_WORDS = 4_000_000;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The worker is crypto/unmask-worker.ts, which imports prg.ts and unmask-simd.ts. On Node 20
 * tsx's `--import` hooks register on the main thread only, and vitest runs this file through vite
 * (its execArgv carries no loader), so the worker registers tsx itself before importing the module.
 */
const WORKER_BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./unmask-worker.ts', import.meta.url).href)}); })`;

/** Flags a worker accepts and needs: module conditions, source maps and profiling; tsx is registered by the bootstrap. */
const WORKER_FLAGS = /^--(conditions|enable-source-maps|cpu-prof|cpu-prof-dir)(=|$)|^-C$/;

/** The parent's flags (`process.execArgv`) a worker is started with. */
export function workerExecArgv(argv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (!WORKER_FLAGS.test(argv[i])) continue;
    out.push(argv[i]);
    // A flag given as two arguments ("--conditions node") keeps its value.
    if (/^(--conditions|--cpu-prof-dir|-C)$/.test(argv[i]) && i + 1 < argv.length) out.push(argv[++i]);
  }
  return out;
}

/** The in-thread path: applies every job to `acc`, in order (with WebAssembly SIMD additions where available). */
export function applyMasks(acc: Uint32Array, jobs: readonly MaskJob[]): void {
  if (!simdModule || jobs.length === 0) {
    for (const job of jobs) applyPrgInto(acc, job.seed, job.sign);
    return;
  }
  const sum = new SimdAccumulator(simdModule, acc.length);
  sum.load(acc);
  for (const job of jobs) sum.applyPrg(job.seed, job.sign);
  sum.store(acc);
}

function addInto(acc: Int32Array, partial: Int32Array): void {
  const n = acc.length;
  for (let i = 0; i < n; i++) acc[i] = (acc[i] + partial[i]) | 0;
}

interface Batch {
  jobs: readonly MaskJob[];
  /** Next job index, shared with the workers (Atomics). */
  next: Int32Array;
}

interface Pending {
  resolve: (done: number) => void;
  reject: (e: Error) => void;
}

/** A fixed set of worker threads for mask expansion; idle workers do not keep the process alive. */
export class UnmaskPool {
  readonly size: number;
  private workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** Workers that have loaded their module (shared with them; a new counter per spawn). */
  private loaded = new Int32Array(new SharedArrayBuffer(4));

  /**
   * `size` workers (default: one per core, at most 8, the main thread only planning and adding
   * the partial sums; none on a single core or a big-endian host).
   */
  constructor(size?: number) {
    const cores = availableParallelism();
    this.size = LITTLE_ENDIAN ? Math.max(0, Math.floor(size ?? (cores > 1 ? Math.min(8, cores) : 0))) : 0;
  }

  /** Whether at least one worker of the current set is ready to take jobs (read without waiting for messages). */
  workersReady(): boolean {
    return Atomics.load(this.loaded, 0) > 0;
  }

  private spawn(): Worker[] {
    if (this.workers.length === this.size) return this.workers;
    this.loaded = new Int32Array(new SharedArrayBuffer(4));
    this.workers = Array.from({ length: this.size }, () => {
      const worker = new Worker(WORKER_BOOTSTRAP, { eval: true, execArgv: workerExecArgv(), workerData: { simd: simdModule, loaded: this.loaded.buffer } });
      worker.unref();
      worker.on('message', (m: { id: number; done?: number; error?: string }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.settle(m.id);
        if (m.error) p.reject(new Error(`unmask worker: ${m.error}`));
        else p.resolve(m.done ?? 0);
      });
      // A crashed worker fails every pending run (the caller redoes them in-thread) and the pool respawns next time.
      worker.on('error', (e) => { if (this.workers.includes(worker)) this.fail(e); });
      worker.on('exit', (code) => { if (this.workers.includes(worker)) this.fail(new Error(`unmask worker exited with code ${code}`)); });
      return worker;
    });
    return this.workers;
  }

  private settle(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) for (const w of this.workers) w.unref();
  }

  private fail(e: Error): void {
    const workers = this.workers;
    this.workers = [];
    for (const [id, p] of this.pending) {
      this.settle(id);
      p.reject(e);
    }
    for (const w of workers) void w.terminate();
  }

  /** Runs one batch on one worker, adding into `partial`; resolves, with the jobs it took, when the queue is empty. */
  run(worker: number, batch: Batch, seeds: SharedArrayBuffer, signs: SharedArrayBuffer, partial: Int32Array): Promise<number> {
    const w = this.spawn()[worker];
    const id = this.nextId++;
    const done = new Promise<number>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    // Referenced while work is pending, so an awaiting caller's process does not exit under it.
    w.ref();
    const job: WorkerJob = { id, partial: partial.buffer as SharedArrayBuffer, seeds, signs, next: batch.next.buffer as SharedArrayBuffer, count: batch.jobs.length };
    w.postMessage(job);
    return done;
  }

  /** Starts removing masks from `acc` on the pool; post batches, then await finish(). */
  start(acc: Uint32Array): MaskTask {
    return new MaskTask(this, acc);
  }

  /** Stops the workers (tests; a process exits without calling it). */
  async close(): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** One unmask on the pool: batches may be posted while the caller prepares the next (key agreement). */
export class MaskTask {
  private readonly batches: Batch[] = [];
  private readonly runs: Promise<number>[] = [];
  /** Jobs the workers took (set by finish(); the main thread took the rest). */
  workerJobs = 0;
  private readonly partials: Int32Array[];
  private readonly original: Uint32Array;

  constructor(private readonly pool: UnmaskPool, private readonly acc: Uint32Array) {
    this.partials = Array.from({ length: pool.size }, () => new Int32Array(new SharedArrayBuffer(acc.length * 4)));
    this.original = acc.slice();
  }

  /** Hands a batch to the workers; they start at once. */
  post(jobs: readonly MaskJob[]): void {
    const seeds = new SharedArrayBuffer(jobs.length * PRG_SEED_BYTES);
    const signs = new SharedArrayBuffer(Math.max(1, jobs.length));
    const seedBytes = new Uint8Array(seeds);
    const signOf = new Int8Array(signs);
    jobs.forEach((job, j) => {
      if (job.seed.length !== PRG_SEED_BYTES) throw new RangeError(`mask seed ${j}: expected ${PRG_SEED_BYTES} bytes`);
      seedBytes.set(job.seed, j * PRG_SEED_BYTES);
      signOf[j] = job.sign;
    });
    const batch: Batch = { jobs, next: new Int32Array(new SharedArrayBuffer(4)) };
    this.batches.push(batch);
    for (let w = 0; w < this.pool.size; w++) {
      // Caught here so an early failure is not unhandled; finish() sees it through allSettled.
      const run = this.pool.run(w, batch, seeds, signs, this.partials[w]);
      run.catch(() => undefined);
      this.runs.push(run);
    }
  }

  /**
   * Until a worker has loaded (the first unmask of a process: ~0.1-0.2 s), the main thread takes
   * jobs too; then it leaves them to the workers, whose small heaps collect Node's keystream
   * buffers in cheap scavenges where the caller's large heap would run full GCs. Then it waits
   * for the workers and adds their partial sums.
   */
  async finish(): Promise<void> {
    const sum = simdModule ? new SimdAccumulator(simdModule, this.acc.length) : null;
    sum?.load(this.acc);
    for (const batch of this.batches) {
      while (!this.pool.workersReady()) {
        const j = Atomics.add(batch.next, 0, 1);
        if (j >= batch.jobs.length) break;
        const { seed, sign } = batch.jobs[j];
        if (sum) sum.applyPrg(seed, sign);
        else applyPrgInto(this.acc, seed, sign);
      }
    }
    const settled = await Promise.allSettled(this.runs);
    this.workerJobs = settled.reduce((a, s) => a + (s.status === 'fulfilled' ? s.value : 0), 0);
    if (settled.some((s) => s.status === 'rejected')) {
      // Some jobs may be half-added in a lost partial: redo everything in-thread from the start.
      this.workerJobs = 0;
      this.acc.set(this.original);
      applyMasks(this.acc, this.batches.flatMap((b) => b.jobs));
      return;
    }
    if (sum) {
      for (const partial of this.partials) sum.apply(partial, 0, 1);
      sum.store(this.acc);
      return;
    }
    const acc = new Int32Array(this.acc.buffer, this.acc.byteOffset, this.acc.length);
    for (const partial of this.partials) addInto(acc, partial);
  }

  /** Abandons the task: workers stop after their current job; `acc` is left untouched. */
  async cancel(): Promise<void> {
    for (const batch of this.batches) Atomics.store(batch.next, 0, batch.jobs.length);
    await Promise.allSettled(this.runs);
  }
}

let shared: UnmaskPool | null = null;

/** The process-wide pool, created on first use. */
export function sharedUnmaskPool(): UnmaskPool {
  return (shared ??= new UnmaskPool());
}

/** How `SecAggServer.closeAsync` removes masks. */
export interface UnmaskOptions {
  /** The pool to use; null forces the in-thread path. Default: the shared pool. */
  pool?: UnmaskPool | null;
  /** Threshold of PRG words from which the pool is used (default PARALLEL_MIN_WORDS). */
  minParallelWords?: number;
}

/** The pool to use for `jobs` expansions of `words` words, or null for the in-thread path. */
export function choosePool(jobs: number, words: number, opts: UnmaskOptions = {}): UnmaskPool | null {
  const pool = opts.pool === undefined ? sharedUnmaskPool() : opts.pool;
  if (!pool || pool.size === 0) return null;
  return jobs * words >= (opts.minParallelWords ?? PARALLEL_MIN_WORDS) ? pool : null;
}
