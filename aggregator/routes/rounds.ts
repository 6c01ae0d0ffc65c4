/** @module Rounds: start, list, inspect; the member's view of the current round; models; uploads. */
import { and, asc, desc, eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { decodeWeights } from '../../core/codec.ts';
import { TesseraError } from '../../core/errors.ts';
import { parseEvaluationReport } from '../../core/evaluation.ts';
import { contentHash } from '../../core/hash.ts';
import { modelLayout } from '../../core/model.ts';
import { EXAMPLES_HEADER, MODEL_HASH_HEADER } from '../../core/request-signing.ts';
import type { MemberRoundStatus, RoundAnnouncement, Stage } from '../../core/rounds.ts';
import { allFinite, assertLayout } from '../../core/tensors.ts';
import { contributions, modelVersions, roundMembers, rounds } from '../../schema/index.ts';
import { appendAudit } from '../audit.ts';
import { actorOf, assertMemberSelf, requireRole } from '../auth.ts';
import type { AppEnv } from '../context.ts';
import { getFederation } from './federations.ts';
import { intParam, jsonBody } from './json.ts';

type Ctx = { var: AppEnv['Variables'] };

async function getRound(c: Ctx, federationId: string, number: number): Promise<typeof rounds.$inferSelect> {
  const [r] = await c.var.db.select().from(rounds).where(and(eq(rounds.federationId, federationId), eq(rounds.number, number)));
  if (!r) throw new TesseraError('NOT_FOUND', `no round ${number} in federation ${federationId}`, { field: 'round' });
  return r;
}

async function memberSlot(c: Ctx, roundId: number, memberId: string, roundNo: number): Promise<typeof roundMembers.$inferSelect> {
  const [slot] = await c.var.db.select().from(roundMembers).where(and(eq(roundMembers.roundId, roundId), eq(roundMembers.memberId, memberId)));
  if (!slot) throw new TesseraError('FORBIDDEN', `member ${memberId} was not selected for round ${roundNo}`);
  return slot;
}

function staleStage(round: typeof rounds.$inferSelect, want: Stage): TesseraError {
  const where = round.status === 'open' ? `is in stage ${round.stage}` : `is ${round.status}`;
  return new TesseraError('STALE_STAGE', `round ${round.number} ${where}; it no longer accepts ${want} messages`, { details: { round: round.number, status: round.status, stage: round.stage } });
}

export const roundRoutes = new Hono<AppEnv>()
  .post('/:fid/rounds', requireRole('operator'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    const round = await c.var.orchestrator.openRound(f.id, actorOf(c.var.principal!));
    return c.json({ round }, 201);
  })
  .get('/:fid/rounds', requireRole('operator', 'auditor', 'member'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    assertMemberSelf(c.var.principal!, f.id);
    const rows = await c.var.db.select().from(rounds).where(eq(rounds.federationId, f.id)).orderBy(asc(rounds.number));
    return c.json({ rounds: rows });
  })
  .get('/:fid/rounds/:round', requireRole('operator', 'auditor'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    const round = await getRound(c, f.id, intParam(c, 'round'));
    const participants = await c.var.db.select().from(roundMembers).where(eq(roundMembers.roundId, round.id)).orderBy(asc(roundMembers.memberId));
    const accepted = await c.var.db
      .select({ memberId: contributions.memberId, stage: contributions.stage, hash: contributions.hash, size: contributions.size, weight: contributions.weight, createdAt: contributions.createdAt })
      .from(contributions)
      .where(eq(contributions.roundId, round.id))
      .orderBy(asc(contributions.memberId));
    return c.json({ round, participants, contributions: accepted });
  })
  .get('/:fid/models/:version', requireRole('operator', 'auditor', 'member'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    assertMemberSelf(c.var.principal!, f.id);
    const raw = c.req.param('version');
    const where = raw === 'latest' ? eq(modelVersions.federationId, f.id) : and(eq(modelVersions.federationId, f.id), eq(modelVersions.version, intParam(c, 'version')));
    const [m] = await c.var.db.select().from(modelVersions).where(where).orderBy(desc(modelVersions.version)).limit(1);
    if (!m) throw new TesseraError('NOT_FOUND', `no model version ${raw} in federation ${f.id}`, { field: 'version' });
    return c.body(m.body as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'application/octet-stream', [MODEL_HASH_HEADER]: m.hash, 'x-tessera-model-version': String(m.version) });
  })
  .get('/:fid/members/:mid/round', requireRole('member'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    const memberId = c.req.param('mid');
    assertMemberSelf(c.var.principal!, f.id, memberId);
    const [round] = await c.var.db.select().from(rounds).where(eq(rounds.federationId, f.id)).orderBy(desc(rounds.number)).limit(1);
    if (!round) return c.json({ federation: { id: f.id, status: f.status, rounds: f.config.rounds }, round: null });
    const slots = await c.var.db.select().from(roundMembers).where(eq(roundMembers.roundId, round.id));
    const mine = slots.find((s) => s.memberId === memberId);
    const [base] = await c.var.db.select({ hash: modelVersions.hash }).from(modelVersions).where(and(eq(modelVersions.federationId, f.id), eq(modelVersions.version, round.baseVersion)));
    const waitingStatus: MemberRoundStatus = round.stage === 'evaluate' ? 'submitted' : 'selected';
    const inStage = slots.filter((s) => s.status !== 'dropped' && s.status !== 'declined');
    const announcement: RoundAnnouncement = {
      federationId: f.id,
      round: round.number,
      status: round.status as RoundAnnouncement['status'],
      stage: round.stage as Stage | null,
      modelVersion: round.baseVersion,
      modelHash: base.hash,
      deadline: round.stageDeadline,
      memberStatus: (mine?.status as MemberRoundStatus | undefined) ?? null,
      progress: { done: inStage.filter((s) => s.status !== waitingStatus).length, of: inStage.length },
      failureReason: round.failureReason,
    };
    if (round.committedVersion !== null) {
      const [next] = await c.var.db.select({ hash: modelVersions.hash }).from(modelVersions).where(and(eq(modelVersions.federationId, f.id), eq(modelVersions.version, round.committedVersion)));
      if (next) announcement.evaluateModel = { version: round.committedVersion, hash: next.hash };
    }
    return c.json({ federation: { id: f.id, status: f.status, rounds: f.config.rounds }, round: announcement });
  })
  .put('/:fid/members/:mid/rounds/:round/update', requireRole('member'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    const memberId = c.req.param('mid');
    assertMemberSelf(c.var.principal!, f.id, memberId);
    const round = await getRound(c, f.id, intParam(c, 'round'));
    const slot = await memberSlot(c, round.id, memberId, round.number);
    const body = new Uint8Array(await c.req.arrayBuffer());
    if (body.length > f.config.maxUpdateBytes) throw new TesseraError('TOO_LARGE', `body: ${body.length} bytes exceeds this federation's maxUpdateBytes (${f.config.maxUpdateBytes})`, { field: 'body' });
    const hash = contentHash(body);
    const answer = (weight: number) => c.json({ accepted: { round: round.number, memberId, stage: 'fit', hash, size: body.length, weight } });
    const [existing] = await c.var.db.select({ hash: contributions.hash, weight: contributions.weight }).from(contributions).where(and(eq(contributions.roundId, round.id), eq(contributions.memberId, memberId), eq(contributions.stage, 'fit')));
    if (existing) {
      if (existing.hash === hash) return answer(existing.weight);
      throw new TesseraError('CONFLICT', `member ${memberId} already submitted a different update for round ${round.number}`, { details: { acceptedHash: existing.hash } });
    }
    if (round.status !== 'open' || round.stage !== 'fit') throw staleStage(round, 'fit');
    if (slot.status !== 'selected') throw new TesseraError('STALE_STAGE', `member ${memberId} is ${slot.status} in round ${round.number}`);
    const rawWeight = c.req.header(EXAMPLES_HEADER) ?? '';
    const weight = Number(rawWeight);
    if (!/^\d{1,9}$/.test(rawWeight) || weight < 1) throw new TesseraError('BAD_REQUEST', `${EXAMPLES_HEADER}: expected the number of training examples, a positive integer`, { field: EXAMPLES_HEADER });
    const tensors = decodeWeights(body);
    assertLayout(tensors, modelLayout(f.config.model));
    if (!tensors.every((t) => allFinite(t.data))) throw new TesseraError('BAD_TENSORS', 'update contains NaN or infinite values', { field: 'body' });
    const t = c.var.now();
    const stored = await c.var.db.transaction(async (tx) => {
      const ins = await tx.insert(contributions).values({ roundId: round.id, memberId, stage: 'fit', hash, size: body.length, weight, body, createdAt: t }).onConflictDoNothing().returning({ hash: contributions.hash });
      if (ins.length === 0) return false;
      const moved = await tx.update(roundMembers).set({ status: 'submitted', updatedAt: t }).where(and(eq(roundMembers.roundId, round.id), eq(roundMembers.memberId, memberId), eq(roundMembers.status, 'selected'))).returning();
      const [still] = await tx.select({ stage: rounds.stage }).from(rounds).where(eq(rounds.id, round.id));
      // The round may have closed between our checks and this transaction: then nothing is stored.
      if (moved.length === 0 || still?.stage !== 'fit') throw staleStage({ ...round, stage: still?.stage ?? null }, 'fit');
      await appendAudit(tx, { kind: 'contribution.accepted', actor: `member:${memberId}`, federationId: f.id, time: t, payload: { round: round.number, memberId, stage: 'fit', hash, size: body.length, weight } });
      return true;
    });
    if (!stored) {
      const [again] = await c.var.db.select({ hash: contributions.hash, weight: contributions.weight }).from(contributions).where(and(eq(contributions.roundId, round.id), eq(contributions.memberId, memberId), eq(contributions.stage, 'fit')));
      if (again?.hash === hash) return answer(again.weight);
      throw new TesseraError('CONFLICT', `member ${memberId} already submitted a different update for round ${round.number}`);
    }
    await c.var.orchestrator.advance(f.id);
    return answer(weight);
  })
  .put('/:fid/members/:mid/rounds/:round/evaluation', requireRole('member'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    const memberId = c.req.param('mid');
    assertMemberSelf(c.var.principal!, f.id, memberId);
    const round = await getRound(c, f.id, intParam(c, 'round'));
    const slot = await memberSlot(c, round.id, memberId, round.number);
    const report = parseEvaluationReport(await jsonBody(c));
    if (slot.status === 'evaluated') {
      const prev = slot.evaluation as typeof report;
      if (prev.examples === report.examples && prev.correct === report.correct && prev.lossSum === report.lossSum && (prev.auc ?? null) === (report.auc ?? null)) return c.json({ accepted: { round: round.number, memberId, evaluation: report } });
      throw new TesseraError('CONFLICT', `member ${memberId} already reported a different evaluation for round ${round.number}`);
    }
    if (round.status !== 'open' || round.stage !== 'evaluate') throw staleStage(round, 'evaluate');
    if (slot.status !== 'submitted') throw new TesseraError('STALE_STAGE', `member ${memberId} is ${slot.status} in round ${round.number}; only members that trained evaluate`);
    const t = c.var.now();
    await c.var.db.transaction(async (tx) => {
      const moved = await tx.update(roundMembers).set({ status: 'evaluated', evaluation: report, updatedAt: t }).where(and(eq(roundMembers.roundId, round.id), eq(roundMembers.memberId, memberId), eq(roundMembers.status, 'submitted'))).returning();
      if (moved.length === 0) throw staleStage(round, 'evaluate');
      await appendAudit(tx, { kind: 'evaluation.accepted', actor: `member:${memberId}`, federationId: f.id, time: t, payload: { round: round.number, memberId, ...report } });
    });
    await c.var.orchestrator.advance(f.id);
    return c.json({ accepted: { round: round.number, memberId, evaluation: report } });
  });

