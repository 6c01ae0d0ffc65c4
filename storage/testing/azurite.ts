/** @module Starts Azurite's blob service as a child process on loopback for tests, and stops it. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Azurite's well-known development account (public, documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** A running Azurite: its blob endpoint, a connection string for it, and stop(). */
export interface AzuriteInstance {
  blobEndpoint: string;
  connectionString: string;
  process: ChildProcess;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process has exited. */
  stop(): Promise<void>;
}

const binary = resolve(fileURLToPath(new URL('../../node_modules/.bin/azurite-blob', import.meta.url)));

/** Starts azurite-blob in memory on 127.0.0.1 (a free port chosen by the OS) and waits until it listens. */
export async function startAzurite(opts: { timeoutMs?: number } = {}): Promise<AzuriteInstance> {
  // Run it in a private temp dir so nothing it writes (debug logs, extents) lands in the repo.
  const location = await mkdtemp(join(tmpdir(), 'tessera-azurite-'));
  const child = spawn(
    binary,
    ['--silent', '--inMemoryPersistence', '--disableTelemetry', '--skipApiVersionCheck', '--loose', '--blobHost', '127.0.0.1', '--blobPort', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: location },
  );
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  // If the test process exits without calling stop(), take Azurite down with it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(location, { recursive: true, force: true });
  };
  let output = '';
  try {
    const port = await new Promise<number>((resolvePort, reject) => {
      const timer = setTimeout(() => reject(new Error(`Azurite did not start within ${opts.timeoutMs ?? 30000} ms:\n${output}`)), opts.timeoutMs ?? 30000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        const m = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolvePort(Number(m[1]));
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`Azurite exited early (${code ?? signal}):\n${output}`));
      });
    });
    // Keep draining its output so a chatty Azurite never blocks on a full pipe.
    child.stdout!.resume();
    child.stderr!.resume();
    const blobEndpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
    const connectionString = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};`;
    return { blobEndpoint, connectionString, process: child, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
