/**
 * @module The runner every benchmark file shares: `--json FILE` and `--quick`, median-of-N timing,
 * a printed table per section, and one JSON report. Benchmarks print figures; they never pass or
 * fail on time (a section that throws is reported and makes the exit code 1).
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What every benchmark accepts on its command line. */
export interface BenchOptions {
  /** Write the report here as JSON (`--json FILE`). */
  json: string | null;
  /** Smaller sizes and fewer repetitions, for a smoke run (`--quick`). */
  quick: boolean;
  /** Bench-specific switches such as `--resample-splits` (names without the dashes). */
  flags: string[];
}

/** One figure. `detail` holds what a reader needs to interpret it (sizes, repetitions, samples). */
export interface BenchResult {
  section: string;
  metric: string;
  value: number;
  unit: string;
  detail?: Record<string, number | string | boolean | number[]>;
}

/** A named group of figures; `run` returns them once measured. */
export interface BenchSection {
  name: string;
  run(options: BenchOptions): BenchResult[] | Promise<BenchResult[]>;
}

/** What `--json FILE` receives. */
export interface BenchReport {
  bench: string;
  startedAt: string;
  quick: boolean;
  machine: { node: string; platform: string; arch: string; cpu: string; cpus: number; memoryGiB: number };
  results: BenchResult[];
  errors: { section: string; message: string }[];
}

export const USAGE = 'usage: npx tsx bench/<name>.ts [--json FILE] [--quick] [--<switch>...]';

/** Parses `--json FILE`, `--json=FILE` and `--quick`; throws with the usage line on anything else. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const options: BenchOptions = { json: null, quick: false, flags: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') options.quick = true;
    else if (arg === '--json' && i + 1 < argv.length && !argv[i + 1].startsWith('--')) options.json = argv[++i];
    else if (arg.startsWith('--json=') && arg.length > 7) options.json = arg.slice(7);
    else if (/^--[a-z][a-z-]*$/.test(arg)) options.flags.push(arg.slice(2));
    else throw new Error(`unexpected argument "${arg}"\n${USAGE}`);
  }
  return options;
}

/** Wall-clock samples of a function, after warm-up runs that are not counted. */
export interface Timing {
  medianMs: number;
  minMs: number;
  samplesMs: number[];
}

/** Median of the samples (mean of the middle two for an even count). */
export function median(samples: readonly number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function summarize(samplesMs: number[]): Timing {
  return { medianMs: median(samplesMs), minMs: Math.min(...samplesMs), samplesMs };
}

/**
 * Times several functions over the same repetitions, interleaved (a, b, a, b, ...) so that clock
 * boost, thermal state and background load fall on all of them alike.
 */
export function timeInterleaved<K extends string>(
  fns: Record<K, () => unknown>,
  { warmup, repetitions }: { warmup: number; repetitions: number },
): Record<K, Timing> {
  const names = Object.keys(fns) as K[];
  for (let w = 0; w < warmup; w++) for (const k of names) fns[k]();
  const samples = Object.fromEntries(names.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (let r = 0; r < repetitions; r++) {
    for (const k of names) {
      const t0 = performance.now();
      fns[k]();
      samples[k].push(performance.now() - t0);
    }
  }
  return Object.fromEntries(names.map((k) => [k, summarize(samples[k])])) as Record<K, Timing>;
}

/** Times one async function (an HTTP upload, a training epoch): warm-up, then median of repetitions. */
export async function timeAsync(fn: () => Promise<unknown>, { warmup, repetitions }: { warmup: number; repetitions: number }): Promise<Timing> {
  for (let w = 0; w < warmup; w++) await fn();
  const samplesMs: number[] = [];
  for (let r = 0; r < repetitions; r++) {
    const t0 = performance.now();
    await fn();
    samplesMs.push(performance.now() - t0);
  }
  return summarize(samplesMs);
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

/** A fixed-width table of results: metric, value, unit. */
export function formatTable(results: readonly BenchResult[]): string {
  const rows = results.map((r) => [r.metric, formatValue(r.value), r.unit]);
  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((row) => row[c].length), ['metric', 'value', 'unit'][c].length));
  const line = (row: string[]): string => `  ${row[0].padEnd(widths[0])}  ${row[1].padStart(widths[1])}  ${row[2]}`;
  return [line(['metric', 'value', 'unit']), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function machine(): BenchReport['machine'] {
  const list = cpus();
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpu: list[0]?.model.trim() ?? 'unknown',
    cpus: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  };
}

/**
 * Runs the sections in order, printing each one's table as it finishes, and writes the report to
 * `--json FILE` when given. Every bench file ends with `if (isMain(import.meta.url)) await
 * runBenchmarks('<name>', sections)`; another file can import and run the same sections.
 */
export async function runBenchmarks(bench: string, sections: readonly BenchSection[], argv: readonly string[] = process.argv.slice(2)): Promise<BenchReport> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(argv);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  const report: BenchReport = { bench, startedAt: new Date().toISOString(), quick: options.quick, machine: machine(), results: [], errors: [] };
  const m = report.machine;
  console.log(`bench ${bench}${options.quick ? ' (quick)' : ''}: node ${m.node}, ${m.cpus} x ${m.cpu}, ${m.memoryGiB} GiB`);
  for (const section of sections) {
    console.log(`\n${section.name}`);
    try {
      const results = await section.run(options);
      report.results.push(...results);
      console.log(formatTable(results));
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      report.errors.push({ section: section.name, message });
      console.error(`  failed: ${message}`);
      process.exitCode = 1;
    }
  }
  if (options.json) {
    writeFileSync(options.json, JSON.stringify(report, null, 2) + '\n');
    console.log(`\nwrote ${options.json}`);
  }
  return report;
}

/** True when the module with this import.meta.url is the script node was started with. */
export function isMain(importMetaUrl: string): boolean {
  return process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(importMetaUrl);
}
