import { openTestDatabase } from '../aggregator/db/testing.ts';
import { defineApiSuite } from './api.suite.ts';

defineApiSuite('PGlite', () => openTestDatabase('pglite'));
