import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { Slots, UPLOAD_PATH, uploadGate } from './upload-gate.ts';

describe('upload gate', () => {
  it('matches the model-sized member uploads only', () => {
    expect(UPLOAD_PATH.test('/v1/federations/f/members/m/rounds/3/update')).toBe(true);
    expect(UPLOAD_PATH.test('/v1/federations/f/members/m/rounds/3/secagg/masked_input')).toBe(true);
    expect(UPLOAD_PATH.test('/v1/federations/f/members/m/rounds/3/secagg/share_keys')).toBe(false);
    expect(UPLOAD_PATH.test('/v1/federations/f/members/m/rounds/3/update-url')).toBe(true);
    expect(UPLOAD_PATH.test('/v1/federations/f/members/m/rounds/3/secagg/masked_input/url')).toBe(true);
    expect(UPLOAD_PATH.test('/v1/federations/f/members/m/rounds/3/evaluation')).toBe(false);
    expect(UPLOAD_PATH.test('/v1/federations/f/members/m/round')).toBe(false);
  });

  it('lets at most `slots` uploads in at once, the rest in arrival order', async () => {
    const slots = new Slots(2);
    const app = new Hono();
    const order: string[] = [];
    let inside = 0;
    let most = 0;
    const gates: (() => void)[] = [];
    app.use('*', uploadGate(slots));
    app.put('/v1/federations/f/members/:mid/rounds/1/update', async (c) => {
      const body = new Uint8Array(await c.req.arrayBuffer());
      order.push(`${c.req.param('mid')}:${body.length}`);
      most = Math.max(most, ++inside);
      await new Promise<void>((resolve) => gates.push(resolve));
      inside--;
      return c.json({ ok: true });
    });
    app.get('/v1/federations/f/members/:mid/round', (c) => c.json({ view: c.req.param('mid') }));
    const put = (mid: string) => app.request(`/v1/federations/f/members/${mid}/rounds/1/update`, { method: 'PUT', body: new Uint8Array(mid.length * 1000) });
    const answers = ['a', 'bb', 'ccc', 'dddd', 'eeeee'].map(put);
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual(['a:1000', 'bb:2000']);
    expect([slots.busy, slots.queued]).toEqual([2, 3]);
    // Other routes are not held behind the uploads.
    expect(await (await app.request('/v1/federations/f/members/x/round')).json()).toEqual({ view: 'x' });
    while (gates.length > 0 || order.length < 5) {
      gates.shift()?.();
      await new Promise((r) => setTimeout(r, 5));
    }
    for (const res of await Promise.all(answers)) expect(res.status).toBe(200);
    expect(order).toEqual(['a:1000', 'bb:2000', 'ccc:3000', 'dddd:4000', 'eeeee:5000']);
    expect(most).toBe(2);
    expect([slots.busy, slots.queued]).toEqual([0, 0]);
  });

  it('frees the slot when the handler throws', async () => {
    const slots = new Slots(1);
    const app = new Hono();
    app.use('*', uploadGate(slots));
    app.put('/v1/federations/f/members/m/rounds/1/update', () => {
      throw new Error('refused');
    });
    app.onError((_e, c) => c.json({ error: 'refused' }, 400));
    for (let i = 0; i < 3; i++) expect((await app.request('/v1/federations/f/members/m/rounds/1/update', { method: 'PUT', body: 'x' })).status).toBe(400);
    expect(slots.busy).toBe(0);
  });

  it('refuses a size that is not a positive integer, naming the option', () => {
    expect(() => new Slots(0)).toThrow(/^maxConcurrentUploads: expected a positive integer/);
    expect(() => new Slots(1.5)).toThrow(/maxConcurrentUploads/);
  });
});
