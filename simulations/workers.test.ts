/**
 * @module Members in worker threads: a small secure and a plaintext federation, transport faults
 * (duplicated and dropped messages), a store fault, a member crash and a skewed clock, run with
 * their members spread over two worker threads; every invariant must hold, as in-process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TesseraError } from '../core/errors.ts';
import type { Database } from '../aggregator/db/database.ts';
import { simulateFederation } from './federation.ts';
import { openSimulationDatabase, runScenario, scenarioLine } from './run.ts';
import type { Mode } from './scenarios.ts';
import { SCENARIOS } from './scenarios.ts';

const SIZE = { members: 6, params: 64, rounds: 1, seed: 11 };
const CASES: [string, Mode][] = [
  ['baseline', 'secure'],
  ['baseline', 'plain'],
  ['transport.duplicate', 'secure'],
  ['transport.drop', 'plain'],
  ['storage.bit-flip', 'secure'],
  ['process.member-crash@share_keys', 'secure'],
  ['clock.skew-beyond', 'plain'],
];

describe('simulations with members in 2 worker threads: every invariant holds', () => {
  let database: Database;
  beforeAll(async () => {
    database = await openSimulationDatabase(process.env.SIMULATION_DATABASE_URL);
  });
  afterAll(async () => {
    await database?.close();
  });
  it('refuses a workers count that is not a whole number, naming the option', async () => {
    const e = await simulateFederation({ name: 'bad workers', database, size: SIZE, secure: false, workers: 1.5 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TesseraError);
    expect((e as TesseraError).field).toBe('workers');
  });
  for (const [name, mode] of CASES) {
    it(`${name}[${mode}]`, async () => {
      const scenario = SCENARIOS.find((s) => s.name === name)!;
      const r = await runScenario(scenario, mode, SIZE, database, () => {}, { workers: 2 });
      expect(r.problems.filter((p) => !p.startsWith('(member error')), scenarioLine(r)).toEqual([]);
      expect(Object.values(r.invariants).every(Boolean), scenarioLine(r)).toBe(true);
      expect(r.injected === 'nothing', scenarioLine(r)).toBe(name === 'baseline');
    }, 180_000);
  }
});
