import { openDatabase } from '../aggregator/db/database.ts';
import { modelReplicas } from '../schema/index.ts';
import { simulateFederation } from './federation.ts';
const database = await openDatabase({ dataDir: 'memory' });
const size = { members: 6, params: 64, rounds: 1, seed: 7 };
setTimeout(async () => { console.error(process.getActiveResourcesInfo().filter((x) => x !== 'Timeout')); void modelReplicas; process.exit(1); }, 8000);
const run = await simulateFederation({ name: 'x', database, size, secure: true, stores: true, log: (l) => console.error(l) });
console.error(run.rounds);
process.exit(0);
