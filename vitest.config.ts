import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', '.tessera/**', 'tmp/**', '.tmp-*/**'],
    // Names and kills a test that blocks its event loop (where no timeout can fire): test/watchdog.setup.ts.
    setupFiles: ['test/watchdog.setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
});
