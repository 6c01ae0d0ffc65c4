/**
 * @module Upload gate: at most `slots` model-sized uploads (plaintext updates, masked inputs, in
 * the body or fetched from the member's store) are read and processed at once; the others wait, unread, in arrival order. Without it
 * every member uploading at the same moment (all of them, when training is quick) made the
 * aggregator hold members x model bytes at once (body, decoded tensors, database parameter). A
 * waiting request's body stays in its connection (the server reads it only when the request's
 * turn comes), so the aggregator's memory is bounded by slots x model size.
 */
import type { MiddlewareHandler } from 'hono';
import { TesseraError } from '../core/errors.ts';

/** Member routes that carry a model-sized vector: in the body, or fetched from the member's store (the `-url`/`/url` forms). */
export const UPLOAD_PATH = /^\/v1\/federations\/[^/]+\/members\/[^/]+\/rounds\/\d+\/(update|update-url|secagg\/masked_input|secagg\/masked_input\/url)$/;

/** A counting semaphore with first-come, first-served waiters. */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new TesseraError('BAD_REQUEST', `maxConcurrentUploads: expected a positive integer, got ${size}`, { field: 'maxConcurrentUploads' });
    this.free = size;
  }
  /** Slots in use. */
  get busy(): number {
    return this.size - this.free;
  }
  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    // The slot passes straight to the next waiter (free stays 0), so a newcomer cannot overtake it.
    if (next) next();
    else this.free++;
  }
}

/** Middleware: uploads (PUT on UPLOAD_PATH) take a slot before their body is read, and hold it until answered. */
export function uploadGate(slots: Slots): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== 'PUT' || !UPLOAD_PATH.test(c.req.path)) return next();
    await slots.acquire();
    try {
      await next();
    } finally {
      slots.release();
    }
  };
}
