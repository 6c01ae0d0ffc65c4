import { openTestDatabase } from '../db/testing.ts';
import { defineLedgerSuite } from './ledger.suite.ts';

defineLedgerSuite('PGlite', () => openTestDatabase('pglite'));
