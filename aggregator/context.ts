/** @module The Hono environment every route sees: the database, the clock, the caller. */
import type { Principal } from './auth.ts';
import type { Db } from './db/database.ts';
import type { Orchestrator } from './rounds/orchestrator.ts';

export interface AppEnv {
  Variables: {
    db: Db;
    now: () => number;
    orchestrator: Orchestrator;
    principal?: Principal;
  };
}
