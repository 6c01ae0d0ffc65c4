import { openTestDatabase } from '../db/testing.ts';
import { defineLedgerSuite } from './ledger.suite.ts';

defineLedgerSuite('PostgreSQL', () => openTestDatabase('postgres'));
