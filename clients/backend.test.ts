import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { activeBackend, availableBackends, selectBackend } from './backend.ts';

describe('selectBackend', () => {
  const reset = (): void => {
    delete process.env.TESSERA_BACKEND;
  };
  beforeEach(reset);
  afterEach(reset);

  it('prefers tfjs-node-gpu, else wasm, and is idempotent', async () => {
    const first = await selectBackend();
    expect(['tensorflow', 'wasm']).toContain(first);
    expect(await selectBackend()).toBe(first);
    expect(tf.getBackend()).toBe(first);
    expect(activeBackend()).toBe(first);
  });

  it('runs a computation on wasm, loading the binaries from the package whatever the cwd', async () => {
    const cwd = process.cwd();
    process.chdir('/');
    try {
      expect(await selectBackend('wasm')).toBe('wasm');
    } finally {
      process.chdir(cwd);
    }
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(await y.data())).toEqual([11]);
    y.dispose();
  });

  it('follows TESSERA_BACKEND and refuses an unknown or absent one', async () => {
    process.env.TESSERA_BACKEND = 'cpu';
    expect(await selectBackend()).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    process.env.TESSERA_BACKEND = 'gpu';
    await expect(selectBackend()).rejects.toThrow(/TESSERA_BACKEND: expected one of tensorflow, wasm, cpu/);
    const found = await availableBackends();
    expect(found).toEqual(expect.arrayContaining(['wasm', 'cpu']));
    if (!found.includes('tensorflow')) {
      process.env.TESSERA_BACKEND = 'tensorflow';
      await expect(selectBackend()).rejects.toThrow(/not available/);
    }
  });
});
