/**
 * @module What the harness (main thread) and its member worker threads say to each other over
 * the worker's MessagePort: a member's HTTP request and its answer, a member's read of a model
 * store and the object, model observations (invariant 5), and a member run's end. Errors cross as
 * (code, message) and are rebuilt on the other side: a TesseraError keeps its code (the member
 * runtime and the model source branch on it), anything else becomes a network error.
 */
import type { ErrorCode } from '../../core/errors.ts';
import { TesseraError } from '../../core/errors.ts';
import type { ModelObservation } from '../virtual-member.ts';

/** One virtual member as its worker needs it. The secret key crosses in workerData, never in a log. */
export interface MemberInit {
  member: number;
  memberId: string;
  secretKey: Uint8Array;
  /** The member's clock skew (ms), fixed for the run. */
  skewMs: number;
  /** Store URLs: home (its cloud's) and the other cloud's replica; null without stores. */
  stores: { home: string; replica: string } | null;
}

/** workerData of a member worker. */
export interface WorkerInit {
  /** The .ts module the bootstrap imports (member-thread.ts). */
  entry: string;
  baseUrl: string;
  federationId: string;
  seed: number;
  pollMs: number;
  /** The VirtualClock's shared offset. */
  clock: SharedArrayBuffer;
  members: MemberInit[];
}

export interface WireError {
  code: ErrorCode | null;
  message: string;
}

/** Main thread -> worker. */
export type ToWorker =
  | { type: 'start'; member: number; generation: number }
  | { type: 'stop'; member: number }
  | { type: 'response'; id: number; status: number; statusText: string; headers: [string, string][]; body: ArrayBuffer }
  | { type: 'object'; id: number; key: string; size: number; version: string; bytes: Uint8Array }
  | { type: 'failed'; id: number; error: WireError };

/** Worker -> main thread. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'fetch'; id: number; member: number; generation: number; url: string; method: string; headers: Record<string, string>; body: Uint8Array | null }
  | { type: 'abort'; id: number }
  | { type: 'get'; id: number; member: number; generation: number; store: 'home' | 'replica'; key: string }
  | { type: 'observe'; observation: ModelObservation }
  | { type: 'ended'; member: number; generation: number; error: string | null };

export function wireError(e: unknown): WireError {
  return { code: e instanceof TesseraError ? e.code : null, message: e instanceof Error ? e.message : String(e) };
}

/** The error the member side raises for a WireError. */
export function fromWireError(e: WireError): Error {
  // networkError prefixes "fetch failed: "; the message already carries it.
  return e.code ? new TesseraError(e.code, e.message) : Object.assign(new TypeError(e.message), { cause: e.message });
}
