/**
 * @module The invariants checked after every scenario, from the database, the audit ledger and
 * what the harness knows independently (each virtual member's true delta and example count, the
 * hashes of the weights each member was handed, the acknowledgements members received):
 *   model-matches-reference    each committed model = base + FedAvg of the true deltas of the
 *                              members the ledger lists as contributors (plaintext: to float32
 *                              rounding; secure: within the round's recorded quantization bound)
 *   counted-once-none-lost     one accepted entry per (round, member, stage); every acknowledged
 *                              update is in the ledger and stored; the commit counts exactly those
 *   faults-in-ledger           the chain verifies, and the scenario's faults left their evidence
 *   commit-or-recorded-failure every round committed (model + completion entries) or failed with
 *                              its reason recorded in the ledger
 *   trained-on-announced       no member trained on (or evaluated) weights other than announced
 *   expected-outcome           the rounds ended as the scenario says they must
 */
import { asc, eq } from 'drizzle-orm';
import { decodeWeights } from '../core/codec.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import { secureOf } from '../core/federation.ts';
import { flatten } from '../core/tensors.ts';
import type { LedgerEntry } from '../aggregator/ledger/entry.ts';
import { readSnapshot } from '../aggregator/ledger/store.ts';
import { verifyLedger } from '../aggregator/ledger/verify.ts';
import { contributions, modelVersions, rounds } from '../schema/index.ts';
import type { SimulationRun } from './federation.ts';
import { trueDelta, trueExamples } from './virtual-member.ts';

export const INVARIANTS = ['model-matches-reference', 'counted-once-none-lost', 'faults-in-ledger', 'commit-or-recorded-failure', 'trained-on-announced', 'expected-outcome'] as const;
export type InvariantName = (typeof INVARIANTS)[number];

/** What the ledger and database hold about one federation, for evidence checks. */
export interface LedgerView {
  entries: LedgerEntry[];
  /** Entries of a kind (optionally for one round). */
  of(kind: string, round?: number): (LedgerEntry & { p: Record<string, JsonValue> })[];
  run: SimulationRun;
}

export interface InvariantReport {
  results: Record<InvariantName, boolean>;
  /** Why each failed invariant failed. */
  problems: string[];
}

const PLAIN_TOLERANCE = 1e-5;

/** Checks every invariant; `evidence` returns what the scenario's faults should have left in the ledger but did not (null: all there). */
export async function checkInvariants(run: SimulationRun, opts: { expected: ('committed' | 'failed')[]; evidence?: (v: LedgerView) => string | null | Promise<string | null> }): Promise<InvariantReport> {
  const { db, federationId, ids } = run.ctx;
  const problems: Record<InvariantName, string[]> = Object.fromEntries(INVARIANTS.map((k) => [k, []])) as unknown as Record<InvariantName, string[]>;
  const snapshot = await readSnapshot(db);
  const verified = verifyLedger(snapshot.entries, run.ledgerPublicKey, { head: snapshot.head });
  const mine = snapshot.entries.filter((e) => e.federationId === federationId);
  const view: LedgerView = {
    entries: mine,
    run,
    of: (kind, round) => mine.filter((e) => e.kind === kind).map((e) => ({ ...e, p: e.payload as Record<string, JsonValue> })).filter((e) => round === undefined || e.p.round === round),
  };
  const indexOf = new Map(ids.map((id, i) => [id, i]));
  const secure = secureOf(run.config);
  const updateStage = secure.enabled ? 'masked_input' : 'fit';
  const versions = await db.select().from(modelVersions).where(eq(modelVersions.federationId, federationId)).orderBy(asc(modelVersions.version));
  const hashOf = new Map(versions.map((v) => [v.version, v.hash]));
  const roundRows = await db.select().from(rounds).where(eq(rounds.federationId, federationId)).orderBy(asc(rounds.number));

  // 2. Counted once, none lost.
  const accepted = view.of('contribution.accepted');
  const slots = new Map<string, string>();
  for (const e of accepted) {
    const slot = `${e.p.round}/${e.p.memberId}/${e.p.stage}`;
    if (slots.has(slot)) problems['counted-once-none-lost'].push(`two accepted entries for ${slot}`);
    slots.set(slot, String(e.p.hash));
  }
  for (const a of run.ctx.acks) {
    const h = slots.get(`${a.round}/${ids[a.member]}/${a.stage}`);
    if (h !== a.hash) problems['counted-once-none-lost'].push(`member ${a.member} was told its ${a.stage} update of round ${a.round} was accepted (${a.hash.slice(0, 12)}…); the ledger has ${h ? h.slice(0, 12) + '…' : 'none'}`);
  }
  const stored = await db.select({ roundId: contributions.roundId, memberId: contributions.memberId, stage: contributions.stage, hash: contributions.hash }).from(contributions);
  const roundIdOf = new Map(roundRows.map((r) => [r.number, r.id]));
  for (const e of accepted.filter((x) => x.p.stage === updateStage)) {
    const row = stored.find((s) => s.roundId === roundIdOf.get(Number(e.p.round)) && s.memberId === e.p.memberId && s.stage === e.p.stage);
    if (row?.hash !== e.p.hash) problems['counted-once-none-lost'].push(`accepted ${e.p.stage} update of ${e.p.memberId} in round ${e.p.round} is not stored as accepted`);
  }

  // 1, 4, 5 per round.
  for (const out of run.rounds) {
    const row = roundRows.find((r) => r.number === out.round);
    if (!row) {
      problems['commit-or-recorded-failure'].push(`round ${out.round} is missing from the database`);
      continue;
    }
    if (row.status === 'failed') {
      const failed = view.of('round.failed', row.number);
      if (!row.failureReason || failed.length !== 1 || failed[0].p.reason !== row.failureReason) problems['commit-or-recorded-failure'].push(`round ${row.number} failed without its reason in the ledger`);
      if (view.of('model.committed', row.number).length) problems['commit-or-recorded-failure'].push(`round ${row.number} failed but committed a model`);
      continue;
    }
    if (row.status !== 'committed') {
      problems['commit-or-recorded-failure'].push(`round ${row.number} is still ${row.status}`);
      continue;
    }
    const commits = view.of('model.committed', row.number);
    if (commits.length !== 1 || view.of('round.completed', row.number).length !== 1 || row.committedVersion === null) {
      problems['commit-or-recorded-failure'].push(`round ${row.number}: ${commits.length} model.committed and ${view.of('round.completed', row.number).length} round.completed entries`);
      continue;
    }
    // The reference: base + weighted mean of the true deltas of the contributors the ledger lists.
    const contributors = accepted.filter((e) => e.p.round === row.number && e.p.stage === updateStage).map((e) => indexOf.get(String(e.p.memberId))!);
    const base = flatten(decodeWeights(versions.find((v) => v.version === row.baseVersion)!.body));
    const got = flatten(decodeWeights(versions.find((v) => v.version === row.committedVersion)!.body));
    const want = Float64Array.from(base);
    let total = 0;
    const weightOf = (i: number) => (secure.enabled ? Math.min(trueExamples(run.ctx.size.seed, i), secure.maxWeight) : trueExamples(run.ctx.size.seed, i));
    for (const i of contributors) total += weightOf(i);
    for (const i of contributors) {
      const d = trueDelta(run.ctx.size.seed, i, row.number, base.length);
      const w = weightOf(i) / total;
      for (let j = 0; j < want.length; j++) want[j] += w * (secure.enabled ? Math.max(-secure.clip, Math.min(secure.clip, d[j])) : d[j]);
    }
    const bound = secure.enabled ? Number((row.metrics as { secure?: { meanErrorBound?: number } } | null)?.secure?.meanErrorBound ?? 0) + PLAIN_TOLERANCE : PLAIN_TOLERANCE;
    let worst = 0;
    for (let j = 0; j < want.length; j++) worst = Math.max(worst, Math.abs(got[j] - want[j]));
    if (!(worst <= bound)) problems['model-matches-reference'].push(`round ${row.number}: committed model is ${worst.toExponential(2)} from the reference FedAvg of ${contributors.length} contributors (bound ${bound.toExponential(2)})`);
    const c = commits[0].p;
    if (Number(c.updates) !== contributors.length || Math.abs(Number(c.totalWeight) - total) > 1e-9) {
      problems['counted-once-none-lost'].push(`round ${row.number}: the commit counts ${c.updates} updates of weight ${c.totalWeight}; the ledger accepted ${contributors.length} of weight ${total}`);
    }
    for (const e of accepted.filter((x) => x.p.round === row.number && x.p.stage === 'fit')) {
      if (Number(e.p.weight) !== trueExamples(run.ctx.size.seed, indexOf.get(String(e.p.memberId))!)) problems['counted-once-none-lost'].push(`round ${row.number}: member ${e.p.memberId} accepted with weight ${e.p.weight}`);
    }
  }

  for (const o of run.observations) {
    const row = roundRows.find((r) => r.number === o.round);
    const want = row && (o.use === 'train' ? hashOf.get(row.baseVersion) : row.committedVersion !== null ? hashOf.get(row.committedVersion) : undefined);
    if (o.hash !== want) problems['trained-on-announced'].push(`member ${o.member} was handed weights ${o.hash.slice(0, 12)}… to ${o.use} in round ${o.round}; announced ${want?.slice(0, 12) ?? 'nothing'}`);
  }

  if (!verified.ok) problems['faults-in-ledger'].push(`ledger chain: ${verified.problem?.kind} at seq ${verified.problem?.seq}: ${verified.problem?.message}`);
  const missing = (await opts.evidence?.(view)) ?? null;
  if (missing) problems['faults-in-ledger'].push(missing);

  const outcomes = run.rounds.map((r) => r.status);
  if (outcomes.join(',') !== opts.expected.join(',')) problems['expected-outcome'].push(`rounds ended ${outcomes.join(', ')}; expected ${opts.expected.join(', ')}`);

  const results = Object.fromEntries(INVARIANTS.map((k) => [k, problems[k].length === 0])) as Record<InvariantName, boolean>;
  return { results, problems: INVARIANTS.flatMap((k) => problems[k].map((p) => `${k}: ${p}`)) };
}
