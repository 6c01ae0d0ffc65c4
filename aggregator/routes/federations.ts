/** @module Federations, invitations, enrollment and members. */
import { randomUUID } from 'node:crypto';
import { and, asc, desc, eq, isNull } from 'drizzle-orm';
import { Hono } from 'hono';
import { encodeWeights } from '../../core/codec.ts';
import { TesseraError } from '../../core/errors.ts';
import type { FederationConfig } from '../../core/federation.ts';
import { parseFederationConfig } from '../../core/federation.ts';
import { contentHash } from '../../core/hash.ts';
import { initialWeights } from '../../core/model.ts';
import { enrollmentMessage } from '../../core/request-signing.ts';
import { fromBase64, randomToken, verify } from '../../crypto/identity.ts';
import { SECAGG_STAGES } from '../../core/secagg-wire.ts';
import type { SecAggStage } from '../../core/secagg-wire.ts';
import { federations, invitations, members, modelVersions, roundMembers, rounds } from '../../schema/index.ts';
import type { Tx } from '../audit.ts';
import { appendAudit } from '../audit.ts';
import { actorOf, assertMemberSelf, requireRole, tokenHash } from '../auth.ts';
import type { AppEnv } from '../context.ts';
import { sealModelVersion, storesOf } from '../replication/artifacts.ts';
import { createContentKey, keysSealedFor } from '../replication/keys.ts';
import { rotateContentKey } from '../replication/rotation.ts';
import { publicKeyText } from '../ledger/key.ts';
import { jsonBody, stringField } from './json.ts';

const INVITATION_TTL_MS = 7 * 86_400_000;
const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/;

export async function getFederation(c: { var: AppEnv['Variables'] }, id: string): Promise<typeof federations.$inferSelect & { config: FederationConfig }> {
  return federationRow(c.var.db, id);
}

/** The federation's row, or NOT_FOUND naming the id. */
export async function federationRow(db: AppEnv['Variables']['db'], id: string): Promise<typeof federations.$inferSelect & { config: FederationConfig }> {
  const [f] = await db.select().from(federations).where(eq(federations.id, id));
  if (!f) throw new TesseraError('NOT_FOUND', `no federation ${id}`, { field: 'federationId' });
  return f as typeof f & { config: FederationConfig };
}

export const federationRoutes = new Hono<AppEnv>()
  .post('/', requireRole('operator'), async (c) => {
    const config = parseFederationConfig(await jsonBody(c));
    const id = randomUUID();
    const t = c.var.now();
    const body = encodeWeights(initialWeights(config.model, config.seed));
    const hash = contentHash(body);
    await c.var.db.transaction(async (tx) => {
      await tx.insert(federations).values({ id, name: config.name, config, createdAt: t });
      await tx.insert(modelVersions).values({ federationId: id, version: 0, hash, parentHash: null, round: null, body, strategyState: null, createdAt: t });
      // The content key exists from the start: members get it sealed at enrollment.
      const key = await createContentKey(tx, id, c.var.ledgerKey, t);
      await sealModelVersion(tx, id, config, 0, body, c.var.ledgerKey, t);
      await appendAudit(tx, { kind: 'federation.created', actor: actorOf(c.var.principal!), federationId: id, time: t, payload: { config, initialModel: { version: 0, hash }, contentKeyId: key.keyId } });
    });
    if (storesOf(config).length) c.var.replication.kick(id);
    return c.json({ federation: { id, name: config.name, status: 'active', config, createdAt: t, initialModel: { version: 0, hash } } }, 201);
  })
  .get('/', requireRole('operator', 'auditor'), async (c) => {
    const rows = await c.var.db.select().from(federations).orderBy(asc(federations.createdAt));
    return c.json({ federations: rows });
  })
  .get('/:fid', requireRole('operator', 'auditor', 'member'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    assertMemberSelf(c.var.principal!, f.id);
    const [latest] = await c.var.db.select({ version: modelVersions.version, hash: modelVersions.hash }).from(modelVersions).where(eq(modelVersions.federationId, f.id)).orderBy(desc(modelVersions.version)).limit(1);
    const [lastRound] = await c.var.db.select({ number: rounds.number, status: rounds.status }).from(rounds).where(eq(rounds.federationId, f.id)).orderBy(desc(rounds.number)).limit(1);
    return c.json({ federation: { ...f, latestModel: latest, lastRound: lastRound ?? null } });
  })
  .post('/:fid/invitations', requireRole('operator'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    const memberName = stringField(await jsonBody(c), 'memberName', NAME);
    const taken = await c.var.db.select({ id: members.id }).from(members).where(and(eq(members.federationId, f.id), eq(members.name, memberName)));
    if (taken.length) throw new TesseraError('CONFLICT', `memberName: a member named "${memberName}" is already enrolled`, { field: 'memberName' });
    const token = randomToken(32);
    const id = randomUUID();
    const t = c.var.now();
    await c.var.db.transaction(async (tx) => {
      await tx.insert(invitations).values({ id, federationId: f.id, memberName, tokenHash: tokenHash(token), createdAt: t, expiresAt: t + INVITATION_TTL_MS });
      await appendAudit(tx, { kind: 'invitation.created', actor: actorOf(c.var.principal!), federationId: f.id, time: t, payload: { invitationId: id, memberName } });
    });
    // The token is shown once, here; only its hash is kept.
    return c.json({ invitation: { id, federationId: f.id, memberName, token, expiresAt: t + INVITATION_TTL_MS } }, 201);
  })
  .post('/:fid/enroll', async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    const body = await jsonBody(c);
    const token = stringField(body, 'token', /^[A-Za-z0-9_-]{20,200}$/);
    const publicKey = stringField(body, 'publicKey', /^[A-Za-z0-9_-]{43}$/);
    const proof = fromBase64(stringField(body, 'proof', /^[A-Za-z0-9_-]{86}$/));
    const key = fromBase64(publicKey);
    if (!key || !proof || !verify(enrollmentMessage(f.id, token, publicKey), proof, key)) {
      throw new TesseraError('UNAUTHENTICATED', 'proof: the enrollment proof is not a valid signature by publicKey', { field: 'proof' });
    }
    const t = c.var.now();
    const memberId = randomUUID();
    const enrolled = await c.var.db.transaction(async (tx) => {
      const used = await tx
        .update(invitations)
        .set({ usedAt: t, usedBy: memberId })
        .where(and(eq(invitations.tokenHash, tokenHash(token)), eq(invitations.federationId, f.id), isNull(invitations.usedAt)))
        .returning();
      const inv = used[0];
      if (!inv || inv.expiresAt < t) throw new TesseraError('INVITATION_INVALID', 'token: the invitation is unknown, already used or expired; ask the operator for a new one', { field: 'token' });
      await tx.insert(members).values({ id: memberId, federationId: f.id, name: inv.memberName, publicKey, enrolledAt: t });
      await appendAudit(tx, { kind: 'member.enrolled', actor: `member:${memberId}`, federationId: f.id, time: t, payload: { memberId, name: inv.memberName, invitationId: inv.id, publicKey } });
      return inv;
    });
    const keys = await memberKeys(c, f.id, publicKey);
    return c.json({ member: { id: memberId, federationId: f.id, name: enrolled.memberName }, keys }, 201);
  })
  .get('/:fid/members/:mid/keys', requireRole('member'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    assertMemberSelf(c.var.principal!, f.id, c.req.param('mid'));
    const [m] = await c.var.db.select({ publicKey: members.publicKey }).from(members).where(eq(members.id, c.req.param('mid')));
    return c.json({ keys: await memberKeys(c, f.id, m.publicKey) });
  })
  .post('/:fid/keys/rotate', requireRole('operator'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    const t = c.var.now();
    const rotation = await c.var.db.transaction((tx) => rotateContentKey(tx, { federationId: f.id, config: f.config, signer: c.var.ledgerKey, t, actor: actorOf(c.var.principal!) }));
    if (rotation.resealed) c.var.replication.kick(f.id);
    return c.json(rotation, 201);
  })
  // Revocation: the member's signed requests are refused from now on (403 MEMBER_REVOKED), it is
  // in no later cohort, it leaves the open round if it has not contributed yet, and the content
  // key rotates with the latest model resealed, so it can open nothing published from now on.
  .post('/:fid/members/:mid/revoke', requireRole('operator'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    const memberId = c.req.param('mid');
    const reason = stringField(await jsonBody(c), 'reason', /^\S.{0,1999}$/s);
    const [m] = await c.var.db.select().from(members).where(and(eq(members.id, memberId), eq(members.federationId, f.id)));
    if (!m) throw new TesseraError('NOT_FOUND', `no member ${memberId} in federation ${f.id}`, { field: 'memberId' });
    const actor = actorOf(c.var.principal!);
    const t = c.var.now();
    const done = await c.var.db.transaction(async (tx) => {
      const moved = await tx.update(members).set({ status: 'revoked' }).where(and(eq(members.id, memberId), eq(members.status, 'active'))).returning({ id: members.id });
      if (moved.length === 0) return null; // already revoked: nothing changes, nothing rotates twice
      const dropped = await leaveOpenRound(tx, f.id, memberId, `revoked by the operator: ${reason}`, t);
      await appendAudit(tx, { kind: 'member.revoked', actor, federationId: f.id, time: t, payload: { memberId, name: m.name, reason, droppedFromRound: dropped } });
      const rotation = await rotateContentKey(tx, { federationId: f.id, config: f.config, signer: c.var.ledgerKey, t, actor, cause: { revokedMemberId: memberId } });
      return { rotation, dropped };
    });
    if (!done) {
      const [prior] = await c.var.db.select({ status: members.status }).from(members).where(eq(members.id, memberId));
      if (prior?.status !== 'revoked') throw new TesseraError('CONFLICT', `member ${memberId} is ${prior?.status}; only an active member can be revoked`);
      return c.json({ member: { id: memberId, name: m.name, status: 'revoked' }, alreadyRevoked: true });
    }
    if (done.rotation.resealed) c.var.replication.kick(f.id);
    await c.var.orchestrator.advance(f.id);
    return c.json({ member: { id: memberId, name: m.name, status: 'revoked' }, keyId: done.rotation.keyId, resealed: done.rotation.resealed, droppedFromRound: done.dropped }, 201);
  })
  .get('/:fid/members', requireRole('operator', 'auditor'), async (c) => {
    const f = await getFederation(c, c.req.param('fid'));
    const rows = await c.var.db.select().from(members).where(eq(members.federationId, f.id)).orderBy(asc(members.name));
    return c.json({ members: rows });
  });

/** What a member needs to open sealed models: every content key sealed to it, and the signer's public key. */
async function memberKeys(c: { var: AppEnv['Variables'] }, federationId: string, memberPublicKey: string) {
  return { signerPublicKey: publicKeyText(c.var.ledgerKey), contentKeys: await keysSealedFor(c.var.db, federationId, memberPublicKey, c.var.ledgerKey) };
}

/**
 * Takes a revoked member out of the federation's open round: dropped if it has not contributed;
 * after a secure round's masked input (its input counts) marked out of the later stages, as a
 * member that refused them is. Returns the round number, or null when it was in none.
 */
async function leaveOpenRound(tx: Tx, federationId: string, memberId: string, reason: string, t: number): Promise<number | null> {
  const [round] = await tx.select().from(rounds).where(and(eq(rounds.federationId, federationId), eq(rounds.status, 'open')));
  if (!round) return null;
  const [slot] = await tx.select().from(roundMembers).where(and(eq(roundMembers.roundId, round.id), eq(roundMembers.memberId, memberId)));
  if (!slot) return null;
  const stageAt = SECAGG_STAGES.indexOf(round.stage as SecAggStage);
  const afterMasked = stageAt > SECAGG_STAGES.indexOf('masked_input');
  const where = and(eq(roundMembers.roundId, round.id), eq(roundMembers.memberId, memberId));
  if (slot.status === 'selected') await tx.update(roundMembers).set({ status: 'dropped', reason, updatedAt: t }).where(where);
  else if (slot.status === 'submitted' && afterMasked) await tx.update(roundMembers).set({ reason, updatedAt: t }).where(where);
  else return null;
  await appendAudit(tx, { kind: 'member.dropped', actor: 'aggregator', federationId, time: t, payload: { round: round.number, memberId, stage: round.stage, reason } });
  return round.number;
}
