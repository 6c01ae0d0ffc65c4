import { openTestDatabase } from './db/testing.ts';
import { defineAccessSuite } from './access.suite.ts';

defineAccessSuite('PostgreSQL', () => openTestDatabase('postgres'));
