/**
 * @module Bench sections for the platform around the math: uploading updates over loopback HTTP
 * (signed, checked, written to the database) and local training throughput per TF.js backend.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeWeights } from '../core/codec.ts';
import type { ModelSpec } from '../core/model.ts';
import { initialWeights } from '../core/model.ts';
import { EXAMPLES_HEADER } from '../core/request-signing.ts';
import { PGlite } from '@electric-sql/pglite';
import { oneTripClient } from '../aggregator/db/pglite-client.ts';
import { startAggregator } from '../aggregator/server.ts';
import { availableBackends, selectBackend } from '../clients/backend.ts';
import { enroll, memberTransport } from '../clients/enrollment.ts';
import { createTrainer } from '../clients/trainer.ts';
import { Transport } from '../clients/transport.ts';
import type { BenchOptions, BenchResult, BenchSection } from './harness.ts';
import { median } from './harness.ts';

/** About 1M parameters: a 4 MB update. */
const UPLOAD_MODEL: ModelSpec = { kind: 'mlp', inputs: 1000, hidden: [1000], outputs: 10, activation: 'relu' };

export const uploadSection: BenchSection = {
  name: 'upload: 4 MB updates over loopback HTTP, signed, checked, written to the database (PGlite)',
  async run({ quick }: BenchOptions): Promise<BenchResult[]> {
    const uploads = quick ? 4 : 16;
    const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
    const agg = await startAggregator({ dataDir: dir, log: () => {} });
    try {
      const operator = new Transport({ baseUrl: agg.url, bearer: agg.operatorToken! });
      const { federation } = await operator.json<{ federation: { id: string } }>('POST', '/v1/federations', {
        body: { name: 'upload bench', model: UPLOAD_MODEL, rounds: 1, minMembers: 1, deadlines: { fit: 3600, evaluate: 60 }, secure: false },
      });
      // One more member than uploads, so the round stays in fit and no aggregation is timed.
      const members = [];
      for (let i = 0; i <= uploads; i++) {
        const { invitation } = await operator.json<{ invitation: { token: string } }>('POST', `/v1/federations/${federation.id}/invitations`, { body: { memberName: `m${i}` } });
        const id = await enroll({ aggregatorUrl: agg.url, federationId: federation.id, token: invitation.token });
        members.push({ id, t: memberTransport(id) });
      }
      await operator.json('POST', `/v1/federations/${federation.id}/rounds`);
      const body = encodeWeights(initialWeights(UPLOAD_MODEL, 1));
      const t0 = performance.now();
      for (const m of members.slice(0, uploads)) {
        await m.t.send('PUT', `/v1/federations/${federation.id}/members/${m.id.memberId}/rounds/1/update`, { body, headers: { [EXAMPLES_HEADER]: '100' } });
      }
      const ms = performance.now() - t0;
      const mb = (body.length * uploads) / 1e6;
      return [
        { section: 'upload', metric: `${uploads} sequential uploads of ${(body.length / 1e6).toFixed(1)} MB`, value: ms / uploads, unit: 'ms per upload', detail: { bytes: body.length, uploads } },
        { section: 'upload', metric: 'upload throughput incl. signature, decode, checks, DB write', value: mb / (ms / 1000), unit: 'MB/s', detail: { bytes: body.length, uploads } },
      ];
    } finally {
      await agg.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/**
 * One parameterised statement on embedded PGlite, as the aggregator issues them through
 * drizzle-orm (a keyed insert that records a nonce, a primary-key read; drizzle's row mode and
 * parsers): PGlite.query against oneTripClient, interleaved batch by batch on the same database.
 */
export const pgliteStatementSection: BenchSection = {
  name: 'PGlite statement: PGlite.query vs oneTripClient (same database, interleaved)',
  async run({ quick }: BenchOptions): Promise<BenchResult[]> {
    const pg = new PGlite();
    try {
      await pg.exec('create table nonces (member_id text, nonce text, at bigint, primary key (member_id, nonce))');
      const client = oneTripClient(pg);
      const paths = { 'PGlite.query': pg.query.bind(pg), oneTripClient: client.query } as const;
      // What drizzle-orm passes with every query: array rows and its own date/time parsers.
      const keep = (v: string) => v;
      const options = { rowMode: 'array' as const, parsers: { 1082: keep, 1114: keep, 1184: keep, 1186: keep, 1231: keep, 1115: keep, 1185: keep, 1187: keep, 1182: keep } };
      const batch = 500;
      const repetitions = quick ? 3 : 9;
      const samples: Record<keyof typeof paths, number[]> = { 'PGlite.query': [], oneTripClient: [] };
      let n = 0;
      for (let r = -1; r < repetitions; r++) {
        for (const [name, query] of Object.entries(paths) as [keyof typeof paths, (typeof paths)[keyof typeof paths]][]) {
          const t0 = performance.now();
          for (let i = 0; i < batch; i++) {
            const nonce = `n${n++}`;
            await query('insert into nonces (member_id, nonce, at) values ($1, $2, $3) on conflict do nothing', ['member-1', nonce, n], options);
            await query('select at from nonces where member_id = $1 and nonce = $2', ['member-1', nonce], options);
          }
          // The first pass warms both paths up and is not counted.
          if (r >= 0) samples[name].push(((performance.now() - t0) * 1000) / (2 * batch));
        }
      }
      const slow = median(samples['PGlite.query']);
      const fast = median(samples.oneTripClient);
      const detail = { statementsPerSample: 2 * batch, repetitions };
      return [
        { section: 'pglite', metric: 'PGlite.query, one insert or key read', value: slow, unit: 'us per statement (median)', detail: { ...detail, samplesUs: samples['PGlite.query'] } },
        { section: 'pglite', metric: 'oneTripClient, same statements', value: fast, unit: 'us per statement (median)', detail: { ...detail, samplesUs: samples.oneTripClient } },
        { section: 'pglite', metric: 'ratio PGlite.query / oneTripClient', value: slow / fast, unit: 'x', detail },
      ];
    } finally {
      await pg.close();
    }
  },
};

/** The MLP of the machine notes: 784-200-200-10, SGD, batch 32, on seeded random data. */
export const trainingSection: BenchSection = {
  name: 'training samples/s per TF.js backend present (784-200-200-10 MLP, batch 32)',
  async run({ quick }: BenchOptions): Promise<BenchResult[]> {
    const spec: ModelSpec = { kind: 'mlp', inputs: 784, hidden: [200, 200], outputs: 10, activation: 'relu' };
    const n = quick ? 1024 : 4096;
    const x = new Float32Array(n * 784);
    const y = new Float32Array(n);
    let s = 1;
    for (let i = 0; i < x.length; i++) x[i] = ((s = (s * 16807) % 2147483647) / 2147483647) - 0.5;
    for (let i = 0; i < n; i++) y[i] = i % 10;
    const results: BenchResult[] = [];
    for (const backend of await availableBackends()) {
      await selectBackend(backend);
      const trainer = await createTrainer(spec);
      const w = initialWeights(spec, 3);
      const opts = { optimizer: 'sgd' as const, learningRate: 0.01, batchSize: 32, localEpochs: 1, localSteps: null };
      await trainer.train(w, { x, y, n: 256, features: 784 }, opts); // warm-up
      const t0 = performance.now();
      await trainer.train(w, { x, y, n, features: 784 }, opts);
      const ms = performance.now() - t0;
      trainer.dispose();
      results.push({ section: 'training', metric: `backend ${backend}`, value: n / (ms / 1000), unit: 'samples/s', detail: { samples: n, ms } });
    }
    return results;
  },
};
