import { openTestDatabase } from './db/testing.ts';
import { defineApiSuite } from './api.suite.ts';

defineApiSuite('PGlite', () => openTestDatabase('pglite'));
