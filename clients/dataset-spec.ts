/**
 * @module The dataset spec: how a member turns its CSV file into features and labels. Validated
 * here with errors that name the field (code BAD_DATASET); applied in dataset.ts.
 */
import { TesseraError } from '../core/errors.ts';

/** A column, by name (from `columns` or the header) or by 0-based index. */
export type ColumnRef = string | number;

/** A categorical level or a compared value; numbers match cells numerically ("1.0" equals 1). */
export type CellValue = string | number;

export const COMPARISONS = ['>', '>=', '<', '<=', '==', '!='] as const;
export type Comparison = (typeof COMPARISONS)[number];

/** A condition on one cell: a comparison, or membership in a list. */
export type Condition =
  | { column: ColumnRef; op: Comparison; value: CellValue }
  | { column: ColumnRef; in: CellValue[] };

/** Binary: y = 1 where the condition holds. Classes: y = the index of the cell in `classes`. */
export type LabelRule = Condition | { column: ColumnRef; classes: CellValue[] };

export type Standardize = 'all' | 'numeric' | 'none';

export interface DatasetSpec {
  /** Free text for humans. */
  description?: string;
  /** Path of the CSV, relative to the spec file; a caller may pass its own path instead. */
  file?: string;
  /** Whether the first line names the columns. */
  header: boolean;
  delimiter: string;
  /** Column names; required without a header; with a header, they rename its columns. */
  columns: string[] | null;
  /** Cell values that mean "missing"; rows with a missing kept cell are dropped. */
  missing: string[];
  /** Only rows meeting every condition are read (may name dropped columns). */
  filter: Condition[];
  /** Columns removed before the missing-value check. */
  drop: ColumnRef[];
  label: LabelRule;
  /** Feature columns in order; default: every column not dropped and not the label. */
  features: ColumnRef[] | null;
  /** Categorical columns and their levels; one-hot with the first level dropped. */
  categorical: Record<string, CellValue[]>;
  /** Which features get the z-score from the member's own train split. */
  standardize: Standardize;
  split: { testFraction: number; stratify: boolean; seed: number };
}

function bad(field: string, expected: string): never {
  throw new TesseraError('BAD_DATASET', `${field}: expected ${expected}`, { field });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isColumnRef = (v: unknown): v is ColumnRef => (typeof v === 'string' && v.length > 0) || (Number.isInteger(v) && (v as number) >= 0);
const isCell = (v: unknown): v is CellValue => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));

function column(v: unknown, field: string): ColumnRef {
  if (!isColumnRef(v)) bad(field, 'a column name or a 0-based column index');
  return v;
}

function cells(v: unknown, field: string, min = 1): CellValue[] {
  if (!Array.isArray(v) || v.length < min || !v.every(isCell)) bad(field, `a list of at least ${min} strings or numbers`);
  const seen = new Set(v.map((c) => String(c)));
  if (seen.size !== v.length) bad(field, 'distinct values');
  return [...v];
}

function condition(v: unknown, field: string): Condition {
  if (!isObject(v)) bad(field, 'an object {column, op, value} or {column, in}');
  const col = column(v.column, `${field}.column`);
  if ('in' in v) return { column: col, in: cells(v.in, `${field}.in`) };
  if (!COMPARISONS.includes(v.op as Comparison)) bad(`${field}.op`, `one of ${COMPARISONS.join(' ')} (or use "in")`);
  const op = v.op as Comparison;
  if (!isCell(v.value)) bad(`${field}.value`, 'a string or a number');
  if (typeof v.value === 'string' && op !== '==' && op !== '!=') bad(`${field}.value`, `a number for "${op}"`);
  return { column: col, op, value: v.value };
}

const KNOWN = ['description', 'file', 'format', 'header', 'delimiter', 'columns', 'missing', 'filter', 'drop', 'label', 'features', 'categorical', 'standardize', 'split'];

/** Validates an untrusted dataset spec (parsed JSON), filling defaults; throws BAD_DATASET naming the field. */
export function parseDatasetSpec(input: unknown): DatasetSpec {
  if (!isObject(input)) bad('dataset', 'an object');
  const o = input;
  const unknown = Object.keys(o).find((k) => !KNOWN.includes(k));
  if (unknown !== undefined) bad(unknown, `no such field (known: ${KNOWN.join(', ')})`);
  if (o.format !== undefined && o.format !== 'csv') bad('format', '"csv"');
  if (o.description !== undefined && typeof o.description !== 'string') bad('description', 'a string');
  if (o.file !== undefined && (typeof o.file !== 'string' || o.file.length === 0)) bad('file', 'a path relative to the spec file');
  const header = o.header ?? false;
  if (typeof header !== 'boolean') bad('header', 'true or false');
  const delimiter = o.delimiter ?? ',';
  if (typeof delimiter !== 'string' || delimiter.length !== 1 || delimiter === '"' || delimiter === '\n') bad('delimiter', 'one character other than a quote or newline');
  let columns: string[] | null = null;
  if (o.columns !== undefined) {
    if (!Array.isArray(o.columns) || o.columns.length === 0 || !o.columns.every((c) => typeof c === 'string' && c.length > 0)) bad('columns', 'a list of non-empty column names');
    if (new Set(o.columns).size !== o.columns.length) bad('columns', 'distinct column names');
    columns = [...(o.columns as string[])];
  }
  const missing = o.missing ?? [];
  if (!Array.isArray(missing) || !missing.every((m) => typeof m === 'string')) bad('missing', 'a list of strings, e.g. ["?", ""]');
  const filterIn = o.filter === undefined ? [] : Array.isArray(o.filter) ? o.filter : [o.filter];
  const filter = filterIn.map((c, i) => condition(c, Array.isArray(o.filter) ? `filter[${i}]` : 'filter'));
  const drop = o.drop ?? [];
  if (!Array.isArray(drop)) bad('drop', 'a list of column names or indexes');
  drop.forEach((c, i) => column(c, `drop[${i}]`));
  if (!isObject(o.label)) bad('label', 'an object {column, op, value}, {column, in} or {column, classes}');
  const label: LabelRule = 'classes' in o.label
    ? { column: column(o.label.column, 'label.column'), classes: cells(o.label.classes, 'label.classes', 2) }
    : condition(o.label, 'label');
  let features: ColumnRef[] | null = null;
  if (o.features !== undefined) {
    if (!Array.isArray(o.features) || o.features.length === 0) bad('features', 'a non-empty list of column names or indexes');
    features = o.features.map((c, i) => column(c, `features[${i}]`));
  }
  const categorical: Record<string, CellValue[]> = {};
  if (o.categorical !== undefined) {
    if (!isObject(o.categorical)) bad('categorical', 'an object mapping a column to its list of levels');
    for (const [name, levels] of Object.entries(o.categorical)) categorical[name] = cells(levels, `categorical.${name}`, 2);
  }
  const standardize = o.standardize ?? 'all';
  if (standardize !== 'all' && standardize !== 'numeric' && standardize !== 'none') bad('standardize', '"all", "numeric" or "none"');
  const split = o.split ?? {};
  if (!isObject(split)) bad('split', 'an object {testFraction, stratify, seed}');
  const testFraction = split.testFraction ?? 0.2;
  if (typeof testFraction !== 'number' || !(testFraction > 0 && testFraction < 1)) bad('split.testFraction', 'a number strictly between 0 and 1');
  const stratify = split.stratify ?? true;
  if (typeof stratify !== 'boolean') bad('split.stratify', 'true or false');
  const seed = split.seed ?? 0;
  if (!Number.isInteger(seed) || (seed as number) < 0 || (seed as number) > 2 ** 31 - 1) bad('split.seed', 'an integer in [0, 2^31-1]');
  const unknownSplit = Object.keys(split).find((k) => !['testFraction', 'stratify', 'seed'].includes(k));
  if (unknownSplit !== undefined) bad(`split.${unknownSplit}`, 'no such field (known: testFraction, stratify, seed)');
  return {
    ...(o.description !== undefined ? { description: o.description as string } : {}),
    ...(o.file !== undefined ? { file: o.file as string } : {}),
    header, delimiter, columns, missing: [...missing], filter, drop: [...drop] as ColumnRef[], label, features, categorical,
    standardize, split: { testFraction, stratify, seed: seed as number },
  };
}
