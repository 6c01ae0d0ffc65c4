/**
 * @module Member worker bootstrap: registers tsx's ESM hooks in this thread, then imports the
 * TypeScript entry named in workerData. On Node 20 a Worker ignores `--import tsx` in its
 * execArgv (and inherits no loader from the tsx CLI or vitest), so registering here is what lets
 * the worker import the .ts sources under `tsx`, `node --import tsx` and vitest alike.
 */
import { workerData } from 'node:worker_threads';

const { register } = await import('tsx/esm/api');
register();
await import(workerData.entry);
