import { runScenarios } from './run.ts';
import { openDatabase } from '../aggregator/db/database.ts';
const database = await openDatabase({ dataDir: 'memory' });
const t0 = performance.now();
const log = (l: string) => console.log(((performance.now() - t0) / 1000).toFixed(2), l);
await runScenarios({ scenario: process.argv[2] ?? 'baseline[secure]', database, size: { members: 6, params: 64, rounds: 2, seed: 7 }, print: log, log });
process.exit(0);
