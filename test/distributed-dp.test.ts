// Member-level distributed DP end to end: the real aggregator (PGlite) and member runtimes in one
// process, a secure federation whose members add discrete Gaussian noise, one member with a
// member-level budget that the second round would exceed.
import { and, asc, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { BudgetLedger } from '../clients/budget.ts';
import { parseMemberPolicy } from '../clients/policy.ts';
import type { MemberEvent } from '../clients/runtime.ts';
import { tabularMember } from '../clients/tabular-member.ts';
import { TesseraError } from '../core/errors.ts';
import { parseFederationConfig } from '../core/federation.ts';
import { auditEvents, roundMembers, rounds } from '../schema/index.ts';
import { runInProcess } from '../simulations/in-process.ts';
import { HEART_DISEASE_FEDERATION, HOSPITALS, useHeartDiseaseFixture } from './heart-disease-fixture.ts';

const hd = useHeartDiseaseFixture();

const federation = (noise: Record<string, unknown>) => ({
  ...HEART_DISEASE_FEDERATION,
  name: 'ddp',
  minMembers: 3,
  secure: { clip: 1, distributedNoise: noise },
});

const fieldOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TesseraError);
    return (e as TesseraError).field;
  }
  throw new Error('expected an error');
};

describe('secure.distributedNoise in the federation config', () => {
  it('fills defaults: discrete Gaussian, l2Clip = secure.clip, minSurvivors = minMembers', () => {
    expect(parseFederationConfig(federation({ epsilon: 2, delta: 1e-5 })).secure.distributedNoise).toEqual({ mechanism: 'discrete-gaussian', epsilon: 2, delta: 1e-5, l2Clip: 1, minSurvivors: 3 });
  });

  it.each([
    [{ mechanism: 'laplace', epsilon: 1, delta: 1e-5 }, 'secure.distributedNoise.mechanism'],
    [{ delta: 1e-5 }, 'secure.distributedNoise.epsilon'],
    [{ epsilon: 0, delta: 1e-5 }, 'secure.distributedNoise.epsilon'],
    [{ epsilon: 1 }, 'secure.distributedNoise.delta'],
    [{ epsilon: 1, delta: 1.5 }, 'secure.distributedNoise.delta'],
    [{ epsilon: 1, delta: 1e-5, l2Clip: 2 }, 'secure.distributedNoise.l2Clip'],
    [{ epsilon: 1, delta: 1e-5, minSurvivors: 0 }, 'secure.distributedNoise.minSurvivors'],
    ['lots', 'secure.distributedNoise'],
  ])('refuses %j naming %s', (noise, field) => {
    expect(fieldOf(() => parseFederationConfig(federation(noise as Record<string, unknown>)))).toBe(field);
  });

  it('refuses distributed noise without secure aggregation', () => {
    expect(fieldOf(() => parseFederationConfig({ ...federation({ epsilon: 1, delta: 1e-5 }), secure: { enabled: false, distributedNoise: { epsilon: 1, delta: 1e-5 } } }))).toBe('secure.distributedNoise');
  });
});

describe('member-level distributed DP in a secure federation', () => {
  it('members spend member-level epsilon, a member over its cap declines, and the spend is in the ledger', async () => {
    const config = federation({ mechanism: 'discrete-gaussian', epsilon: 1, delta: 1e-5 });
    const spec = parseFederationConfig(config).model;
    const events: MemberEvent[] = [];
    const budget = BudgetLedger.open(null, 'va');
    // One round costs at most 1 at delta 1e-5 (the sum over 3 members' noise); two compose to more than 1.2.
    const policy = parseMemberPolicy({ maxMemberEpsilon: 1.2, delta: 1e-5 });
    const members = await Promise.all(HOSPITALS.map(async (name, i) => ({
      name,
      model: await tabularMember(hd.data[i], spec, { seed: 1 }),
      ...(name === 'va' ? { options: { policy, budget, onEvent: (e: MemberEvent) => events.push(e) } } : {}),
    })));
    const out = await runInProcess(config, members, { database: hd.database });
    expect(out.rounds.map((r) => r.status)).toEqual(['committed', 'committed']);
    const vaId = [...out.names].find(([, n]) => n === 'va')![0];
    const [r2] = await hd.database.db.select().from(rounds).where(and(eq(rounds.federationId, out.federationId), eq(rounds.number, 2)));
    const slots = await hd.database.db.select().from(roundMembers).where(eq(roundMembers.roundId, r2.id)).orderBy(asc(roundMembers.memberId));
    expect(slots.find((p) => p.memberId === vaId)).toMatchObject({ status: 'declined' });
    expect(slots.find((p) => p.memberId === vaId)!.reason).toMatch(/member-level privacy budget: this round would bring the cumulative epsilon to .* above this member's cap of 1.2/);
    expect(slots.filter((p) => p.status === 'evaluated')).toHaveLength(3);
    // The member's own account: round 1 only, at most the stated epsilon.
    const spent = budget.memberSpent(out.federationId, 1e-5);
    expect(spent).toBeGreaterThan(0.9);
    expect(spent).toBeLessThanOrEqual(1);
    expect(budget.snapshot().federations[out.federationId].memberRounds!.map((r) => r.round)).toEqual([1]);
    expect(events.filter((e) => e.kind === 'member-privacy-spent')).toHaveLength(1);
    // Every evaluation in the ledger carries the member-level spend; the secure summary states the noise.
    const entries = await hd.database.db.select().from(auditEvents).where(eq(auditEvents.federationId, out.federationId)).orderBy(asc(auditEvents.seq));
    const evals = entries.filter((e) => e.kind === 'evaluation.accepted').map((e) => e.payload as { round: number; memberId: string; memberPrivacy?: { epsilon: number; cumulativeEpsilon: number; members: number; mechanism: string } });
    expect(evals).toHaveLength(7);
    expect(evals.every((p) => p.memberPrivacy?.mechanism === 'discrete-gaussian' && p.memberPrivacy.members === 3 && p.memberPrivacy.epsilon <= 1)).toBe(true);
    const round2 = evals.filter((p) => p.round === 2);
    expect(round2.every((p) => p.memberPrivacy!.cumulativeEpsilon > 1.2)).toBe(true);
    const committed = entries.find((e) => e.kind === 'round.stage' && (e.payload as { round: number; to: string }).round === 1 && (e.payload as { to: string }).to === 'evaluate');
    expect((committed!.payload as { secure: { distributedNoise: { survivorEpsilon: number; variance: number } } }).secure.distributedNoise.survivorEpsilon).toBeLessThan(1);
  });
});
