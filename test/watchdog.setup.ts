/**
 * @module A watchdog in every test process (vitest `setupFiles`). vitest's test and hook timeouts
 * are timers on the test's own event loop: a test that blocks that loop (a synchronous wait on a
 * child process, a loop that never ends) is never timed out, and the whole run waits until CI's
 * limit. Here the loop beats every second into shared memory; a thread of its own checks the
 * beat and, when the loop has been blocked for TESSERA_TEST_BLOCKED_S seconds (default 300, five
 * times the test timeout), prints which file and test blocked it and kills the process, so vitest
 * reports that file as failed and the run goes on.
 */
import { basename } from 'node:path';
import { Worker } from 'node:worker_threads';
import { beforeAll, beforeEach, expect } from 'vitest';

const NAME_BYTES = 1024;
const key = Symbol.for('tessera.test-watchdog');
type State = { beat: Int32Array; name: Uint8Array };
/** Seconds since the epoch from the monotonic clock, the same in every thread of the process. */
const nowS = () => Math.floor((performance.timeOrigin + performance.now()) / 1000);
const g = globalThis as typeof globalThis & { [key]?: State };

function start(): State {
  const shared = new SharedArrayBuffer(4 + NAME_BYTES);
  const state: State = { beat: new Int32Array(shared, 0, 1), name: new Uint8Array(shared, 4) };
  const limitS = Number(process.env.TESSERA_TEST_BLOCKED_S ?? 300);
  const beat = () => Atomics.store(state.beat, 0, nowS());
  beat();
  setInterval(beat, 1000).unref();
  const checker = new Worker(
    `const { workerData } = require('node:worker_threads');
     const beat = new Int32Array(workerData.shared, 0, 1), name = new Uint8Array(workerData.shared, 4);
     setInterval(() => {
       const blocked = Math.floor((performance.timeOrigin + performance.now()) / 1000) - Atomics.load(beat, 0);
       if (blocked < workerData.limitS) return;
       const end = name.indexOf(0);
       const test = Buffer.from(name.subarray(0, end < 0 ? name.length : end)).toString('utf8');
       // Straight to fd 2: a worker's process.stderr goes through the (blocked) main thread.
       require('node:fs').writeSync(2, '\\n[test watchdog] the event loop of ' + test + ' has been blocked for ' + blocked + ' s; killing its process so the run goes on\\n');
       process.kill(workerData.pid, 'SIGKILL');
     }, 5000);`,
    { eval: true, workerData: { shared, limitS, pid: process.pid } },
  );
  checker.unref();
  return state;
}

const state = (g[key] ??= start());
const mark = (label: string) => {
  state.name.fill(0);
  state.name.set(new TextEncoder().encode(label).subarray(0, NAME_BYTES - 1));
};
beforeAll(() => mark(`${basename(expect.getState().testPath ?? '?')} (its hooks)`));
beforeEach((ctx) => mark(`${ctx.task.file?.name ?? '?'} > ${ctx.task.name}`));
