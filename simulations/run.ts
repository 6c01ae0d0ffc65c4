/**
 * @module Running scenarios: each one on a fresh federation in a shared database (PGlite in
 * memory, or a fresh database on the PostgreSQL server of DATABASE_URL), its invariants checked,
 * one line printed per scenario and a table at the end; the report `tessera simulate --report`
 * writes.
 */
import { TesseraError } from '../core/errors.ts';
import type { Database } from '../aggregator/db/database.ts';
import { openDatabase, openScratchDatabase } from '../aggregator/db/database.ts';
import type { SimulationSize } from './federation.ts';
import { removeStores, simulateFederation } from './federation.ts';
import type { InvariantName } from './invariants.ts';
import { INVARIANTS, checkInvariants } from './invariants.ts';
import type { Mode, Scenario } from './scenarios.ts';
import { SCENARIOS } from './scenarios.ts';

export interface ScenarioResult {
  name: string;
  injected: string;
  outcome: 'committed' | 'failed';
  reason: string | null;
  invariants: Record<InvariantName, boolean>;
  ok: boolean;
  problems: string[];
  wallMs: number;
}

export interface SimulationReport {
  scenarios: ScenarioResult[];
}

/** Every runnable name: `<scenario>[<mode>]` for each mode it runs in. */
export function scenarioNames(): string[] {
  return SCENARIOS.flatMap((s) => s.modes.map((m) => `${s.name}[${m}]`));
}

/** Scenarios selected by `all`, a group (`storage`), a scenario (`transport.drop`) or one mode of it (`transport.drop[plain]`). */
export function selectScenarios(selector: string): { scenario: Scenario; mode: Mode }[] {
  const all = SCENARIOS.flatMap((scenario) => scenario.modes.map((mode) => ({ scenario, mode })));
  const picked = all.filter(({ scenario, mode }) => selector === 'all' || selector === scenario.group || selector === scenario.name || selector === `${scenario.name}[${mode}]`);
  if (picked.length === 0) throw new TesseraError('BAD_REQUEST', `--scenario: expected all, a group (${[...new Set(SCENARIOS.map((s) => s.group))].join(', ')}) or one of ${scenarioNames().join(', ')}; got "${selector}"`, { field: 'scenario' });
  return picked;
}

/** The database scenarios run in: PGlite in memory, or a fresh database on DATABASE_URL's server (dropped after). */
export async function openSimulationDatabase(url = process.env.DATABASE_URL): Promise<Database> {
  return url ? openScratchDatabase(url, 'tessera_sim') : openDatabase({ dataDir: 'memory' });
}

/** Summarizes what was injected: counts per kind and the first few lines. */
function injectedLine(injected: { kind: string; what: string }[]): string {
  if (injected.length === 0) return 'nothing';
  const kinds = new Map<string, { n: number; first: string[] }>();
  for (const x of injected) {
    const k = kinds.get(x.kind) ?? { n: 0, first: [] };
    k.n++;
    if (k.first.length < 2) k.first.push(x.what);
    kinds.set(x.kind, k);
  }
  return [...kinds].map(([kind, { n, first }]) => `${kind} x${n} (${first.join('; ')}${n > first.length ? '; …' : ''})`).join(', ');
}

/** Runs one scenario in one mode and checks the invariants. */
export async function runScenario(scenario: Scenario, mode: Mode, size: SimulationSize, database: Database, log: (line: string) => void = () => {}, opts: { workers?: number } = {}): Promise<ScenarioResult> {
  const sized = { ...size, rounds: Math.max(size.rounds, scenario.minRounds ?? 1) };
  const name = `${scenario.name}[${mode}]`;
  const t0 = performance.now();
  try {
    const run = await simulateFederation({ name: `sim ${name}`.replace(/[^A-Za-z0-9 ._-]/g, '-').slice(0, 100), database, size: sized, secure: mode === 'secure', log, workers: opts.workers, ...scenario.build(sized, mode) });
    const report = await checkInvariants(run, { expected: scenario.outcome(sized, mode), evidence: scenario.evidence && ((v) => scenario.evidence!(v, mode)) });
    await removeStores();
    const failed = run.rounds.find((r) => r.status !== 'committed');
    const problems = [...report.problems, ...run.memberErrors.slice(0, 3).map((e) => `(member error, not an invariant) ${e}`)];
    return { name, injected: injectedLine(run.injected), outcome: failed ? 'failed' : 'committed', reason: failed?.failureReason ?? null, invariants: report.results, ok: Object.values(report.results).every(Boolean), problems, wallMs: performance.now() - t0 };
  } catch (e) {
    await removeStores();
    const invariants = Object.fromEntries(INVARIANTS.map((k) => [k, false])) as Record<InvariantName, boolean>;
    return { name, injected: 'unknown (the run stopped)', outcome: 'failed', reason: `harness: ${(e as Error).stack ?? e}`, invariants, ok: false, problems: [String((e as Error).message ?? e)], wallMs: performance.now() - t0 };
  }
}

/** One line per scenario: what was injected and what the invariants found. */
export function scenarioLine(r: ScenarioResult): string {
  const failed = INVARIANTS.filter((k) => !r.invariants[k]);
  return `${r.ok ? 'ok  ' : 'FAIL'} ${r.name} (${(r.wallMs / 1000).toFixed(1)} s): injected ${r.injected}; ${r.outcome}${r.reason ? ` (${r.reason})` : ''}; invariants ${failed.length ? `FAILED: ${failed.join(', ')}` : 'all hold'}${r.problems.length ? `\n       ${r.problems.join('\n       ')}` : ''}`;
}

const SHORT: Record<InvariantName, string> = {
  'model-matches-reference': 'model',
  'counted-once-none-lost': 'once',
  'faults-in-ledger': 'ledger',
  'commit-or-recorded-failure': 'commit|fail',
  'trained-on-announced': 'announced',
  'expected-outcome': 'expected',
};

/** The whole run as a table: one row per scenario, one column per invariant. */
export function formatTable(results: readonly ScenarioResult[]): string {
  const head = ['scenario', 'outcome', ...INVARIANTS.map((k) => SHORT[k]), 's'];
  const rows = results.map((r) => [r.name, r.outcome, ...INVARIANTS.map((k) => (r.invariants[k] ? 'yes' : 'NO')), (r.wallMs / 1000).toFixed(1)]);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (row: string[]) => row.map((v, c) => v.padEnd(widths[c])).join('  ').trimEnd();
  const passed = results.filter((r) => r.ok).length;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), `${passed} of ${results.length} scenarios: every invariant holds${passed === results.length ? '' : `; ${results.length - passed} failed`}`].join('\n');
}

export interface RunOptions {
  scenario: string;
  size: SimulationSize;
  database?: Database;
  /** Each scenario's line as it finishes. */
  print?: (line: string) => void;
  log?: (line: string) => void;
  /** Member worker threads (0: members run in the harness's thread). */
  workers?: number;
}

/** Runs the selected scenarios one after another in one database. */
export async function runScenarios(opts: RunOptions): Promise<SimulationReport> {
  const selected = selectScenarios(opts.scenario);
  const database = opts.database ?? (await openSimulationDatabase());
  const scenarios: ScenarioResult[] = [];
  try {
    for (const { scenario, mode } of selected) {
      const r = await runScenario(scenario, mode, opts.size, database, opts.log, { workers: opts.workers });
      scenarios.push(r);
      opts.print?.(scenarioLine(r));
    }
  } finally {
    if (!opts.database) await database.close();
  }
  return { scenarios };
}
