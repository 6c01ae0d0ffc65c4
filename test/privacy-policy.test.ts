// Member-owned policy end to end: the real aggregator and member runtime in one process.
import { and, asc, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { BudgetLedger } from '../clients/budget.ts';
import { parseMemberPolicy } from '../clients/policy.ts';
import type { MemberEvent } from '../clients/runtime.ts';
import { tabularMember } from '../clients/tabular-member.ts';
import { parseFederationConfig } from '../core/federation.ts';
import { planDpSgd } from '../core/privacy/plan.ts';
import { auditEvents, roundMembers, rounds } from '../schema/index.ts';
import { runInProcess } from '../simulations/in-process.ts';
import { HEART_DISEASE_FEDERATION, HOSPITALS, useHeartDiseaseFixture } from './heart-disease-fixture.ts';

const hd = useHeartDiseaseFixture();

const federation = (over: Record<string, unknown> = {}) => ({
  ...HEART_DISEASE_FEDERATION,
  name: 'policy',
  minMembers: 2,
  privacy: { mechanism: 'dp-sgd', noiseMultiplier: 1.0, delta: 1e-5, clipNorm: 1, sampling: 'poisson' },
  ...over,
});

/** The first `count` hospitals; the third (VA) runs with the given policy. */
async function members(config: Record<string, unknown>, third: { policy: ReturnType<typeof parseMemberPolicy>; budget?: BudgetLedger; events: MemberEvent[] }, count = 3) {
  const spec = parseFederationConfig(config).model;
  return Promise.all(HOSPITALS.slice(0, count).map(async (name, i) => ({
    name,
    model: await tabularMember(hd.data[i], spec, { seed: 1, dpNoiseSeed: i }),
    ...(i === 2 ? { options: { policy: third.policy, budget: third.budget, onEvent: (e: MemberEvent) => third.events.push(e) } } : {}),
  })));
}

async function participants(federationId: string, round: number) {
  const [r] = await hd.database.db.select().from(rounds).where(and(eq(rounds.federationId, federationId), eq(rounds.number, round)));
  return hd.database.db.select().from(roundMembers).where(eq(roundMembers.roundId, r.id)).orderBy(asc(roundMembers.memberId));
}

describe('member-owned policy in a federation (minMembers 2)', () => {
  it('a member whose budget would be exceeded declines, and the round goes on without it', async () => {
    const config = federation({ secure: false });
    // VA's cap sits between one round's spend and two rounds', at its own delta.
    const parsed = parseFederationConfig(config);
    const plan = planDpSgd(parsed.privacy!, parsed.training, hd.data[2].train.n, parsed.rounds);
    const probe = BudgetLedger.open(null, 'probe');
    const one = probe.projected('f', plan, 1e-5);
    probe.record('f', 1, plan, 0);
    const two = probe.projected('f', plan, 1e-5);
    const events: MemberEvent[] = [];
    const budget = BudgetLedger.open(null, 'va');
    const out = await runInProcess(config, await members(config, { policy: parseMemberPolicy({ maxEpsilon: (one + two) / 2, delta: 1e-5 }), budget, events }), { database: hd.database });
    expect(out.rounds.map((r) => r.status)).toEqual(['committed', 'committed']);
    const vaId = [...out.names].find(([, n]) => n === 'va')![0];
    const r2 = await participants(out.federationId, 2);
    const va = r2.find((p) => p.memberId === vaId)!;
    expect(va.status).toBe('declined');
    expect(va.reason).toMatch(/privacy budget: this round would bring the cumulative epsilon to/);
    expect(r2.filter((p) => p.status === 'evaluated')).toHaveLength(2);
    expect((await participants(out.federationId, 1)).every((p) => p.status === 'evaluated')).toBe(true);
    // The member's own account: one round spent, one declined, within its cap.
    expect(budget.spent(out.federationId, 1e-5)).toBeCloseTo(one, 9);
    expect(budget.snapshot().federations[out.federationId].declines.map((d) => d.round)).toEqual([2]);
    expect(events.filter((e) => e.kind === 'declined').map((e) => (e as { round: number }).round)).toEqual([2]);
    // The decline and each member's reported spend are in the ledger.
    const entries = await hd.database.db.select().from(auditEvents).where(eq(auditEvents.federationId, out.federationId)).orderBy(asc(auditEvents.seq));
    const declined = entries.filter((e) => e.kind === 'member.declined');
    expect(declined).toHaveLength(1);
    expect(declined[0].payload).toMatchObject({ round: 2, memberId: vaId, stage: 'fit' });
    const spent = entries.filter((e) => e.kind === 'contribution.accepted').map((e) => e.payload as { round: number; memberId: string; privacy?: { epsilon: number; noiseMultiplier: number } });
    expect(spent).toHaveLength(5);
    expect(spent.every((p) => p.privacy?.noiseMultiplier === 1)).toBe(true);
  });

  // Secure rounds need every survivor to keep t = 2 neighbours, so this one runs 4 members.
  it('a cohort below a member\'s minimum is declined; a secure round goes on with the others', async () => {
    const config = federation();
    const events: MemberEvent[] = [];
    const out = await runInProcess(config, await members(config, { policy: parseMemberPolicy({ minCohort: 5 }), events }, 4), { database: hd.database });
    expect(out.rounds.map((r) => r.status)).toEqual(['committed', 'committed']);
    const vaId = [...out.names].find(([, n]) => n === 'va')![0];
    for (const round of [1, 2]) {
      const ps = await participants(out.federationId, round);
      expect(ps.find((p) => p.memberId === vaId)).toMatchObject({ status: 'declined', reason: "cohort of 4 members is below this member's minimum of 5" });
      expect(ps.filter((p) => p.status === 'evaluated')).toHaveLength(3);
    }
    expect(events.filter((e) => e.kind === 'training')).toHaveLength(0);
  });
});
