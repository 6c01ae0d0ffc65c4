/**
 * @module The access matrix: every route x every role, expecting exactly the answers documented in
 * docs/compliance.md. Run on each database (access.pglite.test.ts, access.postgres.test.ts).
 *
 * Fixture: federation F (members m1 and m2, round 1 open in its fit stage), federation G (member x).
 * Roles: operator, auditor, member (m1, on its own paths), peer (m2: same federation, m1's paths),
 * outsider (x: another federation), anonymous. Bodies are deliberately invalid, so a role that may
 * call a route gets 400 (or 409/404 from the fixture's state) and nothing changes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelSpec } from '../core/model.ts';
import { createApp } from './app.ts';
import { issueCredential } from './credentials.ts';
import type { Database } from './db/database.ts';
import type { Caller } from './test-caller.ts';
import { caller, enrollMember } from './test-caller.ts';

const MODEL: ModelSpec = { kind: 'mlp', inputs: 2, hidden: [2], outputs: 1, activation: 'relu' };
const ROLES = ['operator', 'auditor', 'member', 'peer', 'outsider', 'anonymous'] as const;
type RoleName = (typeof ROLES)[number];

/** [method, path (F = federation F, M = member m1), body, expected status per role in ROLES order]. */
export const ACCESS_MATRIX: [string, string, unknown, number[]][] = [
  ['GET', '/v1/health', undefined, [200, 200, 200, 200, 200, 200]],
  ['GET', '/v1/ledger/public-key', undefined, [200, 200, 200, 200, 200, 200]],
  ['POST', '/v1/federations', {}, [400, 403, 403, 403, 403, 401]],
  ['GET', '/v1/federations', undefined, [200, 200, 403, 403, 403, 401]],
  ['GET', '/v1/federations/F', undefined, [200, 200, 200, 200, 403, 401]],
  ['POST', '/v1/federations/F/invitations', {}, [400, 403, 403, 403, 403, 401]],
  ['POST', '/v1/federations/F/enroll', {}, [400, 400, 400, 400, 400, 400]],
  ['GET', '/v1/federations/F/members', undefined, [200, 200, 403, 403, 403, 401]],
  ['POST', '/v1/federations/F/rounds', undefined, [409, 403, 403, 403, 403, 401]],
  ['GET', '/v1/federations/F/rounds', undefined, [200, 200, 200, 200, 403, 401]],
  ['GET', '/v1/federations/F/rounds/1', undefined, [200, 200, 403, 403, 403, 401]],
  ['GET', '/v1/federations/F/models/0', undefined, [200, 200, 200, 200, 403, 401]],
  ['GET', '/v1/federations/F/members/M/round', undefined, [403, 403, 200, 403, 403, 401]],
  ['PUT', '/v1/federations/F/members/M/rounds/1/update', new Uint8Array([1, 2, 3]), [403, 403, 400, 403, 403, 401]],
  ['PUT', '/v1/federations/F/members/M/rounds/1/evaluation', {}, [403, 403, 400, 403, 403, 401]],
  ['GET', '/v1/federations/F/members/M/receipts', undefined, [403, 403, 200, 403, 403, 401]],
  ['GET', '/v1/federations/F/members/M/keys', undefined, [403, 403, 200, 403, 403, 401]],
  ['POST', '/v1/federations/F/keys/rotate', undefined, [201, 403, 403, 403, 403, 401]],
  ['PUT', '/v1/federations/F/members/M/rounds/1/update-url', {}, [403, 403, 400, 403, 403, 401]],
  ['PUT', '/v1/federations/F/members/M/rounds/1/fetch-report', {}, [403, 403, 400, 403, 403, 401]],
  ['PUT', '/v1/federations/F/members/M/rounds/1/decline', {}, [403, 403, 400, 403, 403, 401]],
  ['PUT', '/v1/federations/F/members/M/rounds/1/secagg/advertise_keys', {}, [403, 403, 400, 403, 403, 401]],
  ['PUT', '/v1/federations/F/members/M/rounds/1/secagg/advertise_keys/refusal', {}, [403, 403, 400, 403, 403, 401]],
  ['PUT', '/v1/federations/F/members/M/rounds/1/secagg/masked_input/url', {}, [403, 403, 400, 403, 403, 401]],
  // Revocation needs a reason: the empty body leaves m1 enrolled for the rows below.
  ['POST', '/v1/federations/F/members/M/revoke', {}, [400, 403, 403, 403, 403, 401]],
  ['GET', '/v1/federations/F/models/0/replicas', undefined, [200, 200, 403, 403, 403, 401]],
  ['POST', '/v1/auditors', {}, [400, 403, 403, 403, 403, 401]],
  ['GET', '/v1/auditors', undefined, [200, 403, 403, 403, 403, 401]],
  ['DELETE', '/v1/auditors/no-such-auditor', undefined, [404, 403, 403, 403, 403, 401]],
  ['GET', '/v1/ledger', undefined, [200, 200, 403, 403, 403, 401]],
  ['GET', '/v1/ledger/verify', undefined, [200, 200, 403, 403, 403, 401]],
  ['GET', '/v1/ledger/export', undefined, [200, 200, 403, 403, 403, 401]],
  ['GET', '/v1/ledger/report?round=1&format=json', undefined, [200, 200, 403, 403, 403, 401]],
  // The dashboard authenticates by its own session cookie only: bearer and signed headers do not
  // apply there, so every caller here gets the signed-out answer (see docs/dashboard.md).
  ['GET', '/sign-in', undefined, [200, 200, 200, 200, 200, 200]],
  ['POST', '/sign-in', {}, [403, 403, 403, 403, 403, 403]],
  ['POST', '/sign-out', undefined, [401, 401, 401, 401, 401, 401]],
  ['GET', '/', undefined, [303, 303, 303, 303, 303, 303]],
  ['GET', '/federations/F', undefined, [303, 303, 303, 303, 303, 303]],
  ['POST', '/federations/F/rounds', undefined, [401, 401, 401, 401, 401, 401]],
  ['GET', '/federations/F/members', undefined, [303, 303, 303, 303, 303, 303]],
  ['GET', '/federations/F/rounds/1', undefined, [303, 303, 303, 303, 303, 303]],
  ['GET', '/ledger', undefined, [303, 303, 303, 303, 303, 303]],
  ['POST', '/ledger/verify', undefined, [401, 401, 401, 401, 401, 401]],
  ['GET', '/report?round=1', undefined, [303, 303, 303, 303, 303, 303]],
];

export function defineAccessSuite(kind: string, open: () => Promise<Database>): void {
  describe(`access matrix on ${kind}`, () => {
    let database: Database;
    const now = () => Date.parse('2026-03-01T00:00:00Z');
    let app: ReturnType<typeof createApp>['app'];
    const as = {} as Record<RoleName, Caller>;
    let F: string;
    let M: string;

    beforeAll(async () => {
      database = await open();
      ({ app } = createApp({ db: database.db, now }));
      const t = (bearer?: string) => caller(app, { bearer });
      as.operator = t((await issueCredential(database.db, 'operator', 'op', 'test', now())).token);
      as.auditor = t((await issueCredential(database.db, 'auditor', 'au', 'test', now())).token);
      as.anonymous = t();
      const federation = async () => (await as.operator.json<{ federation: { id: string } }>('POST', '/v1/federations', { body: { name: 'f', model: MODEL, strategy: 'fedavg', rounds: 2, minMembers: 2, deadlines: { fit: 60, evaluate: 60 }, secure: false } })).federation.id;
      const member = async (fid: string, name: string) => {
        const { invitation } = await as.operator.json<{ invitation: { token: string } }>('POST', `/v1/federations/${fid}/invitations`, { body: { memberName: name } });
        const m = await enrollMember(app, fid, invitation.token, now);
        return { id: m.memberId, t: m.caller };
      };
      F = await federation();
      const G = await federation();
      const m1 = await member(F, 'm1');
      M = m1.id;
      as.member = m1.t;
      as.peer = (await member(F, 'm2')).t;
      as.outsider = (await member(G, 'x')).t;
      await as.operator.json('POST', `/v1/federations/${F}/rounds`);
    });
    afterAll(async () => {
      await database?.close();
    });

    it('covers every route the app serves (a new route must be added here and to docs/compliance.md)', () => {
      const rows = ACCESS_MATRIX.map(([method, path]) => `${method} ${path.split('?')[0]}`);
      const missing = [...new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`))].filter((route) => {
        const [method, path] = route.split(' ');
        const re = new RegExp(`^${method} ${path.replace(/:[^/]+/g, '[^/]+')}$`);
        return !rows.some((row) => re.test(row));
      });
      expect(missing).toEqual([]);
    });

    it('answers every route for every role exactly as documented', async () => {
      const got: string[] = [];
      const want: string[] = [];
      for (const [method, template, body, statuses] of ACCESS_MATRIX) {
        const path = template.replace('/F', `/${F}`).replace('/M/', `/${M}/`);
        for (const [i, role] of ROLES.entries()) {
          const res = await as[role].send(method, path, { body });
          await res.arrayBuffer();
          const status = res.status;
          got.push(`${method} ${template} as ${role}: ${status}`);
          want.push(`${method} ${template} as ${role}: ${statuses[i]}`);
        }
      }
      expect(got).toEqual(want);
    });
  });
}
