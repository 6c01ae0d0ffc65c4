import { describe, expect, it } from 'vitest';
import { TesseraError } from '../core/errors.ts';
import { parseDatasetSpec } from './dataset-spec.ts';

const base = { header: false, columns: ['a', 'b', 'y'], label: { column: 'y', op: '>', value: 0 } };

function fieldOf(input: unknown): string | undefined {
  try {
    parseDatasetSpec(input);
  } catch (err) {
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).code).toBe('BAD_DATASET');
    expect((err as TesseraError).message.startsWith(`${(err as TesseraError).field}: expected`)).toBe(true);
    return (err as TesseraError).field;
  }
  return undefined;
}

describe('parseDatasetSpec', () => {
  it('fills defaults', () => {
    const spec = parseDatasetSpec(base);
    expect(spec).toMatchObject({ delimiter: ',', missing: [], filter: [], drop: [], features: null, categorical: {}, standardize: 'all', split: { testFraction: 0.2, stratify: true, seed: 0 } });
  });

  it('accepts one filter or a list, and class labels', () => {
    expect(parseDatasetSpec({ ...base, filter: { column: 'a', in: [1, 'x'] } }).filter).toEqual([{ column: 'a', in: [1, 'x'] }]);
    expect(parseDatasetSpec({ ...base, label: { column: 2, classes: ['u', 'v', 'w'] } }).label).toEqual({ column: 2, classes: ['u', 'v', 'w'] });
  });

  it.each([
    [null, 'dataset'],
    [{ ...base, colour: 1 }, 'colour'],
    [{ ...base, format: 'parquet' }, 'format'],
    [{ ...base, header: 'yes' }, 'header'],
    [{ ...base, delimiter: ',,' }, 'delimiter'],
    [{ ...base, columns: ['a', 'a', 'y'] }, 'columns'],
    [{ ...base, missing: '?' }, 'missing'],
    [{ ...base, drop: ['a', -1] }, 'drop[1]'],
    [{ ...base, label: undefined }, 'label'],
    [{ ...base, label: { column: '', op: '>', value: 0 } }, 'label.column'],
    [{ ...base, label: { column: 'y', op: '=>', value: 0 } }, 'label.op'],
    [{ ...base, label: { column: 'y', op: '>', value: 'high' } }, 'label.value'],
    [{ ...base, label: { column: 'y', classes: ['only'] } }, 'label.classes'],
    [{ ...base, filter: [{ column: 'a', in: [] }] }, 'filter[0].in'],
    [{ ...base, features: [] }, 'features'],
    [{ ...base, categorical: { a: [1, 1] } }, 'categorical.a'],
    [{ ...base, standardize: true }, 'standardize'],
    [{ ...base, split: { testFraction: 1 } }, 'split.testFraction'],
    [{ ...base, split: { seed: -1 } }, 'split.seed'],
    [{ ...base, split: { train: 0.5 } }, 'split.train'],
  ])('names the bad field (%#)', (input, field) => {
    expect(fieldOf(input)).toBe(field);
  });
});
