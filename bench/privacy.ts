/**
 * @module `npm run bench:privacy`: the heart-disease federation with record-level DP-SGD at
 * epsilon 0.1, 1, 5, 10 (delta 1e-3, each member calibrating its noise so that all rounds
 * together spend the target), mean accuracy over the four hospitals over 5 seeds, beside
 * FLamby's published DP results and the no-DP run. Real aggregator and member runtime in one
 * process (simulations/in-process.ts). `--json FILE` adds `rows: [{epsilon, delta, meanAccuracy, seeds}]`.
 * A second section runs the same federation under secure aggregation with member-level
 * distributed DP (discrete Gaussian) at a few per-round epsilons (`ddpRows` in the JSON).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseFederationConfig } from '../core/federation.ts';
import type { Database } from '../aggregator/db/database.ts';
import { openDatabase } from '../aggregator/db/database.ts';
import { selectBackend } from '../clients/backend.ts';
import { loadDataset } from '../clients/dataset.ts';
import { tabularMember } from '../clients/tabular-member.ts';
import type { MemberEvent } from '../clients/runtime.ts';
import type { VirtualMember } from '../simulations/in-process.ts';
import { runInProcess } from '../simulations/in-process.ts';
import type { BenchOptions, BenchResult, BenchSection } from './harness.ts';
import { isMain, parseBenchArgs, runBenchmarks } from './harness.ts';

const FILE = resolve(import.meta.dirname ?? dirname(new URL(import.meta.url).pathname), '../examples/heart-disease/federation.json');

export const EPSILONS = [0.1, 1, 5, 10] as const;
export const DELTA = 1e-3;
/** FLamby's Fed-Heart-Disease DP-SGD results at delta 1e-3 (FedAvg + record-level DP). */
export const FLAMBY_DP: Record<number, number> = { 0.1: 0.629, 1: 0.702, 5: 0.7, 10: 0.698 };

/**
 * The DP runs' settings, tuned on this benchmark (docs/privacy.md): larger Poisson batches than
 * the no-DP demo (the noise on a mean gradient falls as 1/batch), one local epoch and fewer
 * rounds (fewer compositions); picked by a grid over batch, epochs, rounds, lr and clip norm.
 */
export const DP_SETTINGS = {
  training: { optimizer: 'sgd', learningRate: 0.3, batchSize: 64, localEpochs: 1 },
  rounds: 10,
  clipNorm: 1,
  sampling: 'poisson',
} as const;

interface LocalFile {
  members: { name: string; dataset: string }[];
  [k: string]: unknown;
}

export interface PrivacyRow {
  epsilon: number | null;
  delta: number | null;
  meanAccuracy: number;
  seeds: number[];
  perSeed: number[];
}

const rows: PrivacyRow[] = [];

/**
 * One federation run per seed on the four hospitals (fresh members each time, same database):
 * each seed's mean test accuracy, and their mean. `options(i)` adds runtime options to hospital i.
 */
async function accuracyOverSeeds(opts: {
  federation: Record<string, unknown>;
  seeds: number[];
  specs: LocalFile['members'];
  data: Awaited<ReturnType<typeof loadDataset>>[];
  database: Database;
  label: string;
  dpNoise?: boolean;
  options?: (i: number) => VirtualMember['options'];
}): Promise<{ perSeed: number[]; value: number }> {
  const perSeed: number[] = [];
  for (const seed of opts.seeds) {
    const config = parseFederationConfig({ ...opts.federation, seed });
    const members = await Promise.all(opts.specs.map(async (m, i) => ({
      name: m.name,
      model: await tabularMember(opts.data[i], config.model, { seed, ...(opts.dpNoise ? { dpNoiseSeed: seed * 16 + i } : {}) }),
      ...(opts.options ? { options: opts.options(i) } : {}),
    })));
    const started = Date.now();
    const out = await runInProcess({ ...opts.federation, seed }, members, { database: opts.database });
    for (const m of members) (m.model as unknown as { dispose(): void }).dispose();
    perSeed.push(out.final!.meanAccuracy!);
    process.stderr.write(`${opts.label}, seed ${seed}: ${out.final!.meanAccuracy!.toFixed(3)} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  }
  return { perSeed, value: perSeed.reduce((a, b) => a + b, 0) / perSeed.length };
}

export const privacySection: BenchSection = {
  name: 'heart-disease with record-level DP-SGD: mean test accuracy over the 4 hospitals, mean over seeds',
  async run({ quick }: BenchOptions): Promise<BenchResult[]> {
    const file = JSON.parse(readFileSync(FILE, 'utf8')) as LocalFile;
    const { members: specs, reference: _r, ...base } = file;
    const seeds = quick ? [1, 2] : [1, 2, 3, 4, 5];
    const epsilons = quick ? [1] : [...EPSILONS];
    const backend = await selectBackend();
    const data = await Promise.all(specs.map((m) => loadDataset(resolve(dirname(FILE), m.dataset))));
    const database = await openDatabase({ dataDir: 'memory' });
    const runs: { epsilon: number | null; federation: Record<string, unknown> }[] = [
      { epsilon: null, federation: base },
      ...epsilons.map((epsilon) => ({
        epsilon,
        federation: { ...base, training: DP_SETTINGS.training, rounds: DP_SETTINGS.rounds, privacy: { mechanism: 'dp-sgd', targetEpsilon: epsilon, delta: DELTA, clipNorm: DP_SETTINGS.clipNorm, sampling: DP_SETTINGS.sampling } },
      })),
    ];
    const results: BenchResult[] = [];
    try {
      for (const { epsilon, federation } of runs) {
        const { perSeed, value } = await accuracyOverSeeds({ federation, seeds, specs, data, database, label: `epsilon ${epsilon ?? 'none'}`, dpNoise: true });
        rows.push({ epsilon, delta: epsilon === null ? null : DELTA, meanAccuracy: value, seeds, perSeed });
        const label = epsilon === null ? 'no DP (demo settings)' : `epsilon ${epsilon}, delta ${DELTA} (FLamby ${FLAMBY_DP[epsilon].toFixed(3)})`;
        results.push({ section: 'privacy', metric: label, value, unit: 'mean accuracy', detail: { epsilon: epsilon ?? 'none', seeds, perSeed, backend, ...(epsilon === null ? {} : { flamby: FLAMBY_DP[epsilon], settings: JSON.stringify(DP_SETTINGS) }) } });
      }
      return results;
    } finally {
      await database.close();
    }
  },
};

/** Member-level distributed DP runs: per-round epsilon (sum over all 4 hospitals' noise), delta 1e-3. */
export const DDP_EPSILONS = [1, 10, 100] as const;
export const DDP_SETTINGS = { clip: 1, l2Clip: 0.5, mechanism: 'discrete-gaussian', delta: 1e-3 } as const;

export interface DdpRow {
  roundEpsilon: number;
  /** A member's cumulative member-level epsilon after all rounds (its own ledger), at delta. */
  cumulativeEpsilon: number;
  delta: number;
  meanAccuracy: number;
  seeds: number[];
}
const ddpRows: DdpRow[] = [];

export const distributedSection: BenchSection = {
  name: 'heart-disease, secure aggregation with member-level distributed DP (discrete Gaussian, 4 hospitals): mean test accuracy',
  async run({ quick }: BenchOptions): Promise<BenchResult[]> {
    const file = JSON.parse(readFileSync(FILE, 'utf8')) as LocalFile;
    const { members: specs, reference: _r, ...base } = file;
    const seeds = quick ? [1] : [1, 2];
    const data = await Promise.all(specs.map((m) => loadDataset(resolve(dirname(FILE), m.dataset))));
    const database = await openDatabase({ dataDir: 'memory' });
    const results: BenchResult[] = [];
    const { clip, l2Clip, mechanism, delta } = DDP_SETTINGS;
    try {
      for (const epsilon of [null, ...DDP_EPSILONS]) {
        const federation = { ...base, secure: { clip, ...(epsilon === null ? {} : { distributedNoise: { mechanism, epsilon, delta, l2Clip } }) } };
        let cumulative = 0;
        const { perSeed, value } = await accuracyOverSeeds({
          federation, seeds, specs, data, database, label: `distributed DP epsilon ${epsilon ?? 'none'} per round`,
          options: () => ({ onEvent: (e: MemberEvent) => { if (e.kind === 'member-privacy-spent') cumulative = Math.max(cumulative, e.spend.cumulativeEpsilon); } }),
        });
        if (epsilon !== null) ddpRows.push({ roundEpsilon: epsilon, cumulativeEpsilon: cumulative, delta, meanAccuracy: value, seeds });
        const label = epsilon === null ? 'secure, no distributed DP (clip 1)' : `member-level epsilon ${epsilon} per round (${cumulative.toFixed(1)} over ${base.rounds} rounds), delta ${delta}`;
        results.push({ section: 'privacy-ddp', metric: label, value, unit: 'mean accuracy', detail: { seeds, perSeed, settings: JSON.stringify(DDP_SETTINGS), ...(epsilon === null ? {} : { roundEpsilon: epsilon, cumulativeEpsilon: cumulative }) } });
      }
      return results;
    } finally {
      await database.close();
    }
  },
};

if (isMain(import.meta.url)) {
  // `--distributed` adds the distributed-DP section; `--distributed-only` runs it alone.
  const { json, flags } = parseBenchArgs(process.argv.slice(2));
  const sections = flags.includes('distributed-only') ? [distributedSection] : flags.includes('distributed') ? [privacySection, distributedSection] : [privacySection];
  const report = await runBenchmarks('privacy', sections);
  if (json) writeFileSync(json, JSON.stringify({ ...report, settings: DP_SETTINGS, rows: rows.map(({ epsilon, delta, meanAccuracy, seeds }) => ({ epsilon, delta, meanAccuracy, seeds })), ...(ddpRows.length ? { ddpSettings: DDP_SETTINGS, ddpRows } : {}) }, null, 2) + '\n');
}
