/**
 * @module The four heart-disease hospitals and one in-memory PGlite, loaded once per test file,
 * for end-to-end tests that run the real aggregator and member runtimes in one process.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import type { Database } from '../aggregator/db/database.ts';
import { openDatabase } from '../aggregator/db/database.ts';
import { selectBackend } from '../clients/backend.ts';
import type { PreparedDataset } from '../clients/dataset.ts';
import { loadDataset } from '../clients/dataset.ts';

export const HOSPITALS = ['cleveland', 'hungarian', 'va', 'switzerland'] as const;

/** The federation settings these tests share: logistic regression on the 13 features, two short rounds. */
export const HEART_DISEASE_FEDERATION = {
  model: { kind: 'logistic', inputs: 13, outputs: 1 },
  training: { optimizer: 'sgd', learningRate: 0.3, batchSize: 16, localEpochs: 1 },
  rounds: 2,
  deadlines: { fit: 120, evaluate: 60 },
} as const;

export interface HeartDiseaseFixture {
  /** The hospitals' datasets, in HOSPITALS order (after beforeAll). */
  data: PreparedDataset[];
  database: Database;
}

/** Registers beforeAll/afterAll hooks that load the datasets (cpu backend) and open the database. */
export function useHeartDiseaseFixture(): HeartDiseaseFixture {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const fixture = {} as HeartDiseaseFixture;
  beforeAll(async () => {
    await selectBackend('cpu');
    fixture.data = await Promise.all(HOSPITALS.map((n) => loadDataset(path.join(root, `examples/heart-disease/${n}.dataset.json`))));
    fixture.database = await openDatabase({ dataDir: 'memory' });
  });
  afterAll(() => fixture.database?.close());
  return fixture;
}
