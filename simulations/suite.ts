/**
 * @module The scenario test suite, split in parts so vitest runs them on both cores: every
 * scenario at a small size (6 members, 64 parameters, 2 rounds) through the real aggregator,
 * member runtime, crypto and database; every invariant must hold after each.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../aggregator/db/database.ts';
import { openSimulationDatabase, runScenario, scenarioLine } from './run.ts';
import { SCENARIOS } from './scenarios.ts';

// One round keeps `npm test` short; scenarios that need a second (replays) ask for it (minRounds).
const SIZE = { members: 6, params: 64, rounds: 1, seed: 7 };

/** Defines the tests of every `of`-th scenario run starting at `part`. */
export function defineScenarioSuite(part: number, of: number): void {
  const runs = SCENARIOS.flatMap((scenario) => scenario.modes.map((mode) => ({ scenario, mode }))).filter((_, i) => i % of === part);
  describe(`simulations (part ${part + 1} of ${of}): every scenario keeps every invariant`, () => {
    let database: Database;
    beforeAll(async () => {
      database = await openSimulationDatabase(process.env.SIMULATION_DATABASE_URL);
    });
    afterAll(async () => {
      await database?.close();
    });
    for (const { scenario, mode } of runs) {
      it(`${scenario.name}[${mode}]: ${scenario.expect}`, async () => {
        const r = await runScenario(scenario, mode, SIZE, database);
        expect(r.problems.filter((p) => !p.startsWith('(member error')), scenarioLine(r)).toEqual([]);
        expect(Object.values(r.invariants).every(Boolean), scenarioLine(r)).toBe(true);
      }, 180_000);
    }
  });
}
