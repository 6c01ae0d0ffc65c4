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
import { federations, invitations, members, modelVersions, rounds } from '../../schema/index.ts';
import { appendAudit } from '../audit.ts';
import { actorOf, assertMemberSelf, requireRole, tokenHash } from '../auth.ts';
import type { AppEnv } from '../context.ts';
import { sealModelVersion, storesOf } from '../replication/artifacts.ts';
import { createContentKey, keysSealedFor } from '../replication/keys.ts';
import { publicKeyText } from '../ledger/key.ts';
import { jsonBody, stringField } from './json.ts';

const INVITATION_TTL_MS = 7 * 86_400_000;
const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/;

export async function getFederation(c: { var: AppEnv['Variables'] }, id: string): Promise<typeof federations.$inferSelect & { config: FederationConfig }> {
  const [f] = await c.var.db.select().from(federations).where(eq(federations.id, id));
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
    const key = await c.var.db.transaction(async (tx) => {
      const k = await createContentKey(tx, f.id, c.var.ledgerKey, t);
      await appendAudit(tx, { kind: 'content-key.rotated', actor: actorOf(c.var.principal!), federationId: f.id, time: t, payload: { keyId: k.keyId } });
      return k;
    });
    return c.json({ keyId: key.keyId }, 201);
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
