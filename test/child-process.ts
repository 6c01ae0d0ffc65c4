/**
 * @module A child process for tests, run asynchronously and bounded: a child that never exits is
 * killed after `timeoutMs` (and the test fails saying so) instead of blocking the test's event
 * loop, where no vitest timeout could fire.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ChildResult {
  /** Exit code; null when the child was killed. */
  code: number | null;
  out: string;
  err: string;
}

/** Runs `node <args>` and resolves with its exit code and output, whatever the code. */
export function runNode(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<ChildResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((done) => {
    execFile(process.execPath, [...args], { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', env: opts.env ?? process.env, cwd: opts.cwd }, (error, out, err) => {
      const e = error as (Error & { code?: unknown; killed?: boolean }) | null;
      if (e?.killed) err += `\n[killed: node ${args.join(' ')} ran past ${timeoutMs / 1000} s]`;
      done({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : null, out, err });
    });
  });
}

const cliMain = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

/** The `tessera` command, as an operator or auditor runs it. */
export const runTessera = (argv: readonly string[], env: NodeJS.ProcessEnv): Promise<ChildResult> => runNode(['--import', 'tsx', cliMain, ...argv], { env });
