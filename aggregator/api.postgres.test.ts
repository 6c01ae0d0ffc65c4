import { openTestDatabase } from './db/testing.ts';
import { defineApiSuite } from './api.suite.ts';

defineApiSuite('PostgreSQL', () => openTestDatabase('postgres'));
