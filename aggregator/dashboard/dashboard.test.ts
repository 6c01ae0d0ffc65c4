/**
 * The dashboard through `app.request()`: sign-in and its cookie, bad tokens, CSRF, the auditor's
 * read-only view, the operator's one write action, verification (also of a tampered ledger) and
 * the evidence pack download.
 */
import { eq, sql } from 'drizzle-orm';
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWeights } from '../../core/codec.ts';
import { modelLayout, parseModelSpec } from '../../core/model.ts';
import { PRIVACY_HEADER } from '../../core/privacy/spend.ts';
import { EXAMPLES_HEADER } from '../../core/request-signing.ts';
import { auditEvents, credentials, rounds } from '../../schema/index.ts';
import { createApp } from '../app.ts';
import type { AppEnv } from '../context.ts';
import { issueCredential } from '../credentials.ts';
import type { Database } from '../db/database.ts';
import { openTestDatabase } from '../db/testing.ts';
import type { Caller } from '../test-caller.ts';
import { caller, enrollMember } from '../test-caller.ts';
import { SESSION_COOKIE, SIGN_IN_COOKIE } from './session.ts';

const MODEL = { kind: 'mlp', inputs: 2, hidden: [2], outputs: 1 };
const BASE = 'http://aggregator';

let database: Database;
let app: Hono<AppEnv>;
let operatorToken = '';
let auditorToken = '';
let auditorId = '';
let F = '';
let G = '';
const membersOfF = new Map<string, { memberId: string; caller: Caller }>();

const cookieOf = (res: Response, name: string): string | null => {
  for (const line of res.headers.getSetCookie()) if (line.startsWith(`${name}=`)) return line;
  return null;
};
const valueOf = (line: string | null) => (line ? line.slice(line.indexOf('=') + 1).split(';')[0] : '');

/** A browser stand-in: keeps the session cookie, sends forms. */
interface Browser {
  cookie: string;
  get(path: string): Promise<Response>;
  post(path: string, fields: Record<string, string>): Promise<Response>;
  csrf(path?: string): Promise<string>;
}

function browser(cookie = ''): Browser {
  const b: Browser = {
    cookie,
    get: async (path) => app.request(`${BASE}${path}`, { headers: b.cookie ? { cookie: b.cookie } : {} }),
    post: async (path, fields) =>
      app.request(`${BASE}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(b.cookie ? { cookie: b.cookie } : {}) }, body: new URLSearchParams(fields).toString() }),
    async csrf(path = '/') {
      const html = await (await b.get(path)).text();
      return /name="csrf" value="([^"]+)"/.exec(html)![1];
    },
  };
  return b;
}

/** GET /sign-in, then POST the token with the form's challenge; returns the response and a browser. */
async function signIn(token: string): Promise<{ res: Response; b: Browser }> {
  const form = await app.request(`${BASE}/sign-in`);
  const pre = valueOf(cookieOf(form, SIGN_IN_COOKIE));
  const challenge = /name="challenge" value="([^"]+)"/.exec(await form.text())![1];
  const b = browser(`${SIGN_IN_COOKIE}=${pre}`);
  const res = await b.post('/sign-in', { challenge, token });
  const session = valueOf(cookieOf(res, SESSION_COOKIE));
  return { res, b: browser(session ? `${SESSION_COOKIE}=${session}` : '') };
}

/** Every <form> on a page: [method, action, data-write]. */
const formsOf = (html: string) =>
  [...html.matchAll(/<form\b([^>]*)>/g)].map((m) => ({
    method: /method="([^"]+)"/.exec(m[1])?.[1] ?? 'get',
    action: /action="([^"]+)"/.exec(m[1])?.[1] ?? '',
    write: /data-write=/.test(m[1]),
  }));

beforeAll(async () => {
  database = await openTestDatabase('pglite');
  ({ app } = createApp({ db: database.db }));
  operatorToken = (await issueCredential(database.db, 'operator', 'ops', 'test')).token;
  const op = caller(app, { bearer: operatorToken });
  ({ auditor: { token: auditorToken, id: auditorId } } = await op.json<{ auditor: { token: string; id: string } }>('POST', '/v1/auditors', { body: { label: 'compliance' } }));
  ({ federation: { id: F } } = await op.json<{ federation: { id: string } }>('POST', '/v1/federations', { body: { name: 'cardio', model: MODEL, rounds: 3, minMembers: 2, secure: false } }));
  ({ federation: { id: G } } = await op.json<{ federation: { id: string } }>('POST', '/v1/federations', { body: { name: 'credit', model: MODEL, rounds: 2, minMembers: 1, secure: false } }));
  for (const [fid, name] of [[F, 'hospital-a'], [F, 'hospital-b'], [G, 'bank-a']]) {
    const { invitation } = await op.json<{ invitation: { token: string } }>('POST', `/v1/federations/${fid}/invitations`, { body: { memberName: name } });
    const m = await enrollMember(app, fid, invitation.token);
    if (fid === F) membersOfF.set(name, m);
  }
  await op.json('POST', `/v1/federations/${F}/rounds`);
});

afterAll(async () => {
  await database?.close();
});

describe('dashboard sign-in', () => {
  it('sends page views without a session to the sign-in page and refuses other requests', async () => {
    for (const path of ['/', `/federations/${F}`, `/federations/${F}/rounds/1`, '/ledger', `/report?round=1`]) {
      const res = await app.request(`${BASE}${path}`);
      expect(res.status, path).toBe(303);
      expect(res.headers.get('location')).toBe('/sign-in');
    }
    const res = await browser().post('/ledger/verify', { csrf: 'x' });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
  });

  it('refuses a bad token, a member-style token and a form without its challenge, setting no session', async () => {
    for (const token of ['nope', 'tsr_au_' + 'A'.repeat(43), operatorToken + 'x']) {
      const { res } = await signIn(token);
      expect(res.status).toBe(401);
      expect(await res.text()).toContain('Unknown or revoked credential');
      expect(cookieOf(res, SESSION_COOKIE)).toBeNull();
    }
    const res = await browser().post('/sign-in', { token: operatorToken, challenge: 'forged' });
    expect(res.status).toBe(403);
    expect(cookieOf(res, SESSION_COOKIE)).toBeNull();
  });

  it('sets an HttpOnly, SameSite=Strict session cookie that does not hold the token (Secure behind HTTPS)', async () => {
    const { res } = await signIn(auditorToken);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/');
    const line = cookieOf(res, SESSION_COOKIE)!;
    expect(line).toMatch(/HttpOnly/);
    expect(line).toMatch(/SameSite=Strict/);
    expect(line).not.toMatch(/Secure/);
    expect(line).not.toContain(auditorToken);
    expect(line).not.toContain(auditorToken.slice(7, 30));
    const form = await app.request(`${BASE}/sign-in`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(cookieOf(form, SIGN_IN_COOKIE)).toMatch(/Secure/);
  });

  it('refuses a tampered or revoked session', async () => {
    const { b } = await signIn(auditorToken);
    expect((await b.get('/')).status).toBe(200);
    const forged = browser(b.cookie.replace(/.$/, (ch) => (ch === 'A' ? 'B' : 'A')));
    expect((await forged.get('/')).status).toBe(303);
    const other = (await issueCredential(database.db, 'auditor', 'short-lived', 'test')).token;
    const { b: s } = await signIn(other);
    expect((await s.get('/')).status).toBe(200);
    const [row] = await database.db.select().from(credentials).where(eq(credentials.label, 'short-lived'));
    await caller(app, { bearer: operatorToken }).json('DELETE', `/v1/auditors/${row.id}`);
    expect((await s.get('/')).status).toBe(303);
  });

  it('signs out with the CSRF token only', async () => {
    const { b } = await signIn(operatorToken);
    expect((await b.post('/sign-out', { csrf: 'wrong' })).status).toBe(403);
    const res = await b.post('/sign-out', { csrf: await b.csrf() });
    expect(res.status).toBe(303);
    expect(cookieOf(res, SESSION_COOKIE)).toMatch(/Max-Age=0/);
  });
});

describe('dashboard pages by role', () => {
  it('shows an auditor every page with no write action, and refuses its POST to start a round', async () => {
    const { b } = await signIn(auditorToken);
    for (const path of ['/', `/federations/${F}`, `/federations/${F}/rounds/1`, `/federations/${F}/members`, `/federations/${G}`, '/ledger']) {
      const res = await b.get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
      const html = await res.text();
      expect(html).not.toContain('<script');
      const forms = formsOf(html);
      expect(forms.filter((f) => f.write), path).toEqual([]);
      expect(forms.filter((f) => f.method === 'post').map((f) => f.action.split('?')[0]).filter((a) => a !== '/sign-out' && a !== '/ledger/verify'), path).toEqual([]);
      expect(html).not.toContain('Start round');
    }
    const res = await b.post(`/federations/${G}/rounds`, { csrf: await b.csrf() });
    expect(res.status).toBe(403);
    expect((await database.db.select().from(rounds).where(eq(rounds.federationId, G))).length).toBe(0);
  });

  it('shows the open round live, with its stage and participants', async () => {
    const { b } = await signIn(auditorToken);
    const html = await (await b.get(`/federations/${F}/rounds/1`)).text();
    expect(html).toContain('<meta http-equiv="refresh" content="2"/>');
    expect(html).toMatch(/data-stage="fit"/);
    expect(html).toContain('hospital-a');
    expect(html).toContain('data-status="selected"');
    expect(await (await b.get(`/federations/${G}`)).text()).not.toContain('http-equiv="refresh"');
  });

  it('gives an operator "start round", refused without the CSRF token and done with it', async () => {
    const { b } = await signIn(operatorToken);
    const html = await (await b.get(`/federations/${G}`)).text();
    expect(formsOf(html).filter((f) => f.write).map((f) => f.action)).toEqual([`/federations/${G}/rounds`]);
    expect(formsOf(await (await b.get(`/federations/${F}`)).text()).filter((f) => f.write)).toEqual([]); // round 1 still open
    expect((await b.post(`/federations/${G}/rounds`, {})).status).toBe(403);
    expect((await b.post(`/federations/${G}/rounds`, { csrf: 'forged' })).status).toBe(403);
    expect((await database.db.select().from(rounds).where(eq(rounds.federationId, G))).length).toBe(0);
    const res = await b.post(`/federations/${G}/rounds`, { csrf: await b.csrf(`/federations/${G}`) });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/federations/${G}/rounds/1`);
    expect((await database.db.select().from(rounds).where(eq(rounds.federationId, G))).map((r) => r.number)).toEqual([1]);
  });

  it('answers unknown federations and rounds with an HTML 404, and leaves the API JSON', async () => {
    const { b } = await signIn(auditorToken);
    const res = await b.get('/federations/nope');
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('no federation nope');
    expect((await b.get(`/federations/${F}/rounds/99`)).status).toBe(404);
    expect(await (await app.request(`${BASE}/v1/health`)).json()).toEqual({ ok: true, api: 'v1' });
    expect((await app.request(`${BASE}/v1/federations`)).headers.get('content-type')).toMatch(/json/);
  });
});

describe('privacy spend on the dashboard', () => {
  it('shows each member\'s reported spend per round (round page) and cumulative per member (members page), and puts it in the evidence pack', async () => {
    const zeros = encodeWeights(modelLayout(parseModelSpec(MODEL)).map(({ name, shape }) => ({ name, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) })));
    const spend = (epsilon: number) => JSON.stringify({ mechanism: 'dp-sgd', epsilon, cumulativeEpsilon: epsilon, delta: 1e-5, noiseMultiplier: 1.1, clipNorm: 1, sampleRate: 0.1, steps: 12 });
    const [a, b2] = [membersOfF.get('hospital-a')!, membersOfF.get('hospital-b')!];
    await a.caller.json('PUT', `/v1/federations/${F}/members/${a.memberId}/rounds/1/update`, { body: zeros, headers: { [EXAMPLES_HEADER]: '20', [PRIVACY_HEADER]: spend(0.4321) } });
    await b2.caller.json('PUT', `/v1/federations/${F}/members/${b2.memberId}/rounds/1/update`, { body: zeros, headers: { [EXAMPLES_HEADER]: '30', [PRIVACY_HEADER]: spend(0.5) } });
    // Member-level distributed DP comes with the evaluation (secure rounds carry no plaintext update).
    const memberPrivacy = { mechanism: 'skellam', epsilon: 0.9, cumulativeEpsilon: 1.8765, delta: 1e-5, variance: 1e6, members: 2, l2Sensitivity: 2000 };
    await a.caller.json('PUT', `/v1/federations/${F}/members/${a.memberId}/rounds/1/evaluation`, { body: { examples: 10, correct: 7, lossSum: 4, memberPrivacy } });
    const bad = await b2.caller.send('PUT', `/v1/federations/${F}/members/${b2.memberId}/rounds/1/evaluation`, { body: { examples: 10, correct: 7, lossSum: 4, memberPrivacy: { ...memberPrivacy, epsilon: -1 } } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { field: string } }).error.field).toBe('memberPrivacy.epsilon');

    const { b } = await signIn(auditorToken);
    const round = await (await b.get(`/federations/${F}/rounds/1`)).text();
    expect(round).toContain('<h2>Privacy spend</h2>');
    expect(round).toMatch(/<tr data-member="hospital-a" data-unit="record">.*?dp-sgd.*?0\.432.*?data-epsilon="0\.4321"/s);
    expect(round).toMatch(/<tr data-member="hospital-a" data-unit="member">.*?skellam.*?0\.900.*?data-epsilon="1\.8765"/s);
    expect(round).toMatch(/<tr data-member="hospital-b" data-unit="record">/);
    const members = await (await b.get(`/federations/${F}/members`)).text();
    expect(members).toContain('id="privacy-by-member"');
    expect(members).toMatch(/<tr data-member="hospital-a" data-unit="member">.*?member \(distributed DP\).*?1\.877.*?r1 1\.877/s);
    expect(members).toMatch(/<tr data-member="hospital-b" data-unit="record">.*?0\.500/s);
    const pack = (await (await b.get(`/report?federation=${F}&round=1&format=json`)).json()) as { rounds: { privacySpend: { name: string; unit: string; cumulativeEpsilon: number }[] }[] };
    expect(pack.rounds[0].privacySpend.map((x) => [x.name, x.unit, x.cumulativeEpsilon])).toEqual([['hospital-a', 'record', 0.4321], ['hospital-b', 'record', 0.5], ['hospital-a', 'member', 1.8765]]);
    const html = await (await b.get(`/report?federation=${F}&round=1&format=html`)).text();
    expect(html).toContain('<td>hospital-a</td><td>member</td><td>skellam</td><td>0.9000</td><td>1.8765</td>');
  });
});

describe('ledger and evidence on the dashboard', () => {
  it('downloads the evidence pack (HTML and JSON) and records the auditor read', async () => {
    const { b } = await signIn(auditorToken);
    const res = await b.get(`/report?federation=${F}&round=1&format=html`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="tessera-evidence-round-1.html"');
    expect(await res.text()).toContain('Tessera evidence pack: round 1');
    const json = (await (await b.get(`/report?federation=${F}&round=1&format=json`)).json()) as { type: string; rounds: { round: number }[] };
    expect(json.type).toBe('tessera.evidence-pack/1');
    expect(json.rounds.map((r) => r.round)).toEqual([1]);
    expect((await b.get('/report?round=&since=')).status).toBe(400);
    const reads = await database.db.select().from(auditEvents).where(eq(auditEvents.kind, 'audit.read'));
    expect(reads.some((e) => e.actor === `auditor:${auditorId}` && (e.payload as { what: string; via: string }).what === 'report')).toBe(true);
  });

  it('verifies the chain, refuses a forged CSRF token, and names the first bad entry after tampering', async () => {
    const { b } = await signIn(auditorToken);
    expect((await b.post('/ledger/verify', { csrf: 'forged' })).status).toBe(403);
    const ok = await b.post('/ledger/verify', { csrf: await b.csrf('/ledger') });
    expect(ok.status).toBe(200);
    const okHtml = await ok.text();
    expect(okHtml).toContain('id="verify-result" data-ok="true"');
    expect(okHtml).toContain('Ledger verified.');

    await database.db.execute(sql`update audit_events set payload = jsonb_set(payload, '{label}', '"someone else"') where seq = 3`);
    const bad = await b.post('/ledger/verify', { csrf: await b.csrf('/ledger') });
    const html = await bad.text();
    expect(html).toContain('data-ok="false"');
    expect(html).toContain('Verification FAILED at entry 3');
    expect(html).toMatch(/<tr id="seq-3" class="bad"/);
  });
});
