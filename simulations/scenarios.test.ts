/**
 * @module Every scenario at a small size (6 members, 64 parameters, 2 rounds) through the real
 * aggregator, member runtime, crypto and database: every invariant must hold after each.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../aggregator/db/database.ts';
import { openSimulationDatabase, runScenario, scenarioLine } from './run.ts';
import { SCENARIOS } from './scenarios.ts';

const SIZE = { members: 6, params: 64, rounds: 2, seed: 7 };

describe('simulations: every scenario keeps every invariant', () => {
  let database: Database;
  beforeAll(async () => {
    database = await openSimulationDatabase(process.env.SIMULATION_DATABASE_URL);
  });
  afterAll(async () => {
    await database?.close();
  });

  for (const scenario of SCENARIOS) {
    for (const mode of scenario.modes) {
      it(`${scenario.name}[${mode}]: ${scenario.expect}`, async () => {
        const r = await runScenario(scenario, mode, SIZE, database);
        expect(r.problems.filter((p) => !p.startsWith('(member error')), scenarioLine(r)).toEqual([]);
        expect(r.invariants, scenarioLine(r)).toEqual(Object.fromEntries(Object.keys(r.invariants).map((k) => [k, true])));
      }, 180_000);
    }
  }
});
