/** @module The `tessera local` file: a whole federation on one machine, one process per member. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { TesseraError } from '../core/errors.ts';

export interface LocalMember {
  name: string;
  /** Absolute path of the member's dataset spec (which names its own CSV). */
  dataset: string;
}

export interface LocalFederation {
  /** The federation config as the aggregator takes it (validated there). */
  federation: Record<string, unknown>;
  members: LocalMember[];
  /** Published results to print beside ours: label -> mean accuracy. */
  reference?: { source: string; meanAccuracy: Record<string, number> };
  /** Also train a pooled model on all members' train splits as a reference line (demos only). */
  pooledReference: boolean;
}

function bad(path: string, field: string, expected: string): never {
  throw new TesseraError('BAD_REQUEST', `${path}: ${field}: expected ${expected}`, { field });
}

export function readLocalFederation(path: string): LocalFederation {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new TesseraError('BAD_REQUEST', `${path}: ${(e as Error).message}`, { field: 'file' });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad(path, '(top level)', 'a JSON object');
  const { members, reference, pooledReference, ...federation } = raw as Record<string, unknown>;
  if (pooledReference !== undefined && typeof pooledReference !== 'boolean') bad(path, 'pooledReference', 'true or false');
  if (!Array.isArray(members) || members.length === 0) bad(path, 'members', 'a non-empty list of {"name", "dataset"}');
  const base = dirname(resolve(path));
  const names = new Set<string>();
  const parsed = members.map((m, i) => {
    const { name, dataset } = (m ?? {}) as Record<string, unknown>;
    if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) bad(path, `members[${i}].name`, 'a short name of letters, digits, dots, dashes or underscores');
    if (names.has(name)) bad(path, `members[${i}].name`, `a unique name ("${name}" repeats)`);
    names.add(name);
    if (typeof dataset !== 'string') bad(path, `members[${i}].dataset`, 'the path of a dataset spec file');
    return { name, dataset: resolve(base, dataset) };
  });
  let ref: LocalFederation['reference'];
  if (reference !== undefined) {
    const r = reference as { source?: unknown; meanAccuracy?: unknown };
    if (typeof r.source !== 'string' || typeof r.meanAccuracy !== 'object' || r.meanAccuracy === null) bad(path, 'reference', '{"source": string, "meanAccuracy": {label: number}}');
    ref = { source: r.source, meanAccuracy: r.meanAccuracy as Record<string, number> };
  }
  return { federation, members: parsed, reference: ref, pooledReference: pooledReference === true };
}
