/**
 * @module The member's own privacy account: a JSON file next to its identity, written atomically
 * (temporary file + rename), holding per federation the RDP curve it has spent and every round it
 * trained or declined. Computed from what the member itself applied; never from the aggregator's word.
 * Two units of privacy are kept apart: record-level (DP-SGD, one patient or customer) in `rdp`,
 * and member-level (distributed noise under secure aggregation, the member's whole data) in
 * `memberRdp`; each is composed over rounds and converted to epsilon at the delta asked for.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { TesseraError } from '../core/errors.ts';
import type { DpSgdPlan } from '../core/privacy/plan.ts';
import { DEFAULT_ORDERS, composeRdp, epsilonFromRdp } from '../core/privacy/rdp.ts';

/** One round this member trained with record-level DP. */
export interface RoundSpend {
  round: number;
  /** Unix ms when the member trained. */
  at: number;
  mechanism: 'dp-sgd';
  noiseMultiplier: number;
  clipNorm: number;
  sampleRate: number;
  steps: number;
  /** The federation's delta; `epsilon` is this round alone at that delta. */
  delta: number;
  epsilon: number;
}

/** One secure round whose sum carried this member's distributed noise. */
export interface MemberRoundSpend {
  round: number;
  at: number;
  mechanism: 'discrete-gaussian' | 'skellam';
  /** Per-member noise variance per coordinate (squared quantization steps) and the sensitivity it covers. */
  variance: number;
  l2Sensitivity: number;
  /** Members whose noise the spend assumes in the sum (the minimum survivors: the worst case). */
  members: number;
  delta: number;
  /** This round alone at `delta`. */
  epsilon: number;
}

export interface FederationAccount {
  /** The RDP spent so far, one value per order of `orders`. */
  orders: number[];
  rdp: number[];
  rounds: RoundSpend[];
  declines: { round: number; at: number; reason: string }[];
  /** Member-level RDP (distributed DP) on the same orders; absent in files written before it existed. */
  memberRdp?: number[];
  memberRounds?: MemberRoundSpend[];
}

export interface BudgetFile {
  version: 1;
  memberId: string;
  federations: Record<string, FederationAccount>;
}

/** `member.identity.json` -> `member.identity.budget.json`: the ledger lives beside the identity. */
export function budgetPathFor(identityPath: string): string {
  return identityPath.endsWith('.json') ? `${identityPath.slice(0, -5)}.budget.json` : `${identityPath}.budget.json`;
}

function badFile(path: string, what: string): never {
  throw new TesseraError('BAD_REQUEST', `budget file ${path}: ${what}; it is the member's own record: restore it from a backup rather than deleting it`, { field: 'budget' });
}

/** The ledger file; every change is written before the call returns. */
export class BudgetLedger {
  private data: BudgetFile;

  private constructor(readonly path: string | null, data: BudgetFile) {
    this.data = data;
  }

  /** Opens (or starts) the ledger at `path`; `path` null keeps it in memory (simulations, tests). */
  static open(path: string | null, memberId: string): BudgetLedger {
    if (path === null || !existsSync(path)) return new BudgetLedger(path, { version: 1, memberId, federations: {} });
    let parsed: BudgetFile;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8')) as BudgetFile;
    } catch (e) {
      badFile(path, `not JSON (${(e as Error).message})`);
    }
    if (parsed?.version !== 1 || typeof parsed.federations !== 'object' || parsed.federations === null) badFile(path, 'expected {"version": 1, "federations": {...}}');
    if (parsed.memberId !== memberId) badFile(path, `it belongs to member ${parsed.memberId}, not ${memberId}`);
    for (const [fid, a] of Object.entries(parsed.federations)) {
      if (!Array.isArray(a.rdp) || !Array.isArray(a.orders) || a.rdp.length !== a.orders.length || !Array.isArray(a.rounds)) badFile(path, `federations.${fid}: malformed account`);
    }
    return new BudgetLedger(path, parsed);
  }

  /** A copy of the whole file. */
  snapshot(): BudgetFile {
    return JSON.parse(JSON.stringify(this.data)) as BudgetFile;
  }

  private account(federationId: string): FederationAccount {
    const a = this.data.federations[federationId];
    if (a) return a;
    return { orders: [...DEFAULT_ORDERS], rdp: DEFAULT_ORDERS.map(() => 0), rounds: [], declines: [] };
  }

  /** Cumulative epsilon at `delta` spent in a federation (0 before any DP round). */
  spent(federationId: string, delta: number): number {
    const a = this.account(federationId);
    return a.rounds.length === 0 ? 0 : epsilonFromRdp(a.rdp, delta, a.orders).epsilon;
  }

  /** Cumulative epsilon at `delta` if a round with this plan were added. */
  projected(federationId: string, plan: DpSgdPlan, delta: number): number {
    const a = this.account(federationId);
    return epsilonFromRdp(composeRdp(a.rdp, this.onOrders(a, plan)), delta, a.orders).epsilon;
  }

  /** Rounds trained (any federation) since `sinceMs`. */
  roundsSince(sinceMs: number): number {
    return Object.values(this.data.federations).reduce((n, a) => {
      const recent = new Set([...a.rounds, ...(a.memberRounds ?? [])].filter((r) => r.at >= sinceMs).map((r) => r.round));
      return n + recent.size;
    }, 0);
  }

  /** Cumulative member-level epsilon at `delta` in a federation (0 before any distributed-DP round). */
  memberSpent(federationId: string, delta: number): number {
    const a = this.account(federationId);
    return (a.memberRounds ?? []).length === 0 ? 0 : epsilonFromRdp(this.memberCurve(a), delta, a.orders).epsilon;
  }

  /** Cumulative member-level epsilon at `delta` if a round of RDP `roundRdp` (DEFAULT_ORDERS) were added. */
  memberProjected(federationId: string, roundRdp: readonly number[], delta: number): number {
    const a = this.account(federationId);
    this.checkOrders(a);
    return epsilonFromRdp(composeRdp(this.memberCurve(a), roundRdp), delta, a.orders).epsilon;
  }

  /** Adds a round's member-level spend (call before the masked input leaves the member); once per round. */
  recordMember(federationId: string, spend: MemberRoundSpend, roundRdp: readonly number[]): MemberRoundSpend {
    const a = this.account(federationId);
    this.checkOrders(a);
    const known = (a.memberRounds ?? []).find((r) => r.round === spend.round);
    if (known) return known;
    this.data.federations[federationId] = { ...a, memberRdp: composeRdp(this.memberCurve(a), roundRdp), memberRounds: [...(a.memberRounds ?? []), spend] };
    this.save();
    return spend;
  }

  private memberCurve(a: FederationAccount): number[] {
    return a.memberRdp ?? a.orders.map(() => 0);
  }

  /** Adds a round's spend (call before the model trained with it leaves the member). */
  record(federationId: string, round: number, plan: DpSgdPlan, at: number): RoundSpend {
    const a = this.account(federationId);
    const spend: RoundSpend = { round, at, mechanism: 'dp-sgd', noiseMultiplier: plan.noiseMultiplier, clipNorm: plan.clipNorm, sampleRate: plan.sampleRate, steps: plan.stepsPerRound, delta: plan.delta, epsilon: plan.roundEpsilon };
    this.data.federations[federationId] = { ...a, rdp: composeRdp(a.rdp, this.onOrders(a, plan)), rounds: [...a.rounds, spend] };
    this.save();
    return spend;
  }

  /** Remembers a decline and its reason. */
  recordDecline(federationId: string, round: number, reason: string, at: number): void {
    const a = this.account(federationId);
    this.data.federations[federationId] = { ...a, declines: [...a.declines, { round, at, reason }] };
    this.save();
  }

  private onOrders(a: FederationAccount, plan: DpSgdPlan): number[] {
    this.checkOrders(a);
    return plan.roundRdp;
  }

  private checkOrders(a: FederationAccount): void {
    if (a.orders.length !== DEFAULT_ORDERS.length || a.orders.some((o, i) => o !== DEFAULT_ORDERS[i])) {
      throw new TesseraError('BAD_REQUEST', `budget file ${this.path}: its RDP orders differ from this version's; keep the file and use the version that wrote it`, { field: 'budget' });
    }
  }

  private save(): void {
    if (this.path === null) return;
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.data, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
