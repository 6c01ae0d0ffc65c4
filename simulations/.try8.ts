import { stat } from 'node:fs/promises';
import { openDatabase } from '../aggregator/db/database.ts';
import { simulateFederation } from './federation.ts';
const database = await openDatabase({ dataDir: 'memory' });
const size = { members: Number(process.argv[2] ?? 6), params: 64, rounds: 1, seed: 7 };
setTimeout(async () => { const t = performance.now(); const tm = setTimeout(() => { console.error('stat HUNG'); process.exit(1); }, 3000); await stat('/tmp'); clearTimeout(tm); console.error('stat ok', performance.now() - t); process.exit(0); }, 3000);
await simulateFederation({ name: 'x', database, size, secure: true, stores: process.argv[3] === 'stores', log: () => {} });
console.error('done');
process.exit(0);
