/** A test that blocks its event loop is named and killed by the watchdog; the run goes on. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

it('kills a test process whose event loop is blocked, names the test, and the run ends failed', async () => {
  const started = performance.now();
  const run = await new Promise<{ code: number | null; output: string }>((done) => {
    execFile(
      process.execPath,
      [fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url)), 'run', '--config', 'test/fixtures/watchdog.vitest.config.ts'],
      { cwd: root, encoding: 'utf8', timeout: 110_000, env: { ...process.env, TESSERA_TEST_BLOCKED_S: '3', NO_COLOR: '1' } },
      (error, stdout, stderr) => done({ code: error ? ((error as { code?: number }).code ?? null) : 0, output: stdout + stderr }),
    );
  });
  expect(run.output).toMatch(/\[test watchdog\] the event loop of \S*blocked-loop\.fixture\.ts > blocks its event loop has been blocked for \d+ s/);
  expect(run.code).toBe(1);
  expect(run.output).toMatch(/blocked-loop\.fixture\.ts/);
  // The fixture blocks for 120 s; the run ended long before that.
  expect(performance.now() - started).toBeLessThan(100_000);
}, 120_000);
