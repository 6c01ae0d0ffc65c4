/** @module A small RFC 4180 CSV reader: quoted fields, doubled quotes, CRLF or LF, blank lines skipped. */
import { TesseraError } from '../core/errors.ts';

/** Parsed CSV: the header (when the file has one) and the data rows as raw strings. */
export interface CsvTable {
  header: string[] | null;
  rows: string[][];
}

export interface CsvOptions {
  /** The first non-blank line names the columns. */
  header: boolean;
  /** One character; default ",". */
  delimiter?: string;
}

/**
 * Parses CSV text into rows of trimmed strings. Every row must have the same number of fields
 * as the first (the error names the line), so a truncated or shifted file is not half-read.
 */
export function parseCsv(text: string, options: CsvOptions): CsvTable {
  const delimiter = options.delimiter ?? ',';
  const records = splitRecords(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, delimiter);
  const header = options.header ? (records.shift()?.fields ?? null) : null;
  if (options.header && header === null) {
    throw new TesseraError('BAD_DATASET', 'file: expected a header line, the file is empty', { field: 'header' });
  }
  const width = header?.length ?? records[0]?.fields.length ?? 0;
  const rows = records.map(({ line, fields }) => {
    if (fields.length !== width) {
      throw new TesseraError('BAD_DATASET', `file line ${line}: expected ${width} fields, got ${fields.length}`, { field: 'file', details: { line } });
    }
    return fields;
  });
  return { header, rows };
}

interface CsvRecord {
  line: number;
  fields: string[];
}

function splitRecords(text: string, delimiter: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let startLine = 1;
  let sawContent = false;
  const endField = (): void => {
    fields.push(field.trim());
    field = '';
  };
  const endRecord = (): void => {
    endField();
    if (sawContent) records.push({ line: startLine, fields });
    fields = [];
    sawContent = false;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"') {
      quoted = true;
      sawContent = true;
    } else if (ch === delimiter) {
      endField();
      sawContent = true;
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      startLine = line;
    } else {
      if (ch !== ' ' && ch !== '\t') sawContent = true;
      field += ch;
    }
  }
  if (quoted) throw new TesseraError('BAD_DATASET', `file line ${startLine}: unterminated quoted field`, { field: 'file', details: { line: startLine } });
  endRecord();
  return records;
}
