import { openTestDatabase } from '../aggregator/db/testing.ts';
import { defineSecureApiSuite } from './secure-api.suite.ts';

defineSecureApiSuite('PGlite', () => openTestDatabase('pglite'));
