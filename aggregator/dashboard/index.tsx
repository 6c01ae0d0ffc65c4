/**
 * @module The dashboard: server-rendered pages at `/` for operators and auditors (members have
 * none). Reads go through ./data.ts and the ledger's own functions (verify, evidence pack); the one
 * write, "start round", is operator-only and CSRF-checked. Auditors' ledger reads, verifications
 * and evidence downloads are appended to the ledger as `audit.read`, as through the API.
 */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { TesseraError } from '../../core/errors.ts';
import { appendAudit } from '../audit.ts';
import { actorOf, requireRole } from '../auth.ts';
import { publicKeyText } from '../ledger/key.ts';
import { buildEvidence, renderEvidenceHtml } from '../ledger/report.ts';
import { readEntries, readSnapshot, verifyDatabase } from '../ledger/store.ts';
import { verifyLedger } from '../ledger/verify.ts';
import { ledgerHead } from '../../schema/index.ts';
import { SECURITY_HEADERS, page } from './components.tsx';
import { federationById, federationSummaries, memberNames, membersOf, privacyOf, roundDetail, roundsOf } from './data.ts';
import { FederationPage } from './federation.tsx';
import { FederationsPage } from './federations.tsx';
import type { LedgerView } from './ledger.tsx';
import { LedgerPage, PAGE_SIZE } from './ledger.tsx';
import { MembersPage } from './members.tsx';
import { RoundPage } from './round.tsx';
import type { DashboardEnv } from './session.ts';
import { csrfChecked, endSession, signInChallenge, signInChallengeValid, signedIn, staffCredential, startSession } from './session.ts';
import { ErrorPage, SignInPage } from './sign-in.tsx';

type C = Context<DashboardEnv>;

const smallForm = bodyLimit({
  maxSize: 16 * 1024,
  onError: () => {
    throw new TesseraError('TOO_LARGE', 'form: larger than 16 KiB');
  },
});

function intQuery(c: C, name: string, fallback?: number): number | undefined {
  const raw = c.req.query(name);
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d{1,12}$/.test(raw) || Number(raw) < 1) throw new TesseraError('BAD_REQUEST', `${name}: expected a positive whole number`, { field: name });
  return Number(raw);
}

/** Auditors' reads of the ledger and evidence are on the record, as through the API. */
async function recordRead(c: C, what: string, detail: Record<string, unknown> = {}): Promise<void> {
  const p = c.var.principal!;
  if (p.role !== 'auditor') return;
  await c.var.db.transaction((tx) => appendAudit(tx, { kind: 'audit.read', actor: actorOf(p), time: c.var.now(), payload: { what, label: p.label, via: 'dashboard', ...detail } }));
}

async function ledgerView(c: C, from: number | undefined, verification?: LedgerView['verification']): Promise<LedgerView> {
  const [head] = await c.var.db.select().from(ledgerHead);
  const headRow = head ? { seq: head.seq, hash: head.hash } : { seq: 0, hash: '0'.repeat(64) };
  const start = from ?? Math.max(1, headRow.seq - PAGE_SIZE + 1);
  const entries = await readEntries(c.var.db, { from: start, limit: PAGE_SIZE });
  const federations = (await federationSummaries(c.var.db)).map((s) => ({ id: s.federation.id, name: s.federation.name }));
  return { entries, from: start, head: headRow, publicKey: publicKeyText(c.var.ledgerKey), federations, names: await memberNames(c.var.db), verification };
}

export const dashboard = new Hono<DashboardEnv>()
  .get('/sign-in', (c) => page(c, <SignInPage challenge={signInChallenge(c)} />))
  .post('/sign-in', smallForm, async (c) => {
    const form = await c.req.parseBody();
    const challenge = typeof form.challenge === 'string' ? form.challenge : '';
    if (!signInChallengeValid(c, challenge)) {
      return page(c, <SignInPage challenge={signInChallenge(c)} error="This sign-in form expired or came from another site. Try again." />, 403);
    }
    const token = typeof form.token === 'string' ? form.token.trim() : '';
    const who = token ? await staffCredential(c, token) : null;
    if (!who) {
      return page(c, <SignInPage challenge={signInChallenge(c)} error="Unknown or revoked credential. Use an operator or auditor credential; members have no dashboard." />, 401);
    }
    startSession(c, who);
    return c.redirect('/', 303);
  })
  .post('/sign-out', smallForm, signedIn, csrfChecked, (c) => {
    endSession(c);
    return c.redirect('/sign-in', 303);
  })
  .get('/', signedIn, async (c) => page(c, <FederationsPage c={c} list={await federationSummaries(c.var.db)} />))
  .get('/federations/:fid', signedIn, async (c) => {
    const f = await federationById(c.var.db, c.req.param('fid'));
    const members = (await membersOf(c.var.db, f.id)).length;
    return page(c, <FederationPage c={c} f={f} rounds={await roundsOf(c.var.db, f.id)} members={members} />);
  })
  .post('/federations/:fid/rounds', smallForm, signedIn, csrfChecked, requireRole('operator'), async (c) => {
    const f = await federationById(c.var.db, c.req.param('fid'));
    const round = await c.var.orchestrator.openRound(f.id, actorOf(c.var.principal!));
    return c.redirect(`/federations/${f.id}/rounds/${round.number}`, 303);
  })
  .get('/federations/:fid/members', signedIn, async (c) => {
    const f = await federationById(c.var.db, c.req.param('fid'));
    return page(c, <MembersPage c={c} f={f} list={await membersOf(c.var.db, f.id)} spend={await privacyOf(c.var.db, f.id)} />);
  })
  .get('/federations/:fid/rounds/:round', signedIn, async (c) => {
    const f = await federationById(c.var.db, c.req.param('fid'));
    const raw = c.req.param('round');
    if (!/^\d{1,9}$/.test(raw)) throw new TesseraError('NOT_FOUND', `no round ${raw}`, { field: 'round' });
    return page(c, <RoundPage c={c} f={f} d={await roundDetail(c.var.db, f.id, Number(raw))} />);
  })
  .get('/ledger', signedIn, async (c) => {
    const from = intQuery(c, 'from');
    await recordRead(c, 'ledger', { from: from ?? null, limit: PAGE_SIZE });
    return page(c, <LedgerPage c={c} view={await ledgerView(c, from)} />);
  })
  .post('/ledger/verify', smallForm, signedIn, csrfChecked, async (c) => {
    await recordRead(c, 'verify');
    const result = await verifyDatabase(c.var.db, c.var.ledgerKey.publicKey);
    // Show the page that holds the first bad entry, else the page the button was pressed on.
    const from = result.problem ? Math.max(1, result.problem.seq - 5) : intQuery(c, 'from');
    return page(c, <LedgerPage c={c} view={await ledgerView(c, from, result)} />);
  })
  .get('/report', signedIn, async (c) => {
    const round = intQuery(c, 'round');
    const sinceText = c.req.query('since') || undefined;
    const since = sinceText === undefined ? undefined : Date.parse(sinceText);
    if (since !== undefined && Number.isNaN(since)) throw new TesseraError('BAD_REQUEST', 'since: expected a date such as 2026-01-31', { field: 'since' });
    if (round === undefined && since === undefined) throw new TesseraError('BAD_REQUEST', 'choose a round or a "since" date for the evidence pack', { field: 'round' });
    const format = c.req.query('format') || 'html';
    if (format !== 'html' && format !== 'json') throw new TesseraError('BAD_REQUEST', 'format: expected html or json', { field: 'format' });
    const federationId = c.req.query('federation') || undefined;
    await recordRead(c, 'report', { round: round ?? null, since: since ?? null, federationId: federationId ?? null, format });
    const { entries, head } = await readSnapshot(c.var.db);
    const pack = buildEvidence(entries, verifyLedger(entries, c.var.ledgerKey.publicKey, { head }), { round, since, federationId, generatedAt: c.var.now(), publicKey: publicKeyText(c.var.ledgerKey), head });
    const name = `tessera-evidence-${round !== undefined ? `round-${round}` : `since-${sinceText}`}.${format}`;
    const headers = { ...SECURITY_HEADERS, 'content-disposition': `attachment; filename="${name}"` };
    if (format === 'json') return c.body(JSON.stringify(pack, null, 2) + '\n', 200, { ...headers, 'content-type': 'application/json; charset=utf-8' });
    return c.body(renderEvidenceHtml(pack), 200, { ...headers, 'content-type': 'text/html; charset=utf-8' });
  });

// Errors on dashboard routes are pages, not JSON; anything unexpected goes to the app's handler (logged).
dashboard.onError((err, c) => {
  if (!(err instanceof TesseraError)) throw err;
  return page(c, <ErrorPage status={err.status} message={err.message} signedIn={!!c.var.principal} />, err.status);
});
