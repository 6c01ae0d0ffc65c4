/** @module Appends audit events. Every state change calls this inside its own transaction. */
import { auditEvents } from '../schema/index.ts';
import type { Db } from './db/database.ts';

export type AuditKind =
  | 'federation.created'
  | 'invitation.created'
  | 'member.enrolled'
  | 'round.opened'
  | 'round.stage'
  | 'round.failed'
  | 'round.completed'
  | 'contribution.accepted'
  | 'contribution.refused'
  | 'member.dropped'
  | 'evaluation.accepted'
  | 'model.committed'
  | 'credential.created';

/** A transaction handle or the database itself. */
export type Tx = Pick<Db, 'insert' | 'select' | 'update' | 'delete' | 'execute'>;

export async function appendAudit(
  tx: Tx,
  event: { kind: AuditKind; actor: string; federationId?: string | null; payload: Record<string, unknown>; time: number },
): Promise<void> {
  await tx.insert(auditEvents).values({
    time: event.time,
    kind: event.kind,
    actor: event.actor,
    federationId: event.federationId ?? null,
    payload: event.payload,
  });
}
