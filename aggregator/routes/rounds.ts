/** @module Rounds: start, list, inspect; the member's view of the current round; models; uploads. */
import { and, asc, desc, eq, inArray } from 'drizzle-orm';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { decodeWeights } from '../../core/codec.ts';
import { TesseraError } from '../../core/errors.ts';
import { parseEvaluationReport } from '../../core/evaluation.ts';
import { parseFetchReport } from '../../core/fetch-report.ts';
import { contentHash, isContentHash } from '../../core/hash.ts';
import { modelLayout } from '../../core/model.ts';
import type { MemberPrivacySpend, PrivacySpend } from '../../core/privacy/spend.ts';
import { PRIVACY_HEADER, parseMemberPrivacySpend, parsePrivacyHeader, parsePrivacySpend } from '../../core/privacy/spend.ts';
import { EXAMPLES_HEADER, MODEL_HASH_HEADER } from '../../core/request-signing.ts';
import type { Stage } from '../../core/rounds.ts';
import { pastDeadline } from '../../core/rounds.ts';
import { allFinite, assertLayout } from '../../core/tensors.ts';
import { auditEvents, contributions, modelReplicas, modelVersions, roundMembers, rounds } from '../../schema/index.ts';
import { appendAudit } from '../audit.ts';
import { actorOf, assertMemberSelf, requireRole } from '../auth.ts';
import type { AppEnv } from '../context.ts';
import type { Db } from '../db/database.ts';
import { memberReceipts, receiptFor } from '../ledger/receipts.ts';
import { artifactRef } from '../replication/artifacts.ts';
import { fetchUntrustedUrl } from '../replication/fetch-url.ts';
import { getFederation } from './federations.ts';
import { memberRoundView } from './member-round.ts';
import { secaggRoutes } from './secagg.ts';
import { anyAtStatus } from '../rounds/orchestrator.ts';
import { intParam, jsonBody, stringField } from './json.ts';

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

// A committed version never changes: the last few read are kept (every member of a round fetches
// the same one; the cache grows with the model's size, not with the number of members).
const recentModels = new WeakMap<Db, { key: string; row: typeof modelVersions.$inferSelect }[]>();
async function modelVersion(db: Db, federationId: string, version: number): Promise<typeof modelVersions.$inferSelect | undefined> {
  const recent = recentModels.get(db) ?? [];
  recentModels.set(db, recent);
  const key = `${federationId}/${version}`;
  const hit = recent.find((x) => x.key === key);
  if (hit) return hit.row;
  const [row] = await db.select().from(modelVersions).where(and(eq(modelVersions.federationId, federationId), eq(modelVersions.version, version)));
  if (row) {
    recent.unshift({ key, row });
    recent.splice(4);
  }
  return row;
}

function staleStage(round: typeof rounds.$inferSelect, want: Stage): TesseraError {
  const where = round.status === 'open' ? `is in stage ${round.stage}` : `is ${round.status}`;
  return new TesseraError('STALE_STAGE', `round ${round.number} ${where}; it no longer accepts ${want} messages`, { details: { round: round.number, status: round.status, stage: round.stage } });
}

type FitSlot = { f: Awaited<ReturnType<typeof getFederation>>; memberId: string; round: typeof rounds.$inferSelect; slot: typeof roundMembers.$inferSelect };

/** The member's fit slot named by the path (refused before any body is read or fetched). */
async function fitSlot(c: Context<AppEnv>): Promise<FitSlot> {
  const f = await getFederation(c, c.req.param('fid')!);
  const memberId = c.req.param('mid')!;
  assertMemberSelf(c.var.principal!, f.id, memberId);
  const round = await getRound(c, f.id, intParam(c, 'round'));
  const slot = await memberSlot(c, round.id, memberId, round.number);
  return { f, memberId, round, slot };
}

/** Validates and stores a fit update, however its bytes arrived (request body or member URL). */
async function acceptFitUpdate(c: Context<AppEnv>, { f, memberId, round, slot }: FitSlot, body: Uint8Array, rawWeight: string, privacy: PrivacySpend | null = null): Promise<Response> {
  if (body.length > f.config.maxUpdateBytes) throw new TesseraError('TOO_LARGE', `body: ${body.length} bytes exceeds this federation's maxUpdateBytes (${f.config.maxUpdateBytes})`, { field: 'body' });
  const hash = contentHash(body);
  // The answer carries the signed receipt of the ledger entry that recorded the contribution.
  const answer = async (weight: number) => {
    const [receipt] = await memberReceipts(c.var.db, c.var.ledgerKey, f.id, memberId, round.number);
    return c.json({ accepted: { round: round.number, memberId, stage: 'fit', hash, size: body.length, weight }, receipt: receipt ?? null });
  };
  const [existing] = await c.var.db.select({ hash: contributions.hash, weight: contributions.weight }).from(contributions).where(and(eq(contributions.roundId, round.id), eq(contributions.memberId, memberId), eq(contributions.stage, 'fit')));
  if (existing) {
    if (existing.hash === hash) return answer(existing.weight);
    throw new TesseraError('CONFLICT', `member ${memberId} already submitted a different update for round ${round.number}`, { details: { acceptedHash: existing.hash } });
  }
  if (round.status !== 'open' || round.stage !== 'fit') throw staleStage(round, 'fit');
  if (slot.status !== 'selected') throw new TesseraError('STALE_STAGE', `member ${memberId} is ${slot.status} in round ${round.number}`);
  const weight = Number(rawWeight);
  if (!/^\d{1,9}$/.test(rawWeight) || weight < 1) throw new TesseraError('BAD_REQUEST', `${EXAMPLES_HEADER}: expected the number of training examples, a positive integer`, { field: EXAMPLES_HEADER });
  const tensors = decodeWeights(body);
  assertLayout(tensors, modelLayout(f.config.model));
  if (!tensors.every((t) => allFinite(t.data))) throw new TesseraError('BAD_TENSORS', 'update contains NaN or infinite values', { field: 'body' });
  const t = c.var.now();
  const stored = await c.var.db.transaction(async (tx) => {
    const ins = await tx.insert(contributions).values({ roundId: round.id, memberId, stage: 'fit', hash, size: body.length, weight, body, createdAt: t }).onConflictDoNothing().returning({ hash: contributions.hash });
    if (ins.length === 0) return null;
    const moved = await tx.update(roundMembers).set({ status: 'submitted', updatedAt: t }).where(and(eq(roundMembers.roundId, round.id), eq(roundMembers.memberId, memberId), eq(roundMembers.status, 'selected'))).returning();
    const [still] = await tx.select({ stage: rounds.stage }).from(rounds).where(eq(rounds.id, round.id));
    // The round may have closed between our checks and this transaction: then nothing is stored.
    if (moved.length === 0 || still?.stage !== 'fit') throw staleStage({ ...round, stage: still?.stage ?? null }, 'fit');
    const last = !(await anyAtStatus(tx, round.id, 'selected'));
    // The ledger last: its lock is held only from here to the commit.
    const entry = await appendAudit(tx, { kind: 'contribution.accepted', actor: `member:${memberId}`, federationId: f.id, time: t, payload: { round: round.number, memberId, stage: 'fit', hash, size: body.length, weight, ...(privacy ? { privacy } : {}) } });
    return { entry, last };
  });
  if (!stored) {
    const [again] = await c.var.db.select({ hash: contributions.hash, weight: contributions.weight }).from(contributions).where(and(eq(contributions.roundId, round.id), eq(contributions.memberId, memberId), eq(contributions.stage, 'fit')));
    if (again?.hash === hash) return answer(again.weight);
    throw new TesseraError('CONFLICT', `member ${memberId} already submitted a different update for round ${round.number}`);
  }
  // A submission can only let the round close when it was the last awaited one, or past the
  // deadline (the timer's tick closes it then too): only then is the round advanced.
  if (stored.last || pastDeadline(round, t)) await c.var.orchestrator.advance(f.id);
  // The receipt of the entry just appended (searching the ledger for it costs O(entries) per update).
  return c.json({ accepted: { round: round.number, memberId, stage: 'fit', hash, size: body.length, weight }, receipt: receiptFor(stored.entry, c.var.ledgerKey) });
}

/** Refusals of a fit update the ledger records (as secure rounds record theirs): what was sent, and why it was not counted. */
const RECORDED_REFUSALS = new Set(['CONFLICT', 'STALE_STAGE', 'BAD_TENSORS', 'BAD_ENCODING', 'BAD_REQUEST', 'TOO_LARGE']);

async function recordingRefusal(c: Context<AppEnv>, { f, memberId, round }: FitSlot, body: Uint8Array, accept: () => Promise<Response>): Promise<Response> {
  try {
    return await accept();
  } catch (e) {
    if (e instanceof TesseraError && RECORDED_REFUSALS.has(e.code)) {
      const t = c.var.now();
      const payload = { round: round.number, memberId, stage: 'fit', by: 'aggregator', code: e.code, reason: e.message, hash: contentHash(body), size: body.length };
      await c.var.db.transaction((tx) => appendAudit(tx, { kind: 'contribution.refused', actor: 'aggregator', federationId: f.id, time: t, payload }));
    }
    throw e;
  }
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
    // Privacy each member reported spending with its update (from the ledger entries that accepted them).
    const entries = await c.var.db.select({ payload: auditEvents.payload }).from(auditEvents).where(and(eq(auditEvents.federationId, f.id), inArray(auditEvents.kind, ['contribution.accepted', 'evaluation.accepted'])));
    // Record-level (mechanism dp-sgd) and member-level (discrete-gaussian, skellam) spend alike.
    const privacy = entries
      .map((e) => e.payload as { round: number; memberId: string; privacy?: PrivacySpend; memberPrivacy?: MemberPrivacySpend })
      .filter((p) => p.round === round.number)
      .flatMap((p) => [p.privacy, p.memberPrivacy].filter((x) => x !== undefined).map((x) => ({ memberId: p.memberId, ...x })));
    return c.json({ round, participants, contributions: accepted, privacy });
  })
  .get('/:fid/models/:version', requireRole('operator', 'auditor', 'member'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    assertMemberSelf(c.var.principal!, f.id);
    const raw = c.req.param('version');
    const m = raw === 'latest' ? (await c.var.db.select().from(modelVersions).where(eq(modelVersions.federationId, f.id)).orderBy(desc(modelVersions.version)).limit(1))[0] : await modelVersion(c.var.db, f.id, intParam(c, 'version'));
    if (!m) throw new TesseraError('NOT_FOUND', `no model version ${raw} in federation ${f.id}`, { field: 'version' });
    return c.body(m.body as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'application/octet-stream', [MODEL_HASH_HEADER]: m.hash, 'x-tessera-model-version': String(m.version) });
  })
  // The member's view, with ETag and long polling (member-round.ts).
  .get('/:fid/members/:mid/round', requireRole('member'), memberRoundView)
  .put('/:fid/members/:mid/rounds/:round/update', requireRole('member'), async (c) => {
    const at = await fitSlot(c);
    const body = new Uint8Array(await c.req.arrayBuffer());
    return recordingRefusal(c, at, body, () => acceptFitUpdate(c, at, body, c.req.header(EXAMPLES_HEADER) ?? '', parsePrivacyHeader(c.req.header(PRIVACY_HEADER))));
  })
  // The same update, handed in as a time-limited URL of the member's own store (GCS V4 signed
  // URL, Azure SAS): fetched under the SSRF rule, checked against the declared hash and size,
  // then accepted exactly like the body of the route above.
  .put('/:fid/members/:mid/rounds/:round/update-url', requireRole('member'), async (c) => {
    const at = await fitSlot(c);
    const req = await jsonBody(c);
    const url = stringField(req, 'url', /^https?:\/\/.{1,4000}$/s);
    const hash = req.hash;
    if (!isContentHash(hash)) throw new TesseraError('BAD_REQUEST', 'hash: expected the BLAKE2b-256 of the update, 64 lowercase hex characters', { field: 'hash' });
    const size = req.size;
    if (!Number.isInteger(size) || (size as number) < 1) throw new TesseraError('BAD_REQUEST', 'size: expected the update size in bytes, a positive integer', { field: 'size' });
    if ((size as number) > at.f.config.maxUpdateBytes) throw new TesseraError('TOO_LARGE', `size: ${size} bytes exceeds this federation's maxUpdateBytes (${at.f.config.maxUpdateBytes})`, { field: 'size' });
    const examples = req.examples;
    if (!Number.isInteger(examples) || (examples as number) < 1) throw new TesseraError('BAD_REQUEST', 'examples: expected the number of training examples, a positive integer', { field: 'examples' });
    const body = await fetchUntrustedUrl(url, size as number, c.var.replication.urlFetch);
    const got = contentHash(body);
    if (body.length !== size || got !== hash) {
      throw new TesseraError('HASH_MISMATCH', `url: the object is ${body.length} bytes hashing to ${got}; the request declared ${size} bytes hashing to ${hash}; nothing was accepted`, { field: 'url', details: { expectedHash: hash, actualHash: got, expectedSize: size, actualSize: body.length } });
    }
    return recordingRefusal(c, at, body, () => acceptFitUpdate(c, at, body, String(examples), req.privacy === undefined ? null : parsePrivacySpend(req.privacy)));
  })
  // What the member saw fetching a model (stale, torn, altered replicas; where it fell back to): into the ledger.
  .put('/:fid/members/:mid/rounds/:round/fetch-report', requireRole('member'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    const memberId = c.req.param('mid');
    assertMemberSelf(c.var.principal!, f.id, memberId);
    const round = await getRound(c, f.id, intParam(c, 'round'));
    const report = parseFetchReport(await jsonBody(c));
    const t = c.var.now();
    const entry = await c.var.db.transaction((tx) =>
      appendAudit(tx, { kind: 'model.fetch-report', actor: `member:${memberId}`, federationId: f.id, time: t, payload: { round: round.number, memberId, ...report } }),
    );
    return c.json({ recorded: { seq: entry.seq, hash: entry.hash } }, 201);
  })
  .get('/:fid/models/:version/replicas', requireRole('operator', 'auditor'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    const version = intParam(c, 'version');
    const artifact = await artifactRef(c.var.db, f.id, f.config, version);
    const replicas = await c.var.db
      .select({ store: modelReplicas.store, status: modelReplicas.status, attempts: modelReplicas.attempts, lastError: modelReplicas.lastError, publishedAt: modelReplicas.publishedAt })
      .from(modelReplicas)
      .where(and(eq(modelReplicas.federationId, f.id), eq(modelReplicas.version, version)))
      .orderBy(asc(modelReplicas.id));
    return c.json({ version, artifact: artifact ?? null, replicas });
  })
  // A member whose own policy says no to this round: recorded with its reason; the round goes on
  // without it (the orchestrator waits only for members still 'selected').
  .put('/:fid/members/:mid/rounds/:round/decline', requireRole('member'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    const memberId = c.req.param('mid');
    assertMemberSelf(c.var.principal!, f.id, memberId);
    const round = await getRound(c, f.id, intParam(c, 'round'));
    const slot = await memberSlot(c, round.id, memberId, round.number);
    const reason = (await jsonBody(c)).reason;
    if (typeof reason !== 'string' || reason.trim() === '' || reason.length > 2000) throw new TesseraError('BAD_REQUEST', 'reason: expected why the member declines, 1-2000 characters', { field: 'reason' });
    if (slot.status === 'declined') return c.json({ declined: { round: round.number, memberId, reason: slot.reason } });
    if (round.status !== 'open') throw staleStage(round, 'fit');
    if (slot.status !== 'selected') throw new TesseraError('STALE_STAGE', `member ${memberId} is ${slot.status} in round ${round.number}; only a member that has not contributed yet can decline`);
    const t = c.var.now();
    await c.var.db.transaction(async (tx) => {
      const moved = await tx.update(roundMembers).set({ status: 'declined', reason, updatedAt: t }).where(and(eq(roundMembers.roundId, round.id), eq(roundMembers.memberId, memberId), eq(roundMembers.status, 'selected'))).returning();
      if (moved.length === 0) throw new TesseraError('STALE_STAGE', `member ${memberId} is no longer selected in round ${round.number}`);
      await appendAudit(tx, { kind: 'member.declined', actor: `member:${memberId}`, federationId: f.id, time: t, payload: { round: round.number, memberId, stage: round.stage, reason } });
    });
    await c.var.orchestrator.advance(f.id);
    return c.json({ declined: { round: round.number, memberId, reason } });
  })
  .put('/:fid/members/:mid/rounds/:round/evaluation', requireRole('member'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    const memberId = c.req.param('mid');
    assertMemberSelf(c.var.principal!, f.id, memberId);
    const round = await getRound(c, f.id, intParam(c, 'round'));
    const slot = await memberSlot(c, round.id, memberId, round.number);
    const req = await jsonBody(c);
    const report = parseEvaluationReport(req);
    // Secure rounds carry no plaintext update, so the member's privacy spend comes with its evaluation.
    const privacy = req.privacy === undefined ? null : parsePrivacySpend(req.privacy);
    const memberPrivacy = req.memberPrivacy === undefined ? null : parseMemberPrivacySpend(req.memberPrivacy);
    if (slot.status === 'evaluated') {
      const prev = slot.evaluation as typeof report;
      if (prev.examples === report.examples && prev.correct === report.correct && prev.lossSum === report.lossSum && (prev.auc ?? null) === (report.auc ?? null)) return c.json({ accepted: { round: round.number, memberId, evaluation: report } });
      throw new TesseraError('CONFLICT', `member ${memberId} already reported a different evaluation for round ${round.number}`);
    }
    if (round.status !== 'open' || round.stage !== 'evaluate') throw staleStage(round, 'evaluate');
    if (slot.status !== 'submitted') throw new TesseraError('STALE_STAGE', `member ${memberId} is ${slot.status} in round ${round.number}; only members that trained evaluate`);
    const t = c.var.now();
    const last = await c.var.db.transaction(async (tx) => {
      const moved = await tx.update(roundMembers).set({ status: 'evaluated', evaluation: report, updatedAt: t }).where(and(eq(roundMembers.roundId, round.id), eq(roundMembers.memberId, memberId), eq(roundMembers.status, 'submitted'))).returning();
      if (moved.length === 0) throw staleStage(round, 'evaluate');
      const last = !(await anyAtStatus(tx, round.id, 'submitted'));
      // The ledger last: its lock is held only from here to the commit.
      await appendAudit(tx, { kind: 'evaluation.accepted', actor: `member:${memberId}`, federationId: f.id, time: t, payload: { round: round.number, memberId, ...report, ...(privacy ? { privacy } : {}), ...(memberPrivacy ? { memberPrivacy } : {}) } });
      return last;
    });
    // The round closes with the last report (or at the deadline, on the timer's tick): only then is it advanced.
    if (last || pastDeadline(round, t)) await c.var.orchestrator.advance(f.id);
    return c.json({ accepted: { round: round.number, memberId, evaluation: report } });
  })
  // Secure rounds: PUT .../rounds/:round/secagg/:stage and .../secagg/:stage/refusal.
  .route('/', secaggRoutes);

