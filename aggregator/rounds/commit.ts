/**
 * @module Aggregating a round's updates and committing the next model version.
 * The weighted mean delta is accumulated one stored update at a time (memory grows with the
 * model, not with members x model); the strategy turns it into the next weights.
 */
import { and, eq } from 'drizzle-orm';
import { decodeWeights, encodeWeights } from '../../core/codec.ts';
import type { FederationConfig } from '../../core/federation.ts';
import { contentHash } from '../../core/hash.ts';
import { modelLayout } from '../../core/model.ts';
import { flatten, unflatten } from '../../core/tensors.ts';
import { contributions, modelVersions } from '../../schema/index.ts';
import { appendAudit, currentLedgerKey } from '../audit.ts';
import type { Db } from '../db/database.ts';
import { sealModelVersion } from '../replication/artifacts.ts';
import { WeightedSum, applyStrategy, strategyStateFromJSON, strategyStateToJSON } from '../strategies/index.ts';
import { contributionIds, type RoundRow } from './orchestrator.ts';

/** The weighted mean of a round's stored fit updates, read one at a time. */
export async function meanDelta(db: Db, roundId: number, params: number): Promise<{ mean: Float32Array; totalWeight: number; count: number }> {
  const ids = await contributionIds(db, roundId, 'fit');
  const sum = new WeightedSum(params);
  for (const { id, weight } of ids) {
    const [row] = await db.select({ body: contributions.body }).from(contributions).where(eq(contributions.id, id));
    sum.add(flatten(decodeWeights(row.body)), weight);
  }
  return { mean: sum.mean(), totalWeight: sum.totalWeight, count: ids.length };
}

/** The round's base model (version `round.baseVersion`). */
export async function baseModel(db: Db, round: RoundRow): Promise<typeof modelVersions.$inferSelect> {
  const [base] = await db.select().from(modelVersions).where(and(eq(modelVersions.federationId, round.federationId), eq(modelVersions.version, round.baseVersion)));
  return base;
}

/**
 * The one place a model version is committed, plaintext or secure: the strategy turns the mean
 * delta into model v+1, stored (and sealed for the stores) in the caller's transaction, with its
 * audit entry. `summary` adds to that entry (update count, total weight, secure-aggregation figures).
 */
export async function commitModel(tx: Db, round: RoundRow, config: FederationConfig, base: typeof modelVersions.$inferSelect, mean: Float32Array, t: number, summary: Record<string, unknown>): Promise<void> {
  const layout = modelLayout(config.model);
  const global = flatten(decodeWeights(base.body));
  const { weights, state } = applyStrategy(config.strategy, global, mean, base.strategyState === null ? null : strategyStateFromJSON(base.strategyState));
  const body = encodeWeights(unflatten(weights, layout));
  const hash = contentHash(body);
  await tx.insert(modelVersions).values({
    federationId: round.federationId,
    version: round.baseVersion + 1,
    hash,
    parentHash: base.hash,
    round: round.number,
    body,
    strategyState: strategyStateToJSON(state),
    createdAt: t,
  });
  // Sealed and queued for the stores in this transaction; published after it (replication/).
  await sealModelVersion(tx, round.federationId, config, round.baseVersion + 1, body, currentLedgerKey()!, t);
  await appendAudit(tx, {
    kind: 'model.committed',
    actor: 'aggregator',
    federationId: round.federationId,
    time: t,
    payload: { round: round.number, version: round.baseVersion + 1, hash, parentHash: base.hash, strategy: config.strategy, ...summary },
  });
}

/**
 * Computes model v+1 from the round's plaintext updates and, in one transaction, runs `transition`
 * (the round's compare-and-set) and commits the model. Returns false if another process won.
 */
export async function commitAggregate(db: Db, round: RoundRow, config: FederationConfig, t: number, transition: (tx: Db) => Promise<boolean>): Promise<boolean> {
  const base = await baseModel(db, round);
  const params = flatten(decodeWeights(base.body)).length;
  const { mean, totalWeight, count } = await meanDelta(db, round.id, params);
  return db.transaction(async (tx) => {
    if (!(await transition(tx as unknown as Db))) return false;
    await commitModel(tx as unknown as Db, round, config, base, mean, t, { updates: count, totalWeight });
    return true;
  });
}
