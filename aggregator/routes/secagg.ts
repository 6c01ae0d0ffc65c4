/**
 * @module Member routes of secure rounds: one signed PUT per protocol stage, and the member's
 * report that its client refused a request. The protocol is checked by SecAggServer and persisted
 * by rounds/secure.ts; this file only reads the path and the body.
 */
import { and, eq } from 'drizzle-orm';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { TesseraError } from '../../core/errors.ts';
import type { SecAggStage } from '../../core/secagg-wire.ts';
import { SECAGG_STAGES } from '../../core/secagg-wire.ts';
import { roundMembers, rounds } from '../../schema/index.ts';
import { appendAudit } from '../audit.ts';
import { assertMemberSelf, requireRole } from '../auth.ts';
import type { AppEnv } from '../context.ts';
import { memberReceipts } from '../ledger/receipts.ts';
import { getFederation } from './federations.ts';
import { intParam, jsonBody, stringField } from './json.ts';

async function secureSlot(c: Context<AppEnv>) {
  const f = await getFederation(c, c.req.param('fid')!);
  const memberId = c.req.param('mid')!;
  assertMemberSelf(c.var.principal!, f.id, memberId);
  const stage = c.req.param('stage') as SecAggStage;
  if (!SECAGG_STAGES.includes(stage)) throw new TesseraError('NOT_FOUND', `stage: expected one of ${SECAGG_STAGES.join(', ')}`, { field: 'stage' });
  const number = intParam(c, 'round');
  const [round] = await c.var.db.select().from(rounds).where(and(eq(rounds.federationId, f.id), eq(rounds.number, number)));
  if (!round) throw new TesseraError('NOT_FOUND', `no round ${number} in federation ${f.id}`, { field: 'round' });
  const [slot] = await c.var.db.select({ status: roundMembers.status }).from(roundMembers).where(and(eq(roundMembers.roundId, round.id), eq(roundMembers.memberId, memberId)));
  if (!slot) throw new TesseraError('FORBIDDEN', `member ${memberId} was not selected for round ${number}`);
  return { f, memberId, stage, round };
}

export const secaggRoutes = new Hono<AppEnv>()
  // The stage's signed message: JSON, or for masked_input a frame with the raw vector (core/secagg-body.ts).
  .put('/:fid/members/:mid/rounds/:round/secagg/:stage', requireRole('member'), async (c) => {
    const { f, memberId, stage, round } = await secureSlot(c);
    const body = new Uint8Array(await c.req.arrayBuffer());
    if (body.length > f.config.maxUpdateBytes) {
      const e = new TesseraError('TOO_LARGE', `body: ${body.length} bytes exceeds this federation's maxUpdateBytes (${f.config.maxUpdateBytes})`, { field: 'body' });
      // Recorded like every other refused secure-aggregation message (rounds/secure.ts).
      const t = c.var.now();
      await c.var.db.transaction((tx) => appendAudit(tx, { kind: 'contribution.refused', actor: 'aggregator', federationId: f.id, time: t, payload: { round: round.number, memberId, stage, by: 'aggregator', code: e.code, reason: e.message } }));
      throw e;
    }
    const accepted = await c.var.orchestrator.secure.accept(round, f.config, memberId, stage, body);
    if (!accepted.duplicate) await c.var.orchestrator.advance(f.id);
    const receipts = stage === 'masked_input' ? await memberReceipts(c.var.db, c.var.ledgerKey, f.id, memberId, round.number) : [];
    const receipt = receipts.find((r) => r.stage === stage) ?? null;
    return c.json({ accepted, receipt });
  })
  // The member's client refused the aggregator's request (e.g. both shares of one member asked for).
  .put('/:fid/members/:mid/rounds/:round/secagg/:stage/refusal', requireRole('member'), async (c) => {
    const { f, memberId, stage, round } = await secureSlot(c);
    const reason = stringField(await jsonBody(c), 'reason', /^.{1,2000}$/s);
    await c.var.orchestrator.secure.refusal(round, memberId, stage, reason);
    await c.var.orchestrator.advance(f.id);
    return c.json({ recorded: { round: round.number, memberId, stage, reason } }, 201);
  });
