/**
 * The dashboard in headless Chromium (playwright-core) against a real aggregator on loopback: two
 * rounds run by in-process members through the real HTTP API (a third member never shows up and
 * is dropped at the fit deadline), then an auditor signs in, opens a round, verifies the chain,
 * downloads the evidence pack, and finds no write action anywhere; an operator then sees
 * "start round". Screenshots go to test-artifacts/dashboard/ (gitignored).
 *
 * Needs /usr/bin/chromium (`apt-get update && apt-get install -y chromium`; .ci/run installs it).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAggregator } from '../aggregator/server.ts';
import { startAggregator } from '../aggregator/server.ts';
import { enroll, memberTransport } from '../clients/enrollment.ts';
import type { LocalModel } from '../clients/runtime.ts';
import { runMember } from '../clients/runtime.ts';
import { Transport } from '../clients/transport.ts';
import { parsePrivacyConfig } from '../core/privacy/config.ts';
import { planDpSgd } from '../core/privacy/plan.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = resolve('test-artifacts/dashboard');

/** A stand-in trainer whose evaluation improves each round (so the chart has a shape); it reports DP-SGD spend. */
function toyModel(step: number): LocalModel {
  const plan = planDpSgd(parsePrivacyConfig({ noiseMultiplier: 1.1 + step, delta: 1e-5 })!, { batchSize: 16, localEpochs: 1, localSteps: null }, 40, 3);
  return {
    privacyPlan: () => plan,
    async train(global) {
      return { weights: global.map((t) => ({ ...t, data: t.data.map((v) => v + step) })), examples: 40 + Math.round(step * 1000) };
    },
    async evaluate(_weights, { round }) {
      return { examples: 50, correct: Math.min(50, 28 + 6 * round + Math.round(step * 100)), lossSum: 50 * (0.7 - 0.12 * round + step) };
    },
  };
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every form on the page: method, path of its action, and whether it is marked as a write. */
const formsOn = (page: Page) =>
  page.$$eval('form', (forms) => forms.map((f) => ({ method: f.method, action: new URL(f.action).pathname, write: f.hasAttribute('data-write') })));

async function expectNoWriteAction(page: Page): Promise<void> {
  const forms = await formsOn(page);
  expect(forms.filter((f) => f.write), page.url()).toEqual([]);
  expect(forms.filter((f) => f.method === 'post' && f.action !== '/sign-out' && f.action !== '/ledger/verify'), page.url()).toEqual([]);
  expect(await page.getByText(/start round/i).count(), page.url()).toBe(0);
  expect(await page.locator('script').count(), page.url()).toBe(0);
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

describe('the dashboard in headless Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-dashboard-'));
  let aggregator: RunningAggregator;
  let context: BrowserContext | undefined;
  const abort = new AbortController();
  let runs: Promise<unknown>[] = [];
  let fid = '';
  let auditorToken = '';

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    aggregator = await startAggregator({ dataDir: join(dir, 'aggregator'), tickMs: 100, log: () => {} });
    const operator = new Transport({ baseUrl: aggregator.url, bearer: aggregator.operatorToken!, retries: 0 });
    ({ auditor: { token: auditorToken } } = await operator.json<{ auditor: { token: string } }>('POST', '/v1/auditors', { body: { label: 'compliance office' } }));
    const body = { name: 'cardiology', model: { kind: 'mlp', inputs: 4, hidden: [8], outputs: 1 }, rounds: 3, minMembers: 2, deadlines: { fit: 3, evaluate: 20 }, secure: false };
    ({ federation: { id: fid } } = await operator.json<{ federation: { id: string } }>('POST', '/v1/federations', { body }));
    const ids = [];
    for (const name of ['hospital-a', 'hospital-b', 'clinic-c']) {
      const { invitation } = await operator.json<{ invitation: { token: string } }>('POST', `/v1/federations/${fid}/invitations`, { body: { memberName: name } });
      ids.push(await enroll({ aggregatorUrl: aggregator.url, federationId: fid, token: invitation.token }));
    }
    // clinic-c enrolls but never runs: each round drops it at the fit deadline.
    runs = ids.slice(0, 2).map((id, i) =>
      runMember({ transport: memberTransport(id), federationId: fid, memberId: id.memberId, model: toyModel((i + 1) / 100), pollMs: 50, signal: abort.signal }).catch((e: Error) => e),
    );
    for (const r of [1, 2]) {
      await operator.json('POST', `/v1/federations/${fid}/rounds`);
      await waitFor(`round ${r} to close`, async () => (await operator.json<{ round: { status: string } }>('GET', `/v1/federations/${fid}/rounds/${r}`)).round.status !== 'open');
    }
  }, 120_000);

  afterAll(async () => {
    abort.abort();
    await Promise.all(runs);
    await context?.close();
    await aggregator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets an auditor sign in, open a round, verify the chain and download the evidence pack, with no write action', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is required for this test and is missing at ${CHROMIUM}: run \`apt-get update && apt-get install -y chromium\` (the CI script .ci/run does)`);
    const profile = mkdtempSync(join(tmpdir(), 'tessera-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      acceptDownloads: true,
      viewport: { width: 1360, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = context.pages()[0] ?? (await context.newPage());

    // Not signed in: the dashboard sends us to the sign-in page. A bad token is refused.
    await page.goto(`${aggregator.url}/`);
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    await page.fill('#token', 'tsr_au_not-a-real-credential');
    await page.click('button[type=submit]');
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('Unknown or revoked credential');
    await shot(page, '01-sign-in-refused');

    await page.fill('#token', auditorToken);
    await Promise.all([page.waitForURL(`${aggregator.url}/`), page.click('button[type=submit]')]);
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === 'tessera_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(cookies.map((c) => c.value).join(' ')).not.toContain(auditorToken);
    await expect.poll(() => page.locator('#federations').textContent()).toContain('cardiology');
    await expectNoWriteAction(page);
    await shot(page, '02-federations');

    await Promise.all([page.waitForURL(`**/federations/${fid}`), page.click('text=cardiology')]);
    expect(await page.locator('#accuracy-chart svg polyline').count()).toBe(2);
    expect(await page.locator('#loss-chart svg circle').count()).toBe(2);
    expect(await page.locator('#rounds tbody tr').count()).toBe(2);
    await expectNoWriteAction(page);
    await shot(page, '03-federation');

    await Promise.all([page.waitForURL(`**/federations/${fid}/rounds/1`), page.click(`#rounds a[href="/federations/${fid}/rounds/1"]`)]);
    expect(await page.locator('#timeline [data-stage]').evaluateAll((els) => els.map((e) => e.getAttribute('data-stage')))).toEqual(['fit', 'evaluate']);
    const dropped = page.locator('#participants tr[data-member="clinic-c"]');
    expect(await dropped.getAttribute('data-status')).toBe('dropped');
    expect(await dropped.textContent()).toContain('missed the fit deadline');
    expect(await page.locator('#participants tr[data-status="evaluated"]').count()).toBe(2);
    // Each member's reported privacy spend for this round, cumulative at its delta.
    expect(await page.locator('#privacy-spend tbody tr[data-unit="record"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-member')))).toEqual(['hospital-a', 'hospital-b']);
    expect(Number(await page.locator('#privacy-spend tr[data-member="hospital-a"] [data-epsilon]').getAttribute('data-epsilon'))).toBeGreaterThan(0);
    await expectNoWriteAction(page);
    await shot(page, '04-round');

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-report')]);
    const saved = join(ARTIFACTS, 'evidence-round-1.html');
    await download.saveAs(saved);
    const report = readFileSync(saved, 'utf8');
    expect(report).toContain('Tessera evidence pack: round 1');
    expect(report).toContain('Ledger verified');
    expect(report).toContain('clinic-c');
    expect(report).toContain('<h3>Privacy spend</h3>');
    expect(report).toMatch(/<td>hospital-a<\/td><td>record<\/td><td>dp-sgd<\/td>/);

    await page.click('text=Members');
    await page.waitForURL(`**/federations/${fid}/members`);
    expect(await page.locator('#members tbody tr').count()).toBe(3);
    // Cumulative spend per member after each round: two rounds each for the two that trained.
    const trail = await page.locator('#privacy-by-member tr[data-member="hospital-b"]').textContent();
    expect(trail).toMatch(/r1 \d\.\d{3} · r2 \d\.\d{3}/);
    await expectNoWriteAction(page);
    await shot(page, '05-members');

    await Promise.all([page.waitForURL('**/ledger'), page.click('text=Audit ledger')]);
    await expectNoWriteAction(page);
    await Promise.all([page.waitForURL('**/ledger/verify**'), page.click('text=Verify the chain')]);
    expect(await page.locator('#verify-result').getAttribute('data-ok')).toBe('true');
    expect(await page.locator('#verify-result').textContent()).toContain('Ledger verified.');
    await expectNoWriteAction(page);
    await shot(page, '06-ledger-verified');

    // Sign out; an operator, signing in, is offered the next round.
    await Promise.all([page.waitForURL('**/sign-in'), page.click('text=Sign out')]);
    await page.goto(`${aggregator.url}/ledger`);
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    await page.fill('#token', aggregator.operatorToken!);
    await Promise.all([page.waitForURL(`${aggregator.url}/`), page.click('button[type=submit]')]);
    await page.goto(`${aggregator.url}/federations/${fid}`);
    expect(await page.locator('form[data-write="start-round"] button').textContent()).toBe('Start round 3');
    await shot(page, '07-operator-federation');
  }, 120_000);
});
