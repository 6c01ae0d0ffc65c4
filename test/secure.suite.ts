/**
 * @module Secure rounds through the real aggregator and member runtime (simulations/in-process.ts),
 * run on each database (secure.pglite.test.ts, secure.postgres.test.ts): the committed model
 * equals the plaintext FedAvg of the deltas the members masked, within the documented bound;
 * members vanish at every stage; the aggregator is replaced at every stage; what the aggregator
 * stores does not reveal a member's delta.
 */
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeWeights } from '../core/codec.ts';
import { decodeSecAggMessage } from '../core/secagg-body.ts';
import type { MaskedInputMessage, SecAggStage, UnmaskMessage } from '../core/secagg-wire.ts';
import { flatten } from '../core/tensors.ts';
import { quantize } from '../crypto/quantization.ts';
import { bytesToVector } from '../crypto/secagg-messages.ts';
import type { Database } from '../aggregator/db/database.ts';
import type { LocalModel, MemberEvent } from '../clients/runtime.ts';
import { runInProcess } from '../simulations/in-process.ts';
import type { VirtualMember } from '../simulations/in-process.ts';
import { auditEvents, contributions, federations, modelVersions, roundMembers, rounds } from '../schema/index.ts';

const MODEL = { kind: 'mlp', inputs: 6, hidden: [5], outputs: 1, activation: 'relu' } as const;
const CLIP = 0.5;
const MAX_WEIGHT = 100;

/** A member whose delta is fixed by its index (a few coordinates beyond the clip) and whose example count varies (one above maxWeight). */
function toyModel(k: number): LocalModel {
  return {
    async train(global) {
      let j = 0;
      const weights = global.map((t) => ({ ...t, data: t.data.map((v) => v + 0.2 * Math.sin(++j * (k + 1.3)) + (j === 3 ? 0.4 * k : 0)) }));
      return { weights, examples: k === 0 ? 150 : 10 + 7 * k };
    },
    async evaluate() {
      return { examples: 10, correct: 7, lossSum: 3 };
    },
  };
}

interface Captured {
  delta: Float32Array;
  examples: number;
}

function federation(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, model: MODEL, strategy: 'fedavg', rounds: 1, minMembers: 3, deadlines: { fit: 30, evaluate: 12, keys: 12 }, secure: { clip: CLIP, maxWeight: MAX_WEIGHT }, ...extra };
}

function members(n: number, captured: Map<string, Captured>, vanish: Map<number, VirtualMember['vanishWhen']> = new Map()): VirtualMember[] {
  return Array.from({ length: n }, (_, k) => ({
    name: `member-${k}`,
    model: toyModel(k),
    vanishWhen: vanish.get(k),
    options: { onMaskedInput: (e) => void captured.set(`member-${k}`, { delta: e.delta, examples: e.examples }) },
  }));
}

const after = (stage: SecAggStage) => (e: MemberEvent) => e.kind === 'secagg' && e.stage === stage;

export function defineSecureSuite(kind: string, open: () => Promise<Database>): void {
  describe(`secure rounds on ${kind}`, () => {
    let database: Database;
    beforeAll(async () => {
      database = await open();
    });
    afterAll(async () => {
      await database?.close();
    });

    /** Runs one federation; returns its (last) round row and the names of its member ids. */
    async function run(name: string, vms: VirtualMember[], opts: { extra?: Record<string, unknown>; restartAt?: SecAggStage } = {}) {
      // The aggregator is replaced as the second member's message of that stage arrives: the stage
      // is open (it closes on the last member's message) and the first one's is already stored.
      let restarted = false;
      let messages = 0;
      const restartBefore = opts.restartAt
        ? ({ method, path }: { method: string; path: string }) => method === 'PUT' && path.endsWith(`/secagg/${opts.restartAt}`) && ++messages === 2 && (restarted = true)
        : undefined;
      let error: unknown = null;
      // The toy members answer at once: an idle stage jumps to its deadline instead of waiting for it.
      await runInProcess(federation(name, opts.extra), vms, { database, restartBefore, idleJumpMs: 2000 }).catch((e: unknown) => (error = e));
      const db = database.db;
      const [f] = await db.select().from(federations).where(eq(federations.name, name));
      const [round] = await db.select().from(rounds).where(eq(rounds.federationId, f.id)).orderBy(asc(rounds.number));
      const slots = await db.select().from(roundMembers).where(eq(roundMembers.roundId, round.id));
      const idOf = new Map((await db.query.members.findMany({ where: (m, { eq: e }) => e(m.federationId, f.id) })).map((m) => [m.name, m.id]));
      return { f, round, slots, idOf, error, restarted };
    }

    /** The committed model must be base + the plaintext weighted mean of the survivors' clipped deltas, within the documented bound. */
    async function expectPlaintextMean(fid: string, survivors: Captured[]) {
      const db = database.db;
      const versions = await db.select().from(modelVersions).where(eq(modelVersions.federationId, fid)).orderBy(asc(modelVersions.version));
      expect(versions.map((v) => v.version)).toEqual([0, 1]);
      const [round] = await db.select().from(rounds).where(eq(rounds.federationId, fid));
      const secure = (round.metrics as { secure: { meanErrorBound: number; totalWeight: number; clipped: number; survivors: number } }).secure;
      const base = flatten(decodeWeights(versions[0].body));
      const got = flatten(decodeWeights(versions[1].body));
      const want = Float64Array.from(base);
      let total = 0;
      let clipped = 0;
      for (const s of survivors) total += Math.min(s.examples, MAX_WEIGHT);
      for (const s of survivors) {
        const w = Math.min(s.examples, MAX_WEIGHT);
        for (let i = 0; i < want.length; i++) {
          if (Math.abs(s.delta[i]) > CLIP) clipped++;
          want[i] += (w * Math.max(-CLIP, Math.min(CLIP, s.delta[i]))) / total;
        }
      }
      expect(secure.survivors).toBe(survivors.length);
      expect(secure.totalWeight).toBe(total);
      expect(secure.clipped).toBe(clipped);
      expect(clipped).toBeGreaterThan(0);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
      expect(worst).toBeLessThanOrEqual(secure.meanErrorBound + 1e-6);
      return { worst, bound: secure.meanErrorBound };
    }

    it('commits the plaintext FedAvg of the masked deltas within the quantization bound, and reports clipping', async () => {
      const captured = new Map<string, Captured>();
      const { f, round, slots } = await run('exact', members(5, captured));
      expect(round.status).toBe('committed');
      expect(slots.every((s) => s.status === 'evaluated')).toBe(true);
      const { worst, bound } = await expectPlaintextMean(f.id, [...captured.values()]);
      expect(bound).toBeLessThan(1e-4);
      expect(worst).toBeLessThan(bound);
      const secure = (round.metrics as { secure: { clippedReport: string } }).secure;
      expect(secure.clippedReport).toMatch(/^\d+\.\d+% of coordinates clipped \(\d+ of \d+\)$/);
      const kinds = (await database.db.select().from(auditEvents).where(eq(auditEvents.federationId, f.id))).map((e) => `${e.kind}:${(e.payload as { to?: string; stage?: string }).to ?? (e.payload as { stage?: string }).stage ?? ''}`);
      for (const k of ['round.stage:share_keys', 'round.stage:masked_input', 'round.stage:consistency', 'round.stage:unmask', 'round.stage:evaluate', 'contribution.accepted:masked_input']) expect(kinds).toContain(k);
      expect(kinds.filter((k) => k.startsWith('model.committed'))).toHaveLength(1);
    }, 120_000);

    // 10 members: full SecAgg with k = 9, t = 5. Each row: who vanishes, and after what.
    const cases: { label: string; drop: number[]; at: 'start' | SecAggStage; completes: boolean }[] = [
      { label: '10% before advertising keys', drop: [4], at: 'start', completes: true },
      { label: '30% after advertise_keys', drop: [1, 4, 7], at: 'advertise_keys', completes: true },
      { label: '10% after share_keys', drop: [2], at: 'share_keys', completes: true },
      { label: '30% after share_keys', drop: [0, 3, 8], at: 'share_keys', completes: true },
      { label: '30% after masked_input', drop: [2, 5, 9], at: 'masked_input', completes: true },
      { label: '30% after consistency', drop: [1, 2, 3], at: 'consistency', completes: true },
      { label: '60% after share_keys (fewer than t left)', drop: [0, 1, 2, 3, 4, 5], at: 'share_keys', completes: false },
    ];
    for (const c of cases) {
      it(`members vanishing: ${c.label} -> ${c.completes ? 'completes with the survivors' : 'fails with the reason recorded'}`, async () => {
        const captured = new Map<string, Captured>();
        const vanish = new Map(c.drop.map((k) => [k, c.at === 'start' ? ('start' as const) : after(c.at)]));
        const name = `drop-${c.label.replace(/[^a-z0-9]+/gi, '-')}`;
        const { f, round, slots, idOf } = await run(name, members(10, captured, vanish));
        const dropped = c.drop.map((k) => idOf.get(`member-${k}`)!);
        if (!c.completes) {
          expect(round.status).toBe('failed');
          expect(round.failureReason).toMatch(/masked_input: only [0-4] members completed it; at least t = 5 needed/);
          expect(await database.db.select().from(modelVersions).where(eq(modelVersions.federationId, f.id))).toHaveLength(1);
          return;
        }
        expect(round.status).toBe('committed');
        // Inputs count from everyone who sent a masked input (vanishing later does not remove it).
        const maskedBefore = c.at === 'masked_input' || c.at === 'consistency';
        // The survivors are whoever's masked input the aggregator stored: the vanished ones among them exactly when they vanished after masking.
        const maskedBy = (await database.db.select({ memberId: contributions.memberId }).from(contributions).where(and(eq(contributions.roundId, round.id), eq(contributions.stage, 'masked_input')))).map((r) => r.memberId);
        for (const id of dropped) expect(maskedBy.includes(id)).toBe(maskedBefore);
        const nameOf = new Map([...idOf].map(([n, id]) => [id, n]));
        await expectPlaintextMean(f.id, maskedBy.map((id) => captured.get(nameOf.get(id)!)!));
        const slotOf = new Map(slots.map((s) => [s.memberId, s]));
        // Vanished before their input counted: dropped; after: still contributors (status submitted), the drop audited.
        for (const id of dropped) expect(slotOf.get(id)!.status).toBe(maskedBefore ? 'submitted' : 'dropped');
        const dropEvents = await database.db.select().from(auditEvents).where(and(eq(auditEvents.federationId, f.id), eq(auditEvents.kind, 'member.dropped')));
        expect(dropEvents.map((e) => (e.payload as { memberId: string }).memberId)).toEqual(expect.arrayContaining(dropped));
        for (const e of dropEvents) expect((e.payload as { reason: string }).reason).toMatch(/^missed the \w+ deadline$/);
      }, 120_000);
    }

    for (const stage of ['advertise_keys', 'share_keys', 'masked_input', 'consistency', 'unmask'] as const) {
      it(`resumes after the aggregator is replaced during ${stage}`, async () => {
        const captured = new Map<string, Captured>();
        const { f, round, restarted } = await run(`restart-${stage}`, members(4, captured), { restartAt: stage });
        expect(restarted).toBe(true);
        expect(round.status).toBe('committed');
        await expectPlaintextMean(f.id, [...captured.values()]);
      }, 120_000);
    }

    it('stores nothing from which one member\'s delta can be read: masked vectors differ from the quantized deltas almost everywhere; no member\'s two secrets are both revealed', async () => {
      const captured = new Map<string, Captured>();
      const vanish = new Map([[3, after('share_keys')]]);
      const { round, idOf } = await run('server-view', members(6, captured, vanish), { extra: { secure: { clip: CLIP, maxWeight: MAX_WEIGHT, bits: 16 } } });
      expect(round.status).toBe('committed');
      const stored = await database.db.select().from(contributions).where(eq(contributions.roundId, round.id));
      const nameOf = new Map([...idOf].map(([n, id]) => [id, n]));
      const masked = stored.filter((r) => r.stage === 'masked_input');
      expect(masked).toHaveLength(5);
      for (const row of masked) {
        const m = decodeSecAggMessage(row.body, 'masked_input') as MaskedInputMessage;
        const words = new Int32Array(bytesToVector(m.vector).buffer);
        const mine = captured.get(nameOf.get(row.memberId)!)!;
        const { quantized } = quantize(mine.delta, { clip: CLIP, bits: 16 }, { scale: Math.min(mine.examples, MAX_WEIGHT) / MAX_WEIGHT, random: () => 0.5 });
        const q = new Int32Array(quantized.buffer);
        let near = 0;
        for (let i = 0; i < q.length; i++) if (Math.abs(words[i] - q[i]) <= 1) near++;
        expect(near / q.length).toBeLessThan(0.01);
      }
      // Unmask: the dropped member's mask key may be revealed, then never its self mask; survivors' self masks only.
      const revealed = new Map<string, Set<string>>();
      for (const row of stored.filter((r) => r.stage === 'unmask')) {
        for (const s of (decodeSecAggMessage(row.body, 'unmask') as UnmaskMessage).shares) revealed.set(s.of, (revealed.get(s.of) ?? new Set()).add(s.kind));
      }
      for (const kinds of revealed.values()) expect(kinds.size).toBe(1);
      expect([...revealed.get(idOf.get('member-3')!)!]).toEqual(['mask_key']);
    }, 120_000);
  });
}
