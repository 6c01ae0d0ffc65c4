import { describe, expect, it } from 'vitest';
import { sodium } from '../core/sodium.ts';
import { chooseGraphParameters, neighbourGraph, seededPermutation } from './neighbours.ts';

const seed = (b: number): Uint8Array => new Uint8Array(32).fill(b);

function checkRegularSymmetric(graph: number[][], k: number): void {
  const problems: string[] = [];
  graph.forEach((list, i) => {
    if (list.length !== k) problems.push(`${i} has degree ${list.length}`);
    if (list.includes(i)) problems.push(`${i} neighbours itself`);
    for (const j of list) if (!graph[j].includes(i)) problems.push(`${i}->${j} is one-way`);
  });
  expect(problems).toEqual([]);
}

describe('neighbour graph', () => {
  it('is symmetric and k-regular for even and odd k', () => {
    for (const [n, k] of [[30, 10], [31, 10], [40, 7], [200, 36], [65, 26]]) {
      checkRegularSymmetric(neighbourGraph(n, k, sodium.randombytes_buf(32)), k);
    }
  });

  it('is deterministic per seed and differs between seeds', () => {
    expect(neighbourGraph(100, 20, seed(1))).toEqual(neighbourGraph(100, 20, seed(1)));
    expect(neighbourGraph(100, 20, seed(1))).not.toEqual(neighbourGraph(100, 20, seed(2)));
  });

  it('is complete when k = n - 1', () => {
    const g = neighbourGraph(10, 9, seed(3));
    checkRegularSymmetric(g, 9);
  });

  it('permutations are permutations and look uniform', () => {
    const p = seededPermutation(1000, seed(4));
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    const firstCounts = new Array(5).fill(0);
    for (let s = 0; s < 500; s++) firstCounts[seededPermutation(5, sodium.randombytes_buf(32))[0]]++;
    for (const c of firstCounts) expect(Math.abs(c - 100)).toBeLessThan(45);
  });

  it('chooses k and t by the documented rule', () => {
    expect(chooseGraphParameters(10)).toEqual({ k: 9, t: 5, full: true });
    expect(chooseGraphParameters(64)).toEqual({ k: 63, t: 32, full: true });
    expect(chooseGraphParameters(100)).toEqual({ k: 28, t: 15, full: false });
    expect(chooseGraphParameters(500)).toEqual({ k: 36, t: 19, full: false });
    expect(chooseGraphParameters(1000)).toEqual({ k: 40, t: 21, full: false });
    expect(chooseGraphParameters(30, { k: 10, t: 6 })).toEqual({ k: 10, t: 6, full: false });
    expect(chooseGraphParameters(31, { k: 9 }).k).toBe(10);
  });

  it('refuses impossible parameters, naming the field', () => {
    expect(() => chooseGraphParameters(2)).toThrow(/at least 3 members/);
    expect(() => chooseGraphParameters(10, { k: 10 })).toThrow(/secagg\.neighbours/);
    expect(() => chooseGraphParameters(10, { t: 10 })).toThrow(/secagg\.threshold/);
    expect(() => chooseGraphParameters(10, { t: 1 })).toThrow(/secagg\.threshold/);
    expect(() => neighbourGraph(9, 3, seed(1))).toThrow(/no 3-regular graph/);
  });
});
