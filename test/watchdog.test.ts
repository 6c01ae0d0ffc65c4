/** A test that blocks its event loop is named and killed by the watchdog; the run goes on. */
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { runNode } from './child-process.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

it('kills a test process whose event loop is blocked, names the test, and the run ends failed', async () => {
  const started = performance.now();
  const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
  const child = await runNode([vitest, 'run', '--config', 'test/fixtures/watchdog.vitest.config.ts'], { cwd: root, timeoutMs: 110_000, env: { ...process.env, TESSERA_TEST_BLOCKED_S: '3', NO_COLOR: '1' } });
  const run = { code: child.code, output: child.out + child.err };
  expect(run.output).toMatch(/\[test watchdog\] the event loop of \S*blocked-loop\.fixture\.ts > blocks its event loop has been blocked for \d+ s/);
  expect(run.code).toBe(1);
  expect(run.output).toMatch(/blocked-loop\.fixture\.ts/);
  // The fixture blocks for 120 s; the run ended long before that.
  expect(performance.now() - started).toBeLessThan(100_000);
}, 120_000);
