/** @module Error codes: one stable map the API, the CLI and the docs share. */

/** Every error Tessera reports carries one of these codes; the HTTP status sits beside it. */
export const ErrorCodes = {
  /** A request body, query or file failed validation; `field` names what was wrong. */
  BAD_REQUEST: { status: 400 },
  /** A model spec is malformed (unknown kind, bad layer sizes, bad activation). */
  BAD_MODEL_SPEC: { status: 400 },
  /** Uploaded weights do not match the model: wrong names, shapes, dtype or length. */
  BAD_TENSORS: { status: 400 },
  /** A binary payload is not a Tessera weights file or is truncated. */
  BAD_ENCODING: { status: 400 },
  /** A dataset spec or data file is invalid; `field` names the offending key. */
  BAD_DATASET: { status: 400 },
  /** No credentials, a bad signature, a skewed clock or a replayed nonce. */
  UNAUTHENTICATED: { status: 401 },
  /** A replayed request: its nonce was already used. */
  REPLAYED: { status: 401 },
  /** Authenticated, but this principal may not do this (a member acting for another). */
  FORBIDDEN: { status: 403 },
  /** The member was revoked by the operator: its signed requests are refused from then on (it
   *  takes part in no later round and cannot read models sealed after the revocation). */
  MEMBER_REVOKED: { status: 403 },
  /** The federation, round, member or model does not exist. */
  NOT_FOUND: { status: 404 },
  /** The invitation token was already used, expired or revoked. */
  INVITATION_INVALID: { status: 409 },
  /** The same slot already holds different content (a second, different upload). */
  CONFLICT: { status: 409 },
  /** The message belongs to a stage that is closed or a round that is not current. */
  STALE_STAGE: { status: 409 },
  /** The round cannot start or continue in its present state. */
  ROUND_STATE: { status: 409 },
  /** The request body exceeds the configured limit. */
  TOO_LARGE: { status: 413 },
  /** An unexpected failure inside Tessera; the log has the details, the client may retry. */
  INTERNAL: { status: 500 },
  /** Stored bytes do not match the hash or size they were published with (stale, torn or altered
   *  object, or a bad seal or signature); fetch again or from another replica. */
  INTEGRITY: { status: 502 },
  /** An artifact store (directory, GCS bucket, Azure container) could not be reached or refused the
   *  call; check the store URL and its credentials, then retry. */
  STORE_UNAVAILABLE: { status: 503 },
  /** The aggregator could not take the request in time (it waited in a queue longer than the
   *  signature's validity window); send it again, signed anew (the member runtime does). */
  BUSY: { status: 503 },
  /** A URL a member handed in for the aggregator to fetch was refused: not http(s), a redirect, or
   *  a loopback/private/link-local address (SSRF rule, see docs/storage.md). */
  URL_REFUSED: { status: 400 },
  /** Bytes fetched from a member's URL do not match the hash or size the member declared. */
  HASH_MISMATCH: { status: 409 },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** An error with a stable code, an optional field name, and a message that says what to do. */
export class TesseraError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, opts: { field?: string; details?: Record<string, unknown> } = {}) {
    super(message);
    this.name = 'TesseraError';
    this.code = code;
    this.field = opts.field;
    this.details = opts.details;
  }

  get status(): number {
    return ErrorCodes[this.code].status;
  }

  toJSON(): { error: { code: ErrorCode; message: string; field?: string; details?: Record<string, unknown> } } {
    return { error: { code: this.code, message: this.message, field: this.field, details: this.details } };
  }
}

/** Shorthand for a validation failure on one field. */
export function badField(field: string, expected: string, code: ErrorCode = 'BAD_REQUEST'): TesseraError {
  return new TesseraError(code, `${field}: expected ${expected}`, { field });
}
