/**
 * @module `tessera simulate`: runs fault-injection scenarios through the real aggregator and member
 * runtime, checks the invariants, prints a table. `--workers N` runs the virtual members in N
 * worker threads (simulations/workers/); 0, the default, runs them in the harness's thread.
 */
import { writeFileSync } from 'node:fs';
import { TesseraError } from '../core/errors.ts';
import { formatTable, runScenarios } from '../simulations/run.ts';
import type { Args } from './args.ts';
import { int, str } from './args.ts';

export async function simulate(args: Args): Promise<void> {
  const scenario = str(args, 'scenario', { fallback: 'all' })!;
  const size = {
    members: int(args, 'members', 6, 3, 100_000)!,
    params: int(args, 'params', 64, 2, 10_000_000)!,
    rounds: int(args, 'rounds', 2, 1, 1000)!,
    seed: int(args, 'seed', 1)!,
  };
  // Checked before anything runs: a bad value is one line naming --workers (exit 2).
  const workers = int(args, 'workers', 0, 0, 64)!;
  const report = str(args, 'report');
  console.log(`tessera simulate: ${scenario}, ${size.members} members, ${size.params} params, ${size.rounds} rounds, seed ${size.seed}, members ${workers ? `in ${workers} worker thread${workers > 1 ? 's' : ''}` : 'in-process'}, database ${process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL, a fresh database)' : 'PGlite in memory'}`);
  const { scenarios } = await runScenarios({ scenario, size, workers, print: (line) => console.log(line) });
  console.log(`\n${formatTable(scenarios)}`);
  if (report) {
    const out = scenarios.map(({ name, injected, outcome, reason, invariants, ok }) => ({ name, injected, outcome, reason, invariants, ok }));
    writeFileSync(report, JSON.stringify({ scenarios: out }, null, 2) + '\n');
    console.log(`wrote ${report}`);
  }
  const failed = scenarios.filter((s) => !s.ok);
  // main() exits 0 on return: a broken invariant is an error (exit 1) naming the scenarios.
  if (failed.length) throw new TesseraError('INTERNAL', `${failed.length} of ${scenarios.length} scenarios broke an invariant: ${failed.map((s) => s.name).join(', ')}`);
}
