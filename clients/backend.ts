/**
 * @module TF.js backend selection: `@tensorflow/tfjs-node-gpu` where installed, else WASM (SIMD),
 * else the pure-JS cpu backend; `TESSERA_BACKEND=tensorflow|wasm|cpu` forces one.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { TesseraError } from '../core/errors.ts';

export const BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
/** `tensorflow` is the native backend that tfjs-node(-gpu) registers. */
export type BackendName = (typeof BACKENDS)[number];

const require = createRequire(import.meta.url);
let current: Promise<BackendName> | null = null;
let currentName: BackendName | null = null;

/** The wasm binaries sit beside the package's main file; an absolute path works from any cwd. */
function wasmDirectory(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep;
}

async function tryBackend(name: BackendName): Promise<boolean> {
  try {
    if (name === 'tensorflow') {
      // A variable specifier keeps TypeScript and bundlers from requiring the optional package.
      const specifier = '@tensorflow/tfjs-node-gpu';
      await import(specifier);
      if (tf.findBackendFactory('tensorflow') === null) return false;
    }
    if (name === 'wasm') {
      setWasmPaths(wasmDirectory());
      tf.env().set('WASM_HAS_SIMD_SUPPORT', true);
    }
    // tfjs-backend-cpu advertises tfjs-node on first use; we print the backend chosen ourselves.
    if (name === 'cpu') tf.env().set('PROD', true);
    const ok = await tf.setBackend(name);
    await tf.ready();
    return ok && tf.getBackend() === name;
  } catch {
    return false;
  }
}

function requested(): BackendName | null {
  const env = process.env.TESSERA_BACKEND;
  if (env === undefined || env === '') return null;
  if (!BACKENDS.includes(env as BackendName)) {
    throw new TesseraError('BAD_REQUEST', `TESSERA_BACKEND: expected one of ${BACKENDS.join(', ')}, got "${env}"`, { field: 'TESSERA_BACKEND' });
  }
  return env as BackendName;
}

async function choose(prefer: BackendName | null): Promise<BackendName> {
  if (prefer !== null) {
    if (await tryBackend(prefer)) return prefer;
    throw new TesseraError('BAD_REQUEST', `backend "${prefer}" is not available here (for "tensorflow", install @tensorflow/tfjs-node-gpu; or unset TESSERA_BACKEND)`, { field: 'TESSERA_BACKEND' });
  }
  for (const name of BACKENDS) if (await tryBackend(name)) return name;
  throw new TesseraError('INTERNAL', 'no TF.js backend could be initialised (tried tensorflow, wasm, cpu)');
}

/**
 * Selects and initialises the backend once and returns its name; later calls return the same.
 * `prefer` (or TESSERA_BACKEND) forces one and fails if it is unavailable; a later call with a
 * different `prefer` switches backends (tensors of the old one become unusable).
 */
export async function selectBackend(prefer?: BackendName): Promise<BackendName> {
  const want = prefer ?? requested();
  if (current !== null && (want === null || want === currentName)) return current;
  const pending = choose(want).then((name) => {
    currentName = name;
    return name;
  });
  current = pending;
  pending.catch(() => {
    if (current === pending) current = null;
  });
  return pending;
}

/** The backend in use, or null before selectBackend. */
export function activeBackend(): BackendName | null {
  return currentName;
}

/** Which backends this machine can run (each tried in turn; the selected one is restored after). */
export async function availableBackends(): Promise<BackendName[]> {
  const before = currentName;
  const found: BackendName[] = [];
  for (const name of BACKENDS) if (await tryBackend(name)) found.push(name);
  if (before !== null) await tryBackend(before);
  return found;
}
