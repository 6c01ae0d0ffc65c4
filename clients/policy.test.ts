import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TesseraError } from '../core/errors.ts';
import { parseFederationConfig } from '../core/federation.ts';
import { planDpSgd } from '../core/privacy/plan.ts';
import { DEFAULT_ORDERS } from '../core/privacy/rdp.ts';
import { BudgetLedger, budgetPathFor } from './budget.ts';
import { checkRound, loadMemberPolicy, parseMemberPolicy } from './policy.ts';

const fieldOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TesseraError);
    expect((e as TesseraError).code).toBe('BAD_REQUEST');
    return (e as TesseraError).field;
  }
  throw new Error('expected an error');
};

describe('parseMemberPolicy', () => {
  it('fills defaults', () => {
    expect(parseMemberPolicy({})).toEqual({ maxEpsilon: null, maxMemberEpsilon: null, delta: null, minCohort: 1, strategies: null, modelKinds: null, maxRoundsPerDay: null });
  });

  it.each([
    [{ maxEpsilon: -1, delta: 1e-5 }, 'policy.maxEpsilon'],
    [{ maxEpsilon: 'lots', delta: 1e-5 }, 'policy.maxEpsilon'],
    [{ maxEpsilon: 2 }, 'policy.delta'],
    [{ maxEpsilon: 2, delta: 1 }, 'policy.delta'],
    [{ minCohort: 0 }, 'policy.minCohort'],
    [{ minCohort: 2.5 }, 'policy.minCohort'],
    [{ strategies: ['fedavg', 'fedmagic'] }, 'policy.strategies[1]'],
    [{ strategies: [] }, 'policy.strategies'],
    [{ modelKinds: ['cnn'] }, 'policy.modelKinds[0]'],
    [{ maxRoundsPerDay: 0 }, 'policy.maxRoundsPerDay'],
    [{ maxEpsilom: 1 }, 'policy.maxEpsilom'],
    [{ maxMemberEpsilon: 0, delta: 1e-5 }, 'policy.maxMemberEpsilon'],
    [{ maxMemberEpsilon: 4 }, 'policy.delta'],
  ])('names the bad field: %j -> %s', (input, field) => {
    expect(fieldOf(() => parseMemberPolicy(input))).toBe(field);
  });

  it('reports an unreadable or non-JSON file as the policy field', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tessera-policy-'));
    writeFileSync(path.join(dir, 'p.json'), '{ nope');
    expect(fieldOf(() => loadMemberPolicy(path.join(dir, 'p.json')))).toBe('policy');
    expect(fieldOf(() => loadMemberPolicy(path.join(dir, 'missing.json')))).toBe('policy');
  });
});

const config = parseFederationConfig({
  name: 'p',
  model: { kind: 'logistic', inputs: 13, outputs: 1 },
  training: { batchSize: 16, localEpochs: 1 },
  rounds: 10,
  privacy: { noiseMultiplier: 1.1, delta: 1e-5, clipNorm: 1 },
});
const plan = planDpSgd(config.privacy!, config.training, 200, config.rounds);
const facts = (ledger: BudgetLedger, over: Partial<Parameters<typeof checkRound>[1]> = {}) => ({ federationId: 'f1', config, cohort: 3, plan, ledger, now: 1_000_000_000, ...over });

describe('checkRound', () => {
  it('admits a round within every limit', () => {
    expect(checkRound(parseMemberPolicy({ maxEpsilon: 10, delta: 1e-5, minCohort: 3 }), facts(BudgetLedger.open(null, 'm')))).toBeNull();
  });

  it('declines a cohort below the minimum', () => {
    expect(checkRound(parseMemberPolicy({ minCohort: 4 }), facts(BudgetLedger.open(null, 'm')))).toMatch(/cohort of 3 members is below this member's minimum of 4/);
  });

  it('declines strategies and model kinds it does not accept', () => {
    const ledger = BudgetLedger.open(null, 'm');
    expect(checkRound(parseMemberPolicy({ strategies: ['fedprox'] }), facts(ledger))).toMatch(/strategy fedavg/);
    expect(checkRound(parseMemberPolicy({ modelKinds: ['mlp'] }), facts(ledger))).toMatch(/model kind logistic/);
  });

  it('declines once the next round would pass the budget, from its own ledger', () => {
    const ledger = BudgetLedger.open(null, 'm');
    const policy = parseMemberPolicy({ maxEpsilon: 3, delta: 1e-5 });
    let admitted = 0;
    while (checkRound(policy, facts(ledger)) === null) {
      ledger.record('f1', admitted + 1, plan, 1_000_000_000);
      admitted++;
    }
    expect(admitted).toBeGreaterThan(0);
    expect(ledger.spent("f1", 1e-5)).toBeLessThanOrEqual(3);
    expect(ledger.projected("f1", plan, 1e-5)).toBeGreaterThan(3);
    expect(checkRound(policy, facts(ledger))).toMatch(/privacy budget: this round would bring the cumulative epsilon to .* above this member's cap of 3/);
    // Another federation has its own account.
    expect(checkRound(policy, facts(ledger, { federationId: 'f2' }))).toBeNull();
  });

  it('declines a round without record-level DP when the policy caps epsilon', () => {
    expect(checkRound(parseMemberPolicy({ maxEpsilon: 1, delta: 1e-5 }), facts(BudgetLedger.open(null, 'm'), { plan: null }))).toMatch(/applies no record-level DP/);
  });

  it('member-level DP: declines once the next round would pass the member-level cap, and rounds without distributed noise', () => {
    const ledger = BudgetLedger.open(null, 'm');
    const policy = parseMemberPolicy({ maxMemberEpsilon: 2, delta: 1e-5 });
    // A Gaussian-like round: RDP(alpha) = alpha / 20 (rho = 0.05).
    const memberRdp = DEFAULT_ORDERS.map((a) => a / 20);
    const spend = { at: 1_000_000_000, mechanism: 'discrete-gaussian' as const, variance: 10, l2Sensitivity: 1, members: 3, delta: 1e-5, epsilon: 0 };
    let admitted = 0;
    while (checkRound(policy, facts(ledger, { memberRdp })) === null) ledger.recordMember('f1', { ...spend, round: ++admitted }, memberRdp);
    expect(admitted).toBeGreaterThan(0);
    expect(ledger.memberSpent('f1', 1e-5)).toBeLessThanOrEqual(2);
    expect(ledger.memberProjected('f1', memberRdp, 1e-5)).toBeGreaterThan(2);
    expect(checkRound(policy, facts(ledger, { memberRdp }))).toMatch(/member-level privacy budget: .* above this member's cap of 2/);
    // Record-level spend is a separate account.
    expect(ledger.spent('f1', 1e-5)).toBe(0);
    expect(checkRound(policy, facts(ledger, { memberRdp: null }))).toMatch(/adds no member-level distributed noise/);
    // Recording the same round twice (a retry) spends once.
    const before = ledger.memberSpent('f1', 1e-5);
    ledger.recordMember('f1', { ...spend, round: 1 }, memberRdp);
    expect(ledger.memberSpent('f1', 1e-5)).toBe(before);
  });

  it('caps rounds per rolling day', () => {
    const ledger = BudgetLedger.open(null, 'm');
    const policy = parseMemberPolicy({ maxRoundsPerDay: 2 });
    ledger.record('f1', 1, plan, 1_000_000_000 - 90_000_000);
    ledger.record('f1', 2, plan, 1_000_000_000 - 3_600_000);
    expect(checkRound(policy, facts(ledger))).toBeNull();
    ledger.record('f1', 3, plan, 1_000_000_000 - 60_000);
    expect(checkRound(policy, facts(ledger))).toMatch(/2 rounds trained in the last 24 hours/);
  });
});

describe('BudgetLedger', () => {
  it('lives beside the identity, persists across opens, and is written atomically', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tessera-budget-'));
    const file = budgetPathFor(path.join(dir, 'member.identity.json'));
    expect(path.basename(file)).toBe('member.identity.budget.json');
    const a = BudgetLedger.open(file, 'm1');
    a.record('f1', 1, plan, 5);
    a.recordDecline('f1', 2, 'cohort too small', 6);
    expect(readdirSync(dir)).toEqual(['member.identity.budget.json']);
    const b = BudgetLedger.open(file, 'm1');
    expect(b.spent('f1', 1e-5)).toBeCloseTo(a.spent('f1', 1e-5), 12);
    expect(b.snapshot().federations.f1.declines).toEqual([{ round: 2, at: 6, reason: 'cohort too small' }]);
    expect(JSON.parse(readFileSync(file, 'utf8')).federations.f1.rounds[0]).toMatchObject({ round: 1, noiseMultiplier: 1.1, steps: 13 });
  });

  it('refuses a ledger of another member or a damaged file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tessera-budget-'));
    const file = path.join(dir, 'b.json');
    BudgetLedger.open(file, 'm1').record('f1', 1, plan, 5);
    expect(() => BudgetLedger.open(file, 'm2')).toThrow(/belongs to member m1/);
    writeFileSync(file, '{');
    expect(() => BudgetLedger.open(file, 'm1')).toThrow(/not JSON/);
  });
});
