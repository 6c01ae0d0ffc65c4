import { runScenarios } from './run.ts';
const t0 = performance.now();
const log = (l: string) => console.log(((performance.now() - t0) / 1000).toFixed(2), l);
await runScenarios({ scenario: 'baseline', size: { members: 6, params: 64, rounds: 3, seed: 7 }, print: log, log });
process.exit(0);
