/**
 * @module A 3-member secure federation through the real aggregator and member runtime
 * (simulations/in-process.ts, PGlite): with self-shares (the default at 3 members) one member
 * vanishes, the round commits, and the model equals base + the plaintext FedAvg of the members
 * whose masked input counted, within the quantization bound. With `secure.selfShares: false` the
 * same loss fails the round with the reason recorded; a bad value is refused naming the field.
 */
import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeWeights } from '../core/codec.ts';
import { TesseraError } from '../core/errors.ts';
import { parseSecure } from '../core/federation.ts';
import type { SecAggStage } from '../core/secagg-wire.ts';
import { flatten } from '../core/tensors.ts';
import type { Database } from '../aggregator/db/database.ts';
import { openTestDatabase } from '../aggregator/db/testing.ts';
import type { LocalModel, MemberEvent } from '../clients/runtime.ts';
import { runInProcess } from '../simulations/in-process.ts';
import type { VirtualMember } from '../simulations/in-process.ts';
import { federations, modelVersions, roundMembers, rounds } from '../schema/index.ts';

const MODEL = { kind: 'mlp', inputs: 4, hidden: [3], outputs: 1, activation: 'relu' } as const;
const CLIP = 0.5;
const MAX_WEIGHT = 100;

interface Captured {
  delta: Float32Array;
  examples: number;
}

function toyModel(k: number): LocalModel {
  return {
    async train(global) {
      let j = 0;
      const weights = global.map((t) => ({ ...t, data: t.data.map((v) => v + 0.2 * Math.sin(++j * (k + 1.7))) }));
      return { weights, examples: 20 + 13 * k };
    },
    async evaluate() {
      return { examples: 10, correct: 7, lossSum: 3 };
    },
  };
}

const after = (stage: SecAggStage) => (e: MemberEvent) => e.kind === 'secagg' && e.stage === stage;

function members(captured: Map<string, Captured>, vanishing: number, at: SecAggStage): VirtualMember[] {
  return Array.from({ length: 3 }, (_, k) => ({
    name: `member-${k}`,
    model: toyModel(k),
    vanishWhen: k === vanishing ? after(at) : undefined,
    options: { onMaskedInput: (e) => void captured.set(`member-${k}`, { delta: e.delta, examples: e.examples }) },
  }));
}

describe('a 3-member secure federation survives one member vanishing (self-shares)', () => {
  let database: Database;
  beforeAll(async () => {
    database = await openTestDatabase('pglite');
  });
  afterAll(async () => {
    await database?.close();
  });

  async function run(name: string, at: SecAggStage, secure: Record<string, unknown> = {}) {
    const captured = new Map<string, Captured>();
    // minMembers 2: a loss before masked_input leaves two inputs, which the round must accept.
    const config = { name, model: MODEL, strategy: 'fedavg', rounds: 1, minMembers: 2, deadlines: { fit: 12, evaluate: 8, keys: 8 }, secure: { clip: CLIP, maxWeight: MAX_WEIGHT, ...secure } };
    await runInProcess(config, members(captured, 1, at), { database, idleJumpMs: 2000 }).catch(() => undefined);
    const db = database.db;
    const [f] = await db.select().from(federations).where(eq(federations.name, name));
    const [round] = await db.select().from(rounds).where(eq(rounds.federationId, f.id));
    const slots = await db.select().from(roundMembers).where(eq(roundMembers.roundId, round.id));
    return { f, round, slots, captured };
  }

  /** base + sum_i min(w_i, maxWeight) * clip(delta_i) / total, within the round's reported bound. */
  async function expectFedAvgOf(fid: string, contributors: Captured[]) {
    const versions = await database.db.select().from(modelVersions).where(eq(modelVersions.federationId, fid)).orderBy(asc(modelVersions.version));
    expect(versions.map((v) => v.version)).toEqual([0, 1]);
    const [round] = await database.db.select().from(rounds).where(eq(rounds.federationId, fid));
    const secure = (round.metrics as { secure: { meanErrorBound: number; totalWeight: number; survivors: number } }).secure;
    const base = flatten(decodeWeights(versions[0].body));
    const got = flatten(decodeWeights(versions[1].body));
    let total = 0;
    for (const c of contributors) total += Math.min(c.examples, MAX_WEIGHT);
    const want = Float64Array.from(base);
    for (const c of contributors) {
      const w = Math.min(c.examples, MAX_WEIGHT);
      for (let i = 0; i < want.length; i++) want[i] += (w * Math.max(-CLIP, Math.min(CLIP, c.delta[i]))) / total;
    }
    expect([secure.survivors, secure.totalWeight]).toEqual([contributors.length, total]);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    expect(worst).toBeLessThanOrEqual(secure.meanErrorBound + 1e-9);
  }

  it('one member vanishes after share_keys: the round commits the FedAvg of the other two', async () => {
    const { f, round, slots, captured } = await run('three-share-keys', 'share_keys');
    expect(round.status).toBe('committed');
    expect([...captured.keys()].sort()).toEqual(['member-0', 'member-2']);
    expect(slots.filter((s) => s.status === 'dropped')).toHaveLength(1);
    await expectFedAvgOf(f.id, [...captured.values()]);
  }, 120_000);

  it('one member vanishes after masked_input: its input still counts, the round commits the FedAvg of all three', async () => {
    const { f, round, captured } = await run('three-masked-input', 'masked_input');
    expect(round.status).toBe('committed');
    expect(captured.size).toBe(3);
    await expectFedAvgOf(f.id, [...captured.values()]);
  }, 120_000);

  it('with secure.selfShares false the same loss fails the round with the reason recorded', async () => {
    const { round } = await run('three-no-self-shares', 'share_keys', { selfShares: false });
    expect(round.status).toBe('failed');
    expect(round.failureReason).toMatch(/cannot unmask: member \S+: 1 of 2 needed shares; member \S+: 1 of 2 needed shares/);
  }, 120_000);

  it('refuses a bad secure.selfShares naming the field; null and absent mean the default rule', () => {
    expect(() => parseSecure({ selfShares: 'yes' })).toThrow(TesseraError);
    expect(() => parseSecure({ selfShares: 1 })).toThrow(/^secure\.selfShares: expected true, false or null/);
    expect(parseSecure({}).selfShares).toBeNull();
    expect(parseSecure({ selfShares: null }).selfShares).toBeNull();
    expect(parseSecure({ selfShares: true }).selfShares).toBe(true);
  });
});
