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
 * - With self-shares (each member also holds a share of its own secrets: k + 1 holders), t is a
 *   majority of the k + 1 holders, floor((k + 1) / 2) + 1, and may not be lower; self-shares are
 *   on by default only when k = 2 (see defaultSelfShares).
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

/**
 * Whether members keep a share of their own secrets when the federation does not say: only when
 * k = 2 (3 members, or a ring set by hand). There t = k = 2 is forced, so with k holders no loss is
 * survivable; the own share makes it 2 of 3. At any larger k the extra dropout costs one colluder
 * an active aggregator could add (even k) or needs t raised by one (odd k): the federation's
 * choice (docs/secure-aggregation.md, "What a cohort tolerates, and small cohorts").
 */
export const defaultSelfShares = (k: number): boolean => k === 2;

/** k and t for n members by the documented rule; either may be overridden (and is then validated). */
export function chooseGraphParameters(n: number, overrides: { k?: number; t?: number; selfShares?: boolean } = {}): GraphParameters {
  if (!Number.isInteger(n) || n < MIN_SECAGG_MEMBERS) bad('members', `secure aggregation needs at least ${MIN_SECAGG_MEMBERS} members, got ${n}`);
  let k = overrides.k ?? (n <= FULL_SECAGG_MAX_MEMBERS ? n - 1 : Math.min(n - 1, 2 * Math.ceil(2 * Math.log2(n))));
  if (!Number.isInteger(k) || k < 2 || k > n - 1) bad('secagg.neighbours', `expected an integer in [2, ${n - 1}], got ${k}`);
  // A k-regular graph on n vertices needs n * k even; round an odd k up when n is odd.
  if ((n * k) % 2 === 1) {
    if (overrides.k !== undefined && k + 1 > n - 1) bad('secagg.neighbours', `no ${k}-regular graph on ${n} members`);
    k = Math.min(n - 1, k + 1);
  }
  // A majority of the holders of a member's self-mask seed: its k neighbours, plus itself with self-shares.
  const majority = Math.floor((k + (overrides.selfShares ? 1 : 0)) / 2) + 1;
  const t = overrides.t ?? majority;
  if (!Number.isInteger(t) || t < 2 || t > k) bad('secagg.threshold', `expected an integer in [2, ${k}] (the neighbour count), got ${t}`);
  if (overrides.selfShares && t < majority) {
    // 2t <= k + 1: an aggregator telling two halves of the holders different survivor lists could collect t of each secret on its own.
    bad('secagg.threshold', `with selfShares a member's self-mask seed has k + 1 = ${k + 1} holders; t must be a majority of them, at least ${majority}, got ${t} (or set selfShares to false)`);
  }
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
