import { openTestDatabase } from '../aggregator/db/testing.ts';
import { defineSecureSuite } from './secure.suite.ts';

defineSecureSuite('PGlite', () => openTestDatabase('pglite'));
