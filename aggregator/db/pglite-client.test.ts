/** oneTripClient answers exactly as PGlite.query does, in one protocol exchange per statement. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Transaction } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hexBytea, oneTripClient } from './pglite-client.ts';

/** Counts PGlite's own wasm exchanges (execProtocolStream is what PGlite.query calls per message). */
function countExchanges(pg: PGlite): () => number {
  let n = 0;
  const original = pg.execProtocolStream.bind(pg);
  pg.execProtocolStream = (message, options) => {
    n++;
    return original(message, options);
  };
  return () => n;
}

describe('oneTripClient', () => {
  let pg: PGlite;
  let exchanges: () => number;
  beforeAll(async () => {
    pg = new PGlite(hexBytea);
    await pg.waitReady;
    await pg.exec(`create table t (id text primary key, n integer, big bigint, ok boolean, raw bytea, doc jsonb, at timestamptz default '2026-01-02T03:04:05Z', amount numeric)`);
    exchanges = countExchanges(pg);
  });
  afterAll(() => pg.close());

  it('gives the same rows, fields and counts as PGlite.query, in one exchange per statement', async () => {
    const client = oneTripClient(pg);
    const raw = new Uint8Array([0, 1, 254, 255, 92, 120]);
    const rows: unknown[][] = [
      ['a', 1, 2n ** 40n, true, raw, '{"k":[1,"x"]}', '12.50'],
      ['b', -7, 0n, false, new Uint8Array(0), 'null', null],
      ["c'; drop table t; --", null, null, null, null, null, '1e3'],
    ];
    for (const [i, r] of rows.entries()) {
      const before = exchanges();
      const insert = 'insert into t (id, n, big, ok, raw, doc, amount) values ($1, $2, $3, $4, $5, $6, $7)';
      // Alternate the two paths for the writes, then read each row both ways.
      const res = i % 2 === 0 ? await client.query(insert, r) : await pg.query(insert, r);
      expect(res.affectedRows).toBe(1);
      expect(exchanges() - before).toBe(i % 2 === 0 ? 1 : 6);
    }
    for (const rowMode of ['object', 'array'] as const) {
      for (const r of rows) {
        const sql = 'select *, $2::int + 1 as next, $3::bool as flag from t where id = $1';
        const params = [r[0], 41, false];
        const before = exchanges();
        const fast = await client.query(sql, params, { rowMode });
        expect(exchanges() - before).toBe(1);
        const slow = await pg.query(sql, params, { rowMode });
        expect(fast.rows).toEqual(slow.rows);
        expect(fast.fields).toEqual(slow.fields);
        expect(fast.rows).toHaveLength(1);
      }
    }
    const a = (await client.query<{ raw: Uint8Array; big: number; doc: unknown; n: number }>('select * from t where id = $1', ['a'])).rows[0];
    expect(Buffer.from(a.raw).equals(Buffer.from(raw))).toBe(true);
    expect(a).toMatchObject({ big: 2 ** 40, doc: { k: [1, 'x'] }, n: 1 });
    // Parsers passed with a query take precedence for their types only, as in PGlite.query.
    const own = { rowMode: 'array' as const, parsers: { 23: (v: string) => `int:${v}`, 1184: (v: string) => v } };
    const sql = 'select n, at, big, raw from t where id = $1';
    const before = exchanges();
    const fast = await client.query(sql, ['a'], own);
    expect(exchanges() - before).toBe(1);
    expect(fast.rows).toEqual((await pg.query(sql, ['a'], own)).rows);
    expect(fast.rows[0]).toEqual(['int:1', expect.stringMatching(/^2026-01-02 03:04:05/), 2 ** 40, raw]);
    const upd = await client.query('update t set n = n + $1 where n is not null', [10]);
    expect(upd.affectedRows).toBe(2);
    expect((await client.query('select 1 where false')).rows).toEqual([]);
  });

  it('hands a parameter only PGlite can serialise (a Date, an array) to PGlite.query', async () => {
    const client = oneTripClient(pg);
    const before = exchanges();
    const res = await client.query<{ id: string }>('select id from t where at = $1 and id = any($2) order by id', [new Date('2026-01-02T03:04:05Z'), ['a', 'b']]);
    expect(res.rows.map((r) => r.id)).toEqual(['a', 'b']);
    expect(exchanges() - before).toBeGreaterThan(1);
  });

  it('throws the server error with its code and leaves the session usable', async () => {
    const client = oneTripClient(pg);
    await expect(client.query('insert into t (id) values ($1)', ['a'])).rejects.toMatchObject({ code: '23505' });
    await expect(client.query('selec 1')).rejects.toMatchObject({ code: '42601' });
    expect((await client.query<{ n: number }>('select count(*)::int as n from t')).rows[0].n).toBe(3);
  });

  it('keeps transactions: rolled back on error, committed otherwise, and others wait for them', async () => {
    const client = oneTripClient(pg);
    await expect(
      client.transaction(async (tx) => {
        await tx.query('insert into t (id) values ($1)', ['rolled-back']);
        await tx.query('insert into t (id) values ($1)', ['a']);
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect((await client.query('select 1 from t where id = $1', ['rolled-back'])).rows).toEqual([]);

    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let inside!: Transaction;
    const txDone = client.transaction(async (tx) => {
      inside = tx;
      await tx.query('insert into t (id) values ($1)', ['committed']);
      await held;
      return (await tx.query<{ n: number }>('select count(*)::int as n from t')).rows[0].n;
    });
    const outside = client.query<{ n: number }>('select count(*)::int as n from t where id = $1', ['committed']);
    await new Promise((r) => setTimeout(r, 50));
    release();
    expect(await txDone).toBe(4);
    // The outside read waited for the transaction and sees its commit.
    expect((await outside).rows[0].n).toBe(1);
    await expect(inside.query('select 1', [1])).rejects.toThrow(/closed/);
  });

  it('writes a folder-backed database through to disk after each statement', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-pglite-client-'));
    try {
      const first = new PGlite(dir, hexBytea);
      await first.exec('create table k (id text primary key, v bytea)');
      await oneTripClient(first).query('insert into k values ($1, $2)', ['x', new Uint8Array([7, 8, 9])]);
      await first.close();
      const second = new PGlite(dir, hexBytea);
      const row = (await oneTripClient(second).query<{ v: Uint8Array }>('select v from k where id = $1', ['x'])).rows[0];
      expect([...row.v]).toEqual([7, 8, 9]);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
