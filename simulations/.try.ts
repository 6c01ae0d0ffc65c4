import { runScenarios, formatTable } from './run.ts';
const sel = process.argv[2] ?? 'baseline';
const r = await runScenarios({ scenario: sel, size: { members: 6, params: 64, rounds: 2, seed: 7 }, print: console.log, log: process.env.V ? console.log : undefined });
console.log(formatTable(r.scenarios));
process.exit(0);
