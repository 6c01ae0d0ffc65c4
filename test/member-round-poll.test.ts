/**
 * @module The member's round view as a long poll (aggregator/routes/member-round.ts) through the
 * real app, database (PGlite) and signed member transport: the ETag names what the member acts
 * on, a conditional request is answered 304 when nothing changed, held while it waits, and
 * answered with the new view once the orchestrator moves the round.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoundAnnouncement } from '../core/rounds.ts';
import { enroll, memberTransport } from '../clients/enrollment.ts';
import { Transport } from '../clients/transport.ts';
import { createApp } from '../aggregator/app.ts';
import { issueCredential } from '../aggregator/credentials.ts';
import type { Database } from '../aggregator/db/database.ts';
import { openTestDatabase } from '../aggregator/db/testing.ts';

type View = { federation: { status: string }; round: RoundAnnouncement | null };

describe('member round view: ETag and long polling', () => {
  let database: Database;
  let app: ReturnType<typeof createApp>['app'];
  let operator: Transport;
  let fid: string;
  const members: { memberId: string; t: Transport }[] = [];
  const fetchApp = ((url: string, init: RequestInit) => app.request(url, init)) as unknown as typeof fetch;
  const path = (i: number, query = '') => `/v1/federations/${fid}/members/${members[i].memberId}/round${query}`;

  beforeAll(async () => {
    database = await openTestDatabase('pglite');
    ({ app } = createApp({ db: database.db }));
    const { token } = await issueCredential(database.db, 'operator', 'poll test operator', 'test');
    operator = new Transport({ baseUrl: 'http://aggregator', bearer: token, fetch: fetchApp, retries: 0 });
    const { federation } = await operator.json<{ federation: { id: string } }>('POST', '/v1/federations', {
      body: { name: 'long poll', model: { kind: 'logistic', inputs: 3, outputs: 1 }, strategy: 'fedavg', rounds: 2, minMembers: 2, deadlines: { fit: 60, evaluate: 60 }, secure: false },
    });
    fid = federation.id;
    for (const name of ['a', 'b']) {
      const { invitation } = await operator.json<{ invitation: { token: string } }>('POST', `/v1/federations/${fid}/invitations`, { body: { memberName: name } });
      const id = await enroll({ aggregatorUrl: 'http://aggregator', federationId: fid, token: invitation.token, fetch: fetchApp });
      members.push({ memberId: id.memberId, t: memberTransport(id, { fetch: fetchApp }) });
    }
  });
  afterAll(async () => {
    await database?.close();
  });

  it('answers 304 to a conditional poll when nothing changed, and a full view to any other tag', async () => {
    const first = await members[0].t.send('GET', path(0));
    const tag = first.headers.get('etag');
    expect(tag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(((await first.json()) as View).round).toBeNull();
    const same = await members[0].t.send('GET', path(0, '?wait=0'), { headers: { 'if-none-match': tag! } });
    expect(same.status).toBe(304);
    const other = await members[0].t.send('GET', path(0), { headers: { 'if-none-match': '"0000"' } });
    expect(other.status).toBe(200);
    expect(other.headers.get('etag')).toBe(tag);
  });

  it('holds a conditional poll until a round opens, then answers with the new view and tag', async () => {
    const tag = (await members[1].t.send('GET', path(1))).headers.get('etag')!;
    let answered = false;
    const held = members[1].t.send('GET', path(1, '?wait=30000'), { headers: { 'if-none-match': tag } }).then((res) => {
      answered = true;
      return res;
    });
    // Another member's request goes through while this one is held.
    expect((await members[0].t.send('GET', path(0))).status).toBe(200);
    expect(answered).toBe(false);
    await operator.json('POST', `/v1/federations/${fid}/rounds`);
    const res = await held;
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).not.toBe(tag);
    const view = (await res.json()) as View;
    expect(view.round).toMatchObject({ round: 1, status: 'open', stage: 'fit', memberStatus: 'selected', progress: { done: 0, of: 2 } });
  });

  it('keeps the tag when only progress changes (another member uploads), and changes it with the member\'s own status', async () => {
    const before = (await members[1].t.send('GET', path(1))).headers.get('etag')!;
    const update = new Uint8Array(await (await members[0].t.send('GET', `/v1/federations/${fid}/models/0`)).arrayBuffer());
    // The model file itself is a valid delta (same layout, finite values).
    await members[0].t.send('PUT', `/v1/federations/${fid}/members/${members[0].memberId}/rounds/1/update`, { body: update, headers: { 'x-tessera-examples': '5' } });
    const afterOther = await members[1].t.send('GET', path(1, '?wait=0'), { headers: { 'if-none-match': before } });
    expect(afterOther.status).toBe(304);
    const mine = await members[0].t.send('GET', path(0));
    expect(((await mine.json()) as View).round).toMatchObject({ memberStatus: 'submitted', progress: { done: 1, of: 2 } });
  });

  it('ends a held poll early when the request is aborted', async () => {
    const tag = (await members[1].t.send('GET', path(1))).headers.get('etag')!;
    const abort = new AbortController();
    const held = members[1].t.send('GET', path(1, '?wait=30000'), { headers: { 'if-none-match': tag }, signal: abort.signal }).then(
      (res) => res.status,
      (e: unknown) => (e as Error).name,
    );
    abort.abort();
    expect([304, 'AbortError']).toContain(await held);
  });
});

