/**
 * @module Canonical JSON: the one byte form of a JSON value that Tessera hashes and signs.
 * Object keys sorted by UTF-16 code units (JavaScript's default sort), no whitespace, strings and
 * numbers as JSON.stringify writes them. Only JSON values are accepted: undefined, functions,
 * symbols, bigints, non-finite numbers and non-plain objects are refused rather than silently
 * dropped or changed, so what is hashed is exactly what a verifier reads back.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The canonical JSON text of a value; throws TypeError (naming the path) on a non-JSON value. */
export function canonicalJson(value: unknown): string {
  return write(value, '$');
}

function write(v: unknown, path: string): string {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError(`${path}: ${v} is not a JSON number`);
    return JSON.stringify(Object.is(v, -0) ? 0 : v);
  }
  if (Array.isArray(v)) return `[${v.map((x, i) => write(x, `${path}[${i}]`)).join(',')}]`;
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) throw new TypeError(`${path}: ${(v as object).constructor?.name ?? 'object'} is not a plain JSON object`);
    const entries = Object.keys(v).sort().map((k) => {
      const x = (v as Record<string, unknown>)[k];
      return `${JSON.stringify(k)}:${write(x, `${path}.${k}`)}`;
    });
    return `{${entries.join(',')}}`;
  }
  throw new TypeError(`${path}: a ${typeof v} is not a JSON value`);
}

/** The value as it reads back from its canonical text (what a database or a file will hold). */
export function normalizeJson(value: unknown): JsonValue {
  return JSON.parse(canonicalJson(value)) as JsonValue;
}
