/** @module The Hono environment every route sees: the database, the clock, the caller. */
import type { Principal } from './auth.ts';
import type { Db } from './db/database.ts';
import type { LedgerKey } from './ledger/entry.ts';
import type { Replication } from './replication/service.ts';
import type { Orchestrator } from './rounds/orchestrator.ts';

export interface AppEnv {
  Variables: {
    db: Db;
    now: () => number;
    /** When the request reached the aggregator (its clock), before any queue: the signature's
     *  timestamp is judged against it, so a wait at the upload gate does not make it stale. */
    arrivedAt: number;
    orchestrator: Orchestrator;
    /** The aggregator's ledger key (signs entries, export heads and receipts). */
    ledgerKey: LedgerKey;
    /** Publishing to the federation's stores, and fetching members' signed-URL uploads. */
    replication: Replication;
    principal?: Principal;
  };
}
