/**
 * End to end: a real aggregator on loopback HTTP, four member processes (one per hospital, each
 * reading only its own file), three rounds on the heart-disease data. Plaintext (`--no-secure`):
 * the test opens the aggregator's database itself and recomputes every committed model from the
 * updates the members uploaded. Secure (the default): the database holds only masked vectors, so
 * the test checks the lineage, the stored stages and the reported clipping instead. Both check
 * accuracy against the majority-class baseline.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeWeights } from '../core/codec.ts';
import { contentHash } from '../core/hash.ts';
import { flatten } from '../core/tensors.ts';
import { openDatabase } from '../aggregator/db/database.ts';
import { loadDataset } from '../clients/dataset.ts';
import { runLocalFile } from '../cli/local.ts';
import { contributions, modelVersions, rounds } from '../schema/index.ts';

const FILE = 'examples/heart-disease/federation.json';
const SPECS = ['cleveland', 'hungarian', 'switzerland', 'va'].map((h) => `examples/heart-disease/${h}.dataset.json`);

describe('heart-disease federation over real HTTP with four member processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('commits the weighted average of the uploaded updates each round and beats the majority class', async () => {
    const seed = 7;
    const report = await runLocalFile(FILE, { seed, rounds: 3, dataDir: dir, quiet: true, secure: false });
    expect(report.secure).toBe(false);
    expect(report.rounds.map((r) => r.status)).toEqual(['committed', 'committed', 'committed']);
    expect(Object.keys(report.final.perMember).sort()).toEqual(['cleveland', 'hungary', 'switzerland', 'va-long-beach']);

    const database = await openDatabase({ dataDir: join(dir, 'db') });
    try {
      const { db } = database;
      const versions = await db.select().from(modelVersions).orderBy(asc(modelVersions.version));
      expect(versions.map((v) => v.version)).toEqual([0, 1, 2, 3]);
      for (const r of await db.select().from(rounds).orderBy(asc(rounds.number))) {
        const base = versions[r.baseVersion];
        const committed = versions[r.committedVersion!];
        expect(committed.parentHash).toBe(base.hash);
        expect(contentHash(committed.body)).toBe(committed.hash);
        const ups = await db.select().from(contributions).where(and(eq(contributions.roundId, r.id), eq(contributions.stage, 'fit')));
        expect(ups).toHaveLength(4);
        // FedAvg recomputed here: base + sum(w_i * delta_i) / sum(w_i), in float64.
        const want = Float64Array.from(flatten(decodeWeights(base.body)));
        const total = ups.reduce((s, u) => s + u.weight, 0);
        for (const u of ups) {
          expect(contentHash(u.body)).toBe(u.hash);
          const d = flatten(decodeWeights(u.body));
          for (let i = 0; i < d.length; i++) want[i] += (u.weight * d[i]) / total;
        }
        const got = flatten(decodeWeights(committed.body));
        for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-5);
      }
    } finally {
      await database.close();
    }

    // Majority-class baseline for one global model: always predict the class that is most common
    // in the federation's training data, scored the same way (mean of per-hospital accuracies).
    const splits = await Promise.all(SPECS.map((spec) => loadDataset(spec)));
    const trainPositives = splits.reduce((s, d) => s + d.train.y.reduce((a, v) => a + v, 0), 0);
    const trainTotal = splits.reduce((s, d) => s + d.train.n, 0);
    const majority = trainPositives * 2 >= trainTotal ? 1 : 0;
    const baseline = splits.reduce((s, d) => s + d.test.y.filter((v) => v === majority).length / d.test.n, 0) / splits.length;
    expect(report.final.meanAccuracy!).toBeGreaterThan(baseline);
  }, 240_000);

  it('runs secure aggregation by default: only masked vectors are stored, nothing is clipped, the model still beats the majority class', async () => {
    const secureDir = join(dir, 'secure');
    const report = await runLocalFile(FILE, { seed: 7, rounds: 3, dataDir: secureDir, quiet: true });
    expect(report.secure).toBe(true);
    expect(report.rounds.map((r) => r.status)).toEqual(['committed', 'committed', 'committed']);
    for (const r of report.rounds) expect(r.secure).toMatchObject({ survivors: 4, dropped: [], clipped: 0 });
    const database = await openDatabase({ dataDir: join(secureDir, 'db') });
    try {
      const { db } = database;
      const versions = await db.select().from(modelVersions).orderBy(asc(modelVersions.version));
      expect(versions.map((v) => v.version)).toEqual([0, 1, 2, 3]);
      for (const r of await db.select().from(rounds).orderBy(asc(rounds.number))) {
        expect(versions[r.committedVersion!].parentHash).toBe(versions[r.baseVersion].hash);
        const stored = await db.select({ stage: contributions.stage }).from(contributions).where(eq(contributions.roundId, r.id));
        const perStage = Object.fromEntries(['fit', 'advertise_keys', 'share_keys', 'masked_input', 'consistency', 'unmask'].map((s) => [s, stored.filter((x) => x.stage === s).length]));
        expect(perStage).toEqual({ fit: 0, advertise_keys: 4, share_keys: 4, masked_input: 4, consistency: 4, unmask: 4 });
      }
    } finally {
      await database.close();
    }
    expect(report.final.meanAccuracy!).toBeGreaterThan(0.6);
  }, 300_000);
});
