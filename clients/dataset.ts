/**
 * @module A member's data, prepared from its CSV by a dataset spec: filter rows, drop columns,
 * drop rows with missing values, encode features (one-hot, drop-first) and the label, split
 * (seeded, stratified) and z-score with the member's own train statistics.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TesseraError } from '../core/errors.ts';
import type { ModelSpec } from '../core/model.ts';
import { createRng } from '../core/random.ts';
import { parseCsv } from './csv.ts';
import type { DataSplit } from './dataset-split.ts';
import { applyStandardizer, fitStandardizer, selectRows, stratifiedSplit } from './dataset-split.ts';
import type { CellValue, ColumnRef, Condition, DatasetSpec } from './dataset-spec.ts';
import { parseDatasetSpec } from './dataset-spec.ts';

export type { DataSplit } from './dataset-split.ts';

/** What a member trains and evaluates on. */
export interface PreparedDataset {
  /** One name per feature; a one-hot feature is `column=level`. */
  featureNames: string[];
  /** 2 for a binary label (y is 0 or 1), else the number of classes (y is the class index). */
  numClasses: number;
  train: DataSplit;
  test: DataSplit;
  stats: DatasetStats;
}

export interface DatasetStats {
  rowsRead: number;
  /** Rows left out by the spec's filter. */
  rowsFiltered: number;
  /** Rows dropped for a missing feature or label. */
  rowsMissing: number;
  rowsUsed: number;
  /** Train statistics of the z-score (0 and 0 for a feature left as is). */
  mean: number[];
  std: number[];
  trainLabelCounts: number[];
  testLabelCounts: number[];
}

function badData(field: string, message: string, details?: Record<string, unknown>): never {
  throw new TesseraError('BAD_DATASET', `${field}: ${message}`, { field, details });
}

const matches = (cell: string, v: CellValue): boolean => (typeof v === 'number' ? cell !== '' && Number(cell) === v : cell === v);

function numberAt(cell: string, row: number, column: string, field: string): number {
  const v = cell === '' ? NaN : Number(cell);
  if (!Number.isFinite(v)) badData(field, `row ${row}, column "${column}": expected a number, got "${cell}" (list it in "missing" if it marks a missing value)`, { row, column });
  return v;
}

function holds(cond: Condition, cell: string, row: number, column: string, field: string): boolean {
  if ('in' in cond) return cond.in.some((v) => matches(cell, v));
  if (cond.op === '==') return matches(cell, cond.value);
  if (cond.op === '!=') return !matches(cell, cond.value);
  const v = numberAt(cell, row, column, field);
  const t = cond.value as number;
  return cond.op === '>' ? v > t : cond.op === '>=' ? v >= t : cond.op === '<' ? v < t : v <= t;
}

/** Applies a validated spec to CSV text. `seed` (default: the spec's split.seed) draws the split. */
export function prepareDataset(spec: DatasetSpec, csvText: string, options: { seed?: number } = {}): PreparedDataset {
  const table = parseCsv(csvText, { header: spec.header, delimiter: spec.delimiter });
  const width = table.header?.length ?? table.rows[0]?.length ?? spec.columns?.length ?? 0;
  if (spec.columns !== null && spec.columns.length !== width) badData('columns', `expected ${width} names (the file has ${width} columns), got ${spec.columns.length}`);
  const names = spec.columns ?? table.header ?? Array.from({ length: width }, (_, i) => `col${i}`);
  const resolve = (ref: ColumnRef, field: string): number => {
    const i = typeof ref === 'number' ? ref : names.indexOf(ref);
    if (i < 0 || i >= width) badData(field, `expected a column name or index present in the file (columns: ${names.join(', ')})`);
    return i;
  };
  const filter = spec.filter.map((c, i) => ({ cond: c, col: resolve(c.column, spec.filter.length === 1 ? 'filter.column' : `filter[${i}].column`) }));
  const dropped = new Set(spec.drop.map((c, i) => resolve(c, `drop[${i}]`)));
  const labelCol = resolve(spec.label.column, 'label.column');
  if (dropped.has(labelCol)) badData('label.column', `expected a column that is not dropped ("${names[labelCol]}" is in "drop")`);
  const featureCols = spec.features === null
    ? names.map((_, i) => i).filter((i) => i !== labelCol && !dropped.has(i))
    : spec.features.map((c, i) => {
      const col = resolve(c, `features[${i}]`);
      if (dropped.has(col) || col === labelCol) badData(`features[${i}]`, `expected a column that is neither dropped nor the label, got "${names[col]}"`);
      return col;
    });
  if (featureCols.length === 0) badData('features', 'at least one feature column');
  const levelsOf = new Map<number, CellValue[]>();
  for (const [key, levels] of Object.entries(spec.categorical)) {
    const col = names.includes(key) ? names.indexOf(key) : /^\d+$/.test(key) ? Number(key) : -1;
    if (!featureCols.includes(col)) badData(`categorical.${key}`, 'expected a feature column of the file');
    levelsOf.set(col, levels);
  }
  const featureNames: string[] = [];
  for (const col of featureCols) {
    const levels = levelsOf.get(col);
    if (levels === undefined) featureNames.push(names[col]);
    else for (const level of levels.slice(1)) featureNames.push(`${names[col]}=${level}`);
  }
  const f = featureNames.length;
  const label = spec.label;
  const numClasses = 'classes' in label ? label.classes.length : 2;
  const missing = new Set(spec.missing);
  const xs: number[] = [];
  const ys: number[] = [];
  let rowsFiltered = 0;
  let rowsMissing = 0;
  table.rows.forEach((cells, r) => {
    const row = r + 1;
    if (!filter.every(({ cond, col }) => !missing.has(cells[col]) && holds(cond, cells[col], row, names[col], 'filter'))) { rowsFiltered++; return; }
    if (missing.has(cells[labelCol]) || featureCols.some((c) => missing.has(cells[c]))) { rowsMissing++; return; }
    for (const col of featureCols) {
      const levels = levelsOf.get(col);
      if (levels === undefined) { xs.push(numberAt(cells[col], row, names[col], `features`)); continue; }
      const k = levels.findIndex((v) => matches(cells[col], v));
      if (k < 0) badData(`categorical.${names[col]}`, `row ${row}: value "${cells[col]}" is not one of the levels ${levels.join(', ')}`, { row, column: names[col] });
      for (let j = 1; j < levels.length; j++) xs.push(j === k ? 1 : 0);
    }
    if ('classes' in label) {
      const k = label.classes.findIndex((v) => matches(cells[labelCol], v));
      if (k < 0) badData('label.classes', `row ${row}: value "${cells[labelCol]}" is not one of the classes ${label.classes.join(', ')}`, { row });
      ys.push(k);
    } else {
      ys.push(holds(label, cells[labelCol], row, names[labelCol], 'label') ? 1 : 0);
    }
  });
  const n = ys.length;
  if (n < 2) badData('file', `expected at least 2 usable rows, got ${n} (${table.rows.length} read, ${rowsFiltered} filtered out, ${rowsMissing} with missing values)`);
  const x = Float32Array.from(xs);
  const y = Float32Array.from(ys);
  const rng = createRng(options.seed ?? spec.split.seed);
  const rows = stratifiedSplit(y, numClasses, spec.split.testFraction, spec.split.stratify, rng);
  const train = selectRows(x, y, f, rows.train);
  const test = selectRows(x, y, f, rows.test);
  const standardized = featureCols.flatMap((col) => {
    const width = levelsOf.has(col) ? levelsOf.get(col)!.length - 1 : 1;
    const on = spec.standardize === 'all' || (spec.standardize === 'numeric' && !levelsOf.has(col));
    return new Array<boolean>(width).fill(on);
  });
  const { mean, std } = fitStandardizer(train, standardized);
  applyStandardizer(train, { mean, std });
  applyStandardizer(test, { mean, std });
  const counts = (s: DataSplit): number[] => {
    const c = new Array<number>(numClasses).fill(0);
    for (let i = 0; i < s.n; i++) c[s.y[i]]++;
    return c;
  };
  return {
    featureNames, numClasses, train, test,
    stats: { rowsRead: table.rows.length, rowsFiltered, rowsMissing, rowsUsed: n, mean, std, trainLabelCounts: counts(train), testLabelCounts: counts(test) },
  };
}

/** Reads a spec file (JSON) and its CSV (the spec's `file`, relative to the spec, unless `csvPath` is given). */
export async function loadDataset(specPath: string, options: { csvPath?: string; seed?: number } = {}): Promise<PreparedDataset> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(specPath, 'utf8'));
  } catch (err) {
    throw new TesseraError('BAD_DATASET', `dataset spec ${specPath}: ${(err as Error).message}`, { field: 'dataset' });
  }
  const spec = parseDatasetSpec(raw);
  const csvPath = options.csvPath ?? (spec.file === undefined ? undefined : path.resolve(path.dirname(specPath), spec.file));
  if (csvPath === undefined) badData('file', 'expected the CSV path, in the spec ("file") or from the caller');
  let text: string;
  try {
    text = await readFile(csvPath, 'utf8');
  } catch (err) {
    throw new TesseraError('BAD_DATASET', `file: cannot read ${csvPath}: ${(err as Error).message}`, { field: 'file' });
  }
  return prepareDataset(spec, text, { seed: options.seed });
}

/** Throws BAD_DATASET when the federation's model cannot take this dataset's features or labels. */
export function assertDatasetFitsModel(data: Pick<PreparedDataset, 'featureNames' | 'numClasses'>, model: ModelSpec): void {
  if (model.inputs !== data.featureNames.length) {
    badData('features', `the model takes ${model.inputs} inputs but the dataset spec gives ${data.featureNames.length} features (${data.featureNames.join(', ')})`);
  }
  const fits = model.outputs === data.numClasses || (data.numClasses === 2 && model.outputs === 1);
  if (!fits) badData('label', `the model has ${model.outputs} outputs but the label has ${data.numClasses} classes (a binary label needs 1 output)`);
}
