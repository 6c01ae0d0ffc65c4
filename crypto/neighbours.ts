/**
 * @module The SecAgg+ neighbour graph (Bell et al. 2020): each member shares keys and masks only
 * with k neighbours instead of all n - 1, so costs grow with k, not n.
 *
 * Construction (as in the paper): a Harary graph H(k, n) -- member i is joined to i +- 1 .. i +- k/2
 * around a circle (and, for odd k, to the member opposite) -- whose vertices are relabelled by a
 * uniformly random permutation drawn from the public round seed with the ChaCha20 PRG. Everyone
 * derives the same graph from the seed; the server cannot choose it after seeing keys.
 *
 * Default k and t for n members (overridable):
 * - n <= FULL_SECAGG_MAX_MEMBERS: full SecAgg, k = n - 1;
 * - otherwise k = 2 * ceil(2 * log2 n) (about 4 log2 n, even): 28 at 100, 36 at 500, 40 at 1000;
 * - t = floor(k / 2) + 1: an honest majority of each neighbourhood is needed to reconstruct, and a
 *   member survives up to k - t dropped neighbours.
 */
import { TesseraError } from '../core/errors.ts';
import { expandWords } from './prg.ts';

/** Up to this many members the graph is complete (k = n - 1): classic SecAgg. */
export const FULL_SECAGG_MAX_MEMBERS = 64;
/** The fewest members secure aggregation runs with: with two, each would learn the other's input from the sum. */
export const MIN_SECAGG_MEMBERS = 3;

export interface GraphParameters {
  /** Neighbours per member (degree). */
  k: number;
  /** Shares needed to reconstruct a member's secrets. */
  t: number;
  /** True when k = n - 1 (every member is everyone's neighbour). */
  full: boolean;
}

function bad(field: string, message: string): never {
  throw new TesseraError('BAD_REQUEST', `${field}: ${message}`, { field });
}

/** k and t for n members by the documented rule; either may be overridden (and is then validated). */
export function chooseGraphParameters(n: number, overrides: { k?: number; t?: number } = {}): GraphParameters {
  if (!Number.isInteger(n) || n < MIN_SECAGG_MEMBERS) bad('members', `secure aggregation needs at least ${MIN_SECAGG_MEMBERS} members, got ${n}`);
  let k = overrides.k ?? (n <= FULL_SECAGG_MAX_MEMBERS ? n - 1 : Math.min(n - 1, 2 * Math.ceil(2 * Math.log2(n))));
  if (!Number.isInteger(k) || k < 2 || k > n - 1) bad('secagg.neighbours', `expected an integer in [2, ${n - 1}], got ${k}`);
  // A k-regular graph on n vertices needs n * k even; round an odd k up when n is odd.
  if ((n * k) % 2 === 1) {
    if (overrides.k !== undefined && k + 1 > n - 1) bad('secagg.neighbours', `no ${k}-regular graph on ${n} members`);
    k = Math.min(n - 1, k + 1);
  }
  const t = overrides.t ?? Math.floor(k / 2) + 1;
  if (!Number.isInteger(t) || t < 2 || t > k) bad('secagg.threshold', `expected an integer in [2, ${k}] (the neighbour count), got ${t}`);
  return { k, t, full: k === n - 1 };
}

/** A uniformly random permutation of 0..n-1 from a 32-byte seed (Fisher-Yates with rejection sampling). */
export function seededPermutation(n: number, seed: Uint8Array): number[] {
  const perm = Array.from({ length: n }, (_, i) => i);
  let words = expandWords(seed, 4 * n + 64);
  let w = 0;
  let refills = 0;
  const next = (): number => {
    if (w === words.length) {
      // Practically never: rejection sampling consumes < 2 words per draw on average.
      const again = new Uint8Array(seed);
      again[0] ^= ++refills;
      words = expandWords(again, 4 * n + 64);
      w = 0;
    }
    return words[w++];
  };
  for (let i = n - 1; i > 0; i--) {
    const bound = i + 1;
    const limit = Math.floor(4294967296 / bound) * bound;
    let r = next();
    while (r >= limit) r = next();
    const j = r % bound;
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return perm;
}

/**
 * The neighbour lists of members 0..n-1 (sorted ascending). Symmetric, k-regular, deterministic
 * for a given seed. With k = n - 1 every member neighbours every other.
 */
export function neighbourGraph(n: number, k: number, seed: Uint8Array): number[][] {
  if (!Number.isInteger(k) || k < 1 || k > n - 1 || (n * k) % 2 === 1) bad('secagg.neighbours', `no ${k}-regular graph on ${n} members`);
  const sets = Array.from({ length: n }, () => new Set<number>());
  if (k === n - 1) {
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) sets[i].add(j);
  } else {
    const perm = seededPermutation(n, seed);
    const join = (a: number, b: number): void => {
      sets[perm[a]].add(perm[b]);
      sets[perm[b]].add(perm[a]);
    };
    for (let i = 0; i < n; i++) {
      for (let d = 1; d <= Math.floor(k / 2); d++) join(i, (i + d) % n);
      // Odd k (so n is even): the opposite member gives each vertex its last edge.
      if (k % 2 === 1) join(i, (i + n / 2) % n);
    }
  }
  return sets.map((s) => [...s].sort((a, b) => a - b));
}
