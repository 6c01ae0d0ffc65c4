import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TesseraError } from '../core/errors.ts';
import { assertDatasetFitsModel, loadDataset, prepareDataset } from './dataset.ts';
import { parseDatasetSpec } from './dataset-spec.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = path.resolve(root, '../shared/data');
const heartSpec = (h: string): string => path.join(root, 'examples/heart-disease', `${h}.dataset.json`);
const heartFile = (h: string): string => path.join(shared, 'heart-disease', `processed.${h}.data`);
const HOSPITALS = ['cleveland', 'hungarian', 'switzerland', 'va'] as const;

function caught(fn: () => unknown): TesseraError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TesseraError) return err;
    throw err;
  }
  throw new Error('expected a TesseraError');
}

const md5 = (file: string): string => createHash('md5').update(readFileSync(file)).digest('hex');

describe('bundled example data', () => {
  it('is an unchanged copy of the shared UCI files', () => {
    const want: Record<string, string> = {
      'heart-disease/data/processed.cleveland.data': '2d91a8ff69cfd9616aa47b59d6f843db',
      'heart-disease/data/processed.hungarian.data': '22e96bee155b5973568101c93b3705f6',
      'heart-disease/data/processed.switzerland.data': '9a87f7577310b3917730d06ba9349e20',
      'heart-disease/data/processed.va.data': '4249d03ca7711e84f4444768c9426170',
      'credit-default/data/UCI_Credit_Card.csv': 'fabb025087e39c2b755193842e4a8127',
    };
    for (const [file, sum] of Object.entries(want)) expect(md5(path.join(root, 'examples', file)), file).toBe(sum);
  });
});

describe('heart disease, FLamby preprocessing', () => {
  it('gives 13 features and FLamby split sizes 199/104, 172/89, 30/16, 85/45 on the real files', async () => {
    const sizes: [number, number][] = [];
    for (const h of HOSPITALS) {
      const d = await loadDataset(heartSpec(h), { csvPath: heartFile(h) });
      expect(d.featureNames).toEqual(['age', 'sex', 'cp=2', 'cp=3', 'cp=4', 'trestbps', 'chol', 'fbs', 'restecg=1', 'restecg=2', 'thalach', 'exang', 'oldpeak']);
      expect(d.train.x.length).toBe(d.train.n * 13);
      sizes.push([d.train.n, d.test.n]);
    }
    expect(sizes).toEqual([[199, 104], [172, 89], [30, 16], [85, 45]]);
  });

  it('stratifies: each class keeps its share in train and test, for any seed', async () => {
    for (const seed of [1, 2, 3]) {
      const d = await loadDataset(heartSpec('cleveland'), { csvPath: heartFile('cleveland'), seed });
      const [neg, pos] = [d.stats.trainLabelCounts[0] + d.stats.testLabelCounts[0], d.stats.trainLabelCounts[1] + d.stats.testLabelCounts[1]];
      expect([neg, pos]).toEqual([164, 139]);
      expect(Math.abs(d.stats.testLabelCounts[1] - (104 * 139) / 303)).toBeLessThan(1);
    }
  });

  it('is reproducible for a seed and differs across seeds', async () => {
    const a = await loadDataset(heartSpec('hungarian'), { seed: 5 });
    const b = await loadDataset(heartSpec('hungarian'), { seed: 5 });
    const c = await loadDataset(heartSpec('hungarian'), { seed: 6 });
    expect(b.train.x).toEqual(a.train.x);
    expect(c.train.x).not.toEqual(a.train.x);
  });

  it('z-scores with train statistics only', async () => {
    const d = await loadDataset(heartSpec('va'), { csvPath: heartFile('va') });
    const f = 13;
    const meanOf = (x: Float32Array, n: number, j: number): number => { let s = 0; for (let i = 0; i < n; i++) s += x[i * f + j]; return s / n; };
    const stdOf = (x: Float32Array, n: number, j: number): number => { const m = meanOf(x, n, j); let s = 0; for (let i = 0; i < n; i++) s += (x[i * f + j] - m) ** 2; return Math.sqrt(s / (n - 1)); };
    const age = d.featureNames.indexOf('age');
    expect(meanOf(d.train.x, d.train.n, age)).toBeCloseTo(0, 5);
    expect(stdOf(d.train.x, d.train.n, age)).toBeCloseTo(1, 5);
    expect(Math.abs(meanOf(d.test.x, d.test.n, age))).toBeGreaterThan(1e-3);
    // The test rows are transformed with the train mean and std: undo it and find raw ages.
    const raw = Array.from({ length: d.test.n }, (_, i) => d.test.x[i * f + age] * d.stats.std[age] + d.stats.mean[age]);
    for (const v of raw) expect(Math.abs(v - Math.round(v))).toBeLessThan(1e-3);
  });

  it('leaves a constant feature centred (Switzerland records chol as 0)', async () => {
    const d = await loadDataset(heartSpec('switzerland'));
    const chol = d.featureNames.indexOf('chol');
    expect(d.stats.std[chol]).toBe(0);
    for (let i = 0; i < d.train.n; i++) expect(d.train.x[i * 13 + chol]).toBe(0);
  });

  it('fits the logistic model spec and refuses a mismatched one', async () => {
    const d = await loadDataset(heartSpec('cleveland'));
    expect(() => assertDatasetFitsModel(d, { kind: 'logistic', inputs: 13, outputs: 1 })).not.toThrow();
    const err = caught(() => assertDatasetFitsModel(d, { kind: 'logistic', inputs: 12, outputs: 1 }));
    expect(err.code).toBe('BAD_DATASET');
    expect(err.message).toMatch(/takes 12 inputs but the dataset spec gives 13 features/);
    expect(caught(() => assertDatasetFitsModel(d, { kind: 'logistic', inputs: 13, outputs: 3 })).field).toBe('label');
  });
});

describe('dataset spec against the file', () => {
  const csv = 'a,b,c,y\n1,x,5,0\n2,y,?,1\n3,z,7,2\n4,x,8,0\n5,y,9,1\n6,z,1,2\n';
  const spec = (over: Record<string, unknown>): ReturnType<typeof parseDatasetSpec> =>
    parseDatasetSpec({ header: true, missing: ['?'], label: { column: 'y', op: '>', value: 0 }, categorical: { b: ['x', 'y', 'z'] }, split: { testFraction: 0.34 }, ...over });

  it('names a label column absent from the file', () => {
    const err = caught(() => prepareDataset(spec({ label: { column: 'num', op: '>', value: 0 } }), csv));
    expect(err.field).toBe('label.column');
    expect(err.message).toMatch(/^label\.column: expected a column name or index present in the file/);
    expect(caught(() => prepareDataset(spec({ drop: [9] }), csv)).field).toBe('drop[0]');
  });

  it('drops rows with a missing kept value, but not for a dropped column', () => {
    expect(prepareDataset(spec({}), csv).stats.rowsMissing).toBe(1);
    const d = prepareDataset(spec({ drop: ['c'] }), csv);
    expect(d.stats.rowsMissing).toBe(0);
    expect(d.featureNames).toEqual(['a', 'b=y', 'b=z']);
  });

  it('one-hot encodes with drop-first, and refuses a level outside the spec', () => {
    const d = prepareDataset(spec({ drop: ['c'], standardize: 'none' }), csv);
    const rows = [...d.train.x, ...d.test.x];
    expect(rows.length).toBe(18);
    const err = caught(() => prepareDataset(spec({ categorical: { b: ['x', 'y'] } }), csv));
    expect(err.field).toBe('categorical.b');
    expect(err.message).toMatch(/value "z" is not one of the levels x, y/);
  });

  it('reads class labels and filters rows', () => {
    const d = prepareDataset(spec({ drop: ['c'], label: { column: 'y', classes: [0, 1, 2] }, filter: { column: 'a', op: '>=', value: 2 } }), csv);
    expect(d.numClasses).toBe(3);
    expect(d.stats.rowsFiltered).toBe(1);
    expect(d.stats.rowsUsed).toBe(5);
    expect([...d.train.y, ...d.test.y].sort()).toEqual([0, 1, 1, 2, 2]);
  });

  it('refuses a non-numeric cell in a numeric feature, naming row and column', () => {
    const err = caught(() => prepareDataset(spec({ missing: [] }), csv));
    expect(err.message).toMatch(/row 2, column "c": expected a number, got "\?"/);
  });

  it('needs column names or indexes that exist', () => {
    const headerless = parseDatasetSpec({ header: false, columns: ['p', 'q'], label: { column: 'q', op: '==', value: 1 } });
    expect(caught(() => prepareDataset(headerless, '1,2,3\n4,5,6\n')).field).toBe('columns');
    const byIndex = parseDatasetSpec({ header: false, label: { column: 1, op: '==', value: 1 } });
    expect(prepareDataset(byIndex, '1,1\n2,0\n3,1\n4,0\n').featureNames).toEqual(['col0']);
  });
});

describe('credit default, five banks by education', () => {
  it('every bank gets the same 30-feature layout from its own rows', async () => {
    const names: string[][] = [];
    const rows: number[] = [];
    for (const b of ['a', 'b', 'c', 'd', 'e']) {
      const d = await loadDataset(path.join(root, 'examples/credit-default', `bank-${b}.dataset.json`), { csvPath: path.join(shared, 'credit-default/UCI_Credit_Card.csv') });
      names.push(d.featureNames);
      rows.push(d.stats.rowsUsed);
    }
    expect(rows).toEqual([10585, 6869, 7161, 4917, 468]);
    expect(rows.reduce((a, b) => a + b, 0)).toBe(30000);
    expect(names[0].length).toBe(30);
    for (const n of names) expect(n).toEqual(names[0]);
  });
});
