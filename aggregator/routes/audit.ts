/**
 * @module The ledger, auditors and receipts. The ledger's public key is open to anyone; operators
 * and auditors read, verify and export the ledger (an auditor's read is itself appended, kind
 * `audit.read`); operators issue and revoke auditor credentials; a member reads its own receipts.
 */
import { and, asc, eq, isNull } from 'drizzle-orm';
import type { Context } from 'hono';
import { Hono } from 'hono';
import { TesseraError } from '../../core/errors.ts';
import { credentials } from '../../schema/index.ts';
import { appendAudit } from '../audit.ts';
import { actorOf, assertMemberSelf, requireRole } from '../auth.ts';
import type { AppEnv } from '../context.ts';
import { issueCredential } from '../credentials.ts';
import { publicKeyText } from '../ledger/key.ts';
import { memberReceipts } from '../ledger/receipts.ts';
import { buildEvidence, renderEvidenceHtml } from '../ledger/report.ts';
import { exportLedger, readEntries, readSnapshot, verifyDatabase } from '../ledger/store.ts';
import { verifyLedger } from '../ledger/verify.ts';
import { getFederation } from './federations.ts';
import { jsonBody, stringField } from './json.ts';

const LABEL = /^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,99}$/;

function queryInt(c: Context<AppEnv>, name: string, fallback: number, min: number, max: number): number {
  const raw = c.req.query(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d{1,15}$/.test(raw) || n < min || n > max) throw new TesseraError('BAD_REQUEST', `${name}: expected an integer in [${min}, ${max}]`, { field: name });
  return n;
}

/** Appends an `audit.read` entry when the caller is an auditor (reads by auditors are on the record). */
async function recordAuditorRead(c: Context<AppEnv>, what: string, detail: Record<string, unknown> = {}): Promise<void> {
  const p = c.var.principal!;
  if (p.role !== 'auditor') return;
  await c.var.db.transaction(async (tx) => {
    await appendAudit(tx, { kind: 'audit.read', actor: actorOf(p), time: c.var.now(), payload: { what, label: p.label, ...detail } });
  });
}

export const ledgerRoutes = new Hono<AppEnv>()
  .get('/public-key', (c) => c.json({ publicKey: publicKeyText(c.var.ledgerKey), algorithm: 'Ed25519', encoding: 'base64url' }))
  .get('/', requireRole('operator', 'auditor'), async (c) => {
    const from = queryInt(c, 'from', 1, 1, Number.MAX_SAFE_INTEGER);
    const limit = queryInt(c, 'limit', 100, 1, 1000);
    await recordAuditorRead(c, 'ledger', { from, limit });
    const entries = await readEntries(c.var.db, { from, limit });
    return c.json({ entries, next: entries.length === limit ? entries[entries.length - 1].seq + 1 : null });
  })
  .get('/verify', requireRole('operator', 'auditor'), async (c) => {
    await recordAuditorRead(c, 'verify');
    const r = await verifyDatabase(c.var.db, c.var.ledgerKey.publicKey);
    return c.json({ verification: { ok: r.ok, entries: r.entries, head: r.head, verifiedThrough: r.verifiedThrough, problem: r.problem, publicKey: publicKeyText(c.var.ledgerKey) } });
  })
  .get('/export', requireRole('operator', 'auditor'), async (c) => {
    await recordAuditorRead(c, 'export');
    const { text, head } = await exportLedger(c.var.db, c.var.ledgerKey, c.var.now());
    return c.body(text, 200, { 'content-type': 'application/jsonl; charset=utf-8', 'content-disposition': `attachment; filename="tessera-ledger-${head.seq}.jsonl"` });
  })
  .get('/report', requireRole('operator', 'auditor'), async (c) => {
    const round = c.req.query('round') === undefined ? undefined : queryInt(c, 'round', 1, 1, 1e9);
    const sinceText = c.req.query('since');
    const since = sinceText === undefined ? undefined : Date.parse(sinceText);
    if (since !== undefined && Number.isNaN(since)) throw new TesseraError('BAD_REQUEST', 'since: expected a date such as 2026-01-31', { field: 'since' });
    if (round === undefined && since === undefined) throw new TesseraError('BAD_REQUEST', 'round or since: required (which rounds the evidence pack covers)', { field: 'round' });
    const format = c.req.query('format') ?? 'html';
    if (format !== 'html' && format !== 'json') throw new TesseraError('BAD_REQUEST', 'format: expected html or json', { field: 'format' });
    const federationId = c.req.query('federation');
    await recordAuditorRead(c, 'report', { round: round ?? null, since: since ?? null, federationId: federationId ?? null, format });
    const { entries, head } = await readSnapshot(c.var.db);
    const pack = buildEvidence(entries, verifyLedger(entries, c.var.ledgerKey.publicKey, { head }), { round, since, federationId, generatedAt: c.var.now(), publicKey: publicKeyText(c.var.ledgerKey), head });
    return format === 'json' ? c.json(pack) : c.html(renderEvidenceHtml(pack));
  });

export const auditorRoutes = new Hono<AppEnv>()
  .post('/', requireRole('operator'), async (c) => {
    const label = stringField(await jsonBody(c), 'label', LABEL);
    const t = c.var.now();
    const { id, token } = await issueCredential(c.var.db, 'auditor', label, actorOf(c.var.principal!), t);
    // The token is shown once, here; only its hash is kept.
    return c.json({ auditor: { id, label, token, createdAt: t } }, 201);
  })
  .get('/', requireRole('operator'), async (c) => {
    const rows = await c.var.db.select({ id: credentials.id, label: credentials.label, createdAt: credentials.createdAt, revokedAt: credentials.revokedAt }).from(credentials).where(eq(credentials.role, 'auditor')).orderBy(asc(credentials.createdAt));
    return c.json({ auditors: rows });
  })
  .delete('/:id', requireRole('operator'), async (c) => {
    const id = c.req.param('id');
    const t = c.var.now();
    const revoked = await c.var.db.transaction(async (tx) => {
      const rows = await tx.update(credentials).set({ revokedAt: t }).where(and(eq(credentials.id, id), eq(credentials.role, 'auditor'), isNull(credentials.revokedAt))).returning();
      if (rows.length === 0) return null;
      await appendAudit(tx, { kind: 'credential.revoked', actor: actorOf(c.var.principal!), time: t, payload: { id, role: 'auditor', label: rows[0].label } });
      return rows[0];
    });
    if (revoked) return c.json({ auditor: { id, label: revoked.label, revokedAt: t } });
    const [existing] = await c.var.db.select().from(credentials).where(and(eq(credentials.id, id), eq(credentials.role, 'auditor')));
    if (!existing) throw new TesseraError('NOT_FOUND', `no auditor ${id}`, { field: 'id' });
    return c.json({ auditor: { id, label: existing.label, revokedAt: existing.revokedAt } });
  });

export const receiptRoutes = new Hono<AppEnv>().get('/:fid/members/:mid/receipts', requireRole('member'), async (c) => {
  const f = await getFederation(c, c.req.param('fid'));
  const memberId = c.req.param('mid');
  assertMemberSelf(c.var.principal!, f.id, memberId);
  return c.json({ receipts: await memberReceipts(c.var.db, c.var.ledgerKey, f.id, memberId) });
});
