import { describe, expect, it } from 'vitest';
import { TesseraError } from '../core/errors.ts';
import { parseCsv } from './csv.ts';

describe('parseCsv', () => {
  it('reads a header, quoted fields, doubled quotes, CRLF and skips blank lines', () => {
    const t = parseCsv('a,b,c\r\n1,"x, y",3\r\n\r\n4,"say ""hi""", 6 \n', { header: true });
    expect(t.header).toEqual(['a', 'b', 'c']);
    expect(t.rows).toEqual([['1', 'x, y', '3'], ['4', 'say "hi"', '6']]);
  });

  it('reads headerless files with another delimiter', () => {
    expect(parseCsv('1;2\n3;?\n', { header: false, delimiter: ';' })).toEqual({ header: null, rows: [['1', '2'], ['3', '?']] });
  });

  it('names the line of a row with the wrong number of fields', () => {
    const err = (() => { try { parseCsv('1,2\n3,4\n5\n', { header: false }); } catch (e) { return e; } })() as TesseraError;
    expect(err).toBeInstanceOf(TesseraError);
    expect(err.code).toBe('BAD_DATASET');
    expect(err.message).toContain('line 3');
  });

  it('refuses an unterminated quote', () => {
    expect(() => parseCsv('1,"2\n', { header: false })).toThrow(/unterminated/);
  });
});
