/**
 * @module Member routes of secure rounds: one signed PUT per protocol stage, the masked input
 * handed in as a signed URL of the member's own store instead (fetched, checked against the
 * declared size and hash, then accepted exactly like the direct PUT), and the member's report
 * that its client refused a request. The protocol is checked by SecAggServer and persisted by
 * rounds/secure.ts; this file only reads the path and the body (or fetches it).
 */
import { and, eq } from 'drizzle-orm';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { TesseraError } from '../../core/errors.ts';
import { contentHash, isContentHash } from '../../core/hash.ts';
import type { SecAggStage } from '../../core/secagg-wire.ts';
import { SECAGG_STAGES } from '../../core/secagg-wire.ts';
import { roundMembers, rounds } from '../../schema/index.ts';
import { appendAudit } from '../audit.ts';
import { assertMemberSelf, requireRole } from '../auth.ts';
import type { AppEnv } from '../context.ts';
import { memberReceipts, receiptFor } from '../ledger/receipts.ts';
import { fetchUntrustedUrl, redact } from '../replication/fetch-url.ts';
import type { Federation } from './round-snapshot.ts';
import { currentSnapshot } from './round-snapshot.ts';
import { intParam, jsonBody, stringField } from './json.ts';

type SecureSlot = { f: Federation; memberId: string; stage: SecAggStage; round: typeof rounds.$inferSelect };

/** The member's slot named by the path (refused before any body is read or fetched). */
async function secureSlot(c: Context<AppEnv>, stageName: string): Promise<SecureSlot> {
  // The federation and the open round from the read shared with the members' polls when it is
  // current (the round's stage is checked again under its lock when the message is stored).
  const { f, round: latest } = await currentSnapshot(c, c.req.param('fid')!);
  const memberId = c.req.param('mid')!;
  assertMemberSelf(c.var.principal!, f.id, memberId);
  const stage = stageName as SecAggStage;
  if (!SECAGG_STAGES.includes(stage)) throw new TesseraError('NOT_FOUND', `stage: expected one of ${SECAGG_STAGES.join(', ')}`, { field: 'stage' });
  const number = intParam(c, 'round');
  const [round] = latest?.number === number ? [latest] : await c.var.db.select().from(rounds).where(and(eq(rounds.federationId, f.id), eq(rounds.number, number)));
  if (!round) throw new TesseraError('NOT_FOUND', `no round ${number} in federation ${f.id}`, { field: 'round' });
  const [slot] = await c.var.db.select({ status: roundMembers.status }).from(roundMembers).where(and(eq(roundMembers.roundId, round.id), eq(roundMembers.memberId, memberId)));
  if (!slot) throw new TesseraError('FORBIDDEN', `member ${memberId} was not selected for round ${number}`);
  return { f, memberId, stage, round };
}

/** A refusal decided here (before the protocol saw the bytes), recorded like those of rounds/secure.ts. */
async function recordRefused(c: Context<AppEnv>, { f, memberId, stage, round }: SecureSlot, e: TesseraError, extra: Record<string, unknown> = {}): Promise<void> {
  const t = c.var.now();
  const payload = { round: round.number, memberId, stage, by: 'aggregator', code: e.code, reason: e.message, ...extra };
  await c.var.db.transaction((tx) => appendAudit(tx, { kind: 'contribution.refused', actor: 'aggregator', federationId: f.id, time: t, payload }));
}

/** Hands a message's bytes to the protocol, however they arrived: the same checks, storage, ledger entry and receipt. */
async function acceptMessage(c: Context<AppEnv>, at: SecureSlot, body: Uint8Array): Promise<Response> {
  const { f, memberId, stage, round } = at;
  if (body.length > f.config.maxUpdateBytes) {
    const e = new TesseraError('TOO_LARGE', `body: ${body.length} bytes exceeds this federation's maxUpdateBytes (${f.config.maxUpdateBytes})`, { field: 'body' });
    await recordRefused(c, at, e);
    throw e;
  }
  const accepted = await c.var.orchestrator.secure.accept(round, f.config, memberId, stage, body);
  if (accepted.closable) await c.var.orchestrator.advance(f.id);
  // The receipt of the entry just appended; a duplicate's is looked up (searching the ledger costs O(entries)).
  const { entry, closable: _closable, ...ack } = accepted;
  const receipt = stage !== 'masked_input' ? null : entry ? receiptFor(entry, c.var.ledgerKey) : ((await memberReceipts(c.var.db, c.var.ledgerKey, f.id, memberId, round.number)).find((r) => r.stage === stage) ?? null);
  return c.json({ accepted: ack, receipt });
}

/** The declared reference of a masked input in the member's store: url, size, BLAKE2b-256. */
function parseStoreRef(req: Record<string, unknown>): { url: string; hash: string; size: number } {
  const url = stringField(req, 'url', /^https?:\/\/.{1,4000}$/s);
  const { hash, size } = req;
  if (!isContentHash(hash)) throw new TesseraError('BAD_REQUEST', 'hash: expected the BLAKE2b-256 of the masked-input frame, 64 lowercase hex characters', { field: 'hash' });
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) throw new TesseraError('BAD_REQUEST', 'size: expected the frame size in bytes, a positive integer', { field: 'size' });
  return { url, hash, size };
}

export const secaggRoutes = new Hono<AppEnv>()
  // The stage's signed message: JSON, or for masked_input a frame with the raw vector (core/secagg-body.ts).
  .put('/:fid/members/:mid/rounds/:round/secagg/:stage', requireRole('member'), async (c) => {
    const at = await secureSlot(c, c.req.param('stage'));
    return acceptMessage(c, at, new Uint8Array(await c.req.arrayBuffer()));
  })
  // The same masked-input frame, put by the member in its own store and handed in as a
  // time-limited URL (GCS V4 signed URL, Azure SAS): fetched under the SSRF rule and the size
  // cap, checked against the declared size and hash, then accepted exactly as the PUT above.
  .put('/:fid/members/:mid/rounds/:round/secagg/masked_input/url', requireRole('member'), async (c) => {
    const at = await secureSlot(c, 'masked_input');
    const ref = parseStoreRef(await jsonBody(c));
    const declared = { via: 'url', url: redact(ref.url), hash: ref.hash, size: ref.size };
    let body: Uint8Array;
    try {
      const max = at.f.config.maxUpdateBytes;
      if (ref.size > max) throw new TesseraError('TOO_LARGE', `size: ${ref.size} bytes exceeds this federation's maxUpdateBytes (${max})`, { field: 'size' });
      body = await fetchUntrustedUrl(ref.url, ref.size, c.var.replication.urlFetch);
    } catch (e) {
      if (e instanceof TesseraError) await recordRefused(c, at, e, declared);
      throw e;
    }
    const got = contentHash(body);
    if (body.length !== ref.size || got !== ref.hash) {
      const e = new TesseraError('HASH_MISMATCH', `url: the object is ${body.length} bytes hashing to ${got}; the request declared ${ref.size} bytes hashing to ${ref.hash}; nothing was accepted`, { field: 'url', details: { expectedHash: ref.hash, actualHash: got, expectedSize: ref.size, actualSize: body.length } });
      await recordRefused(c, at, e, { ...declared, actualHash: got, actualSize: body.length });
      throw e;
    }
    return acceptMessage(c, at, body);
  })
  // The member's client refused the aggregator's request (e.g. both shares of one member asked for).
  .put('/:fid/members/:mid/rounds/:round/secagg/:stage/refusal', requireRole('member'), async (c) => {
    const { f, memberId, stage, round } = await secureSlot(c, c.req.param('stage'));
    const reason = stringField(await jsonBody(c), 'reason', /^.{1,2000}$/s);
    await c.var.orchestrator.secure.refusal(round, memberId, stage, reason);
    await c.var.orchestrator.advance(f.id);
    return c.json({ recorded: { round: round.number, memberId, stage, reason } }, 201);
  });
