import { openTestDatabase } from '../aggregator/db/testing.ts';
import { defineSecureBatchSuite } from './secure-batch.suite.ts';

defineSecureBatchSuite('PGlite', () => openTestDatabase('pglite'));
