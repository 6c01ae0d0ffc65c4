/**
 * @module Audit kinds that replication records. AuditKind in aggregator/audit.ts (owned by the
 * ledger work) does not list them yet; they are appended like every other entry. Adding these
 * names to AuditKind there removes the need for this one cast.
 */
import type { AuditKind } from '../audit.ts';

export type ReplicationAuditKind = 'model.fetch-report' | 'content-key.rotated';

/** The kind, typed for appendAudit. */
export const replicationAuditKind = (kind: ReplicationAuditKind): AuditKind => kind as unknown as AuditKind;
