/**
 * docker-compose.yml without a Docker engine: the file parses (it is kept in YAML's
 * JSON-compatible flow style, so JSON.parse reads it once comment lines are dropped), and every
 * Tessera service's command is a command of `tessera help` with only flags that command takes;
 * every environment variable is one the code reads; datasets, the federation file and store URLs
 * are valid; every member's home store is one the federation publishes to.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFederationConfig, parseStores } from '../core/federation.ts';

interface Service {
  image?: string;
  build?: unknown;
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: string[] | Record<string, unknown>;
  volumes?: string[];
}

const compose = JSON.parse(readFileSync('docker-compose.yml', 'utf8').split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
// USAGE lines, with continuation lines (indented, starting with `[`) joined to their command.
const usage = /const USAGE = `([\s\S]*?)`;/.exec(readFileSync('cli/main.ts', 'utf8'))![1]
  .split('\n')
  .reduce<string[]>((acc, l) => (l.trim().startsWith('tessera ') ? [...acc, l.trim()] : acc.length && /^\s+[[(]/.test(l) ? [...acc.slice(0, -1), `${acc[acc.length - 1]} ${l.trim()}`] : acc), []);
/** The command words of a usage line: `tessera client run --dataset ...` -> [client, run]. */
const commandWords = (line: string): string[] => {
  const w = line.split(/\s+/).slice(1);
  const end = w.findIndex((x) => !/^[a-z][a-z-]*$/.test(x));
  return end < 0 ? w : w.slice(0, end);
};
// Flags that every operator command takes (operatorTransport), beyond those its usage line shows.
const OPERATOR_FLAGS = ['--url', '--token-file', '--data-dir'];

/** Splits a shell line into words (quotes kept together, `$$(...)` as one word). */
const words = (line: string): string[] => (line.match(/"[^"]*"|'[^']*'|\S+/g) ?? []).map((w) => w.replace(/^["']|["']$/g, ''));

/** Every `tessera ...` invocation in a shell script or command line, up to `;`, `|`, `&&` or the line end. */
function invocations(script: string): string[][] {
  const out: string[][] = [];
  for (const line of script.split(/\n|;|\|\||&&|\|/)) {
    const w = words(line.replace(/\$OP\b/g, '--url http://aggregator:8080 --token-file /data/operator.token'));
    const at = w.indexOf('tessera');
    if (at >= 0 && !line.trimStart().startsWith('#')) out.push(w.slice(at + 1));
  }
  return out;
}

const BOOL_FLAGS = ['--allow-private-urls', '--delta-via-store', '--events'];

/** Checks an argv against USAGE: its command words are a usage line's, and each flag appears on that line. */
function checkAgainstUsage(argv: string[], where: string): void {
  const positionals = argv.filter((a, i) => !a.startsWith('--') && !(i > 0 && argv[i - 1].startsWith('--') && !BOOL_FLAGS.includes(argv[i - 1])));
  const lines = usage.filter((l) => commandWords(l).every((c, i) => positionals[i] === c));
  expect(lines.length, `${where}: "tessera ${argv.join(' ')}" is not a command of tessera help`).toBeGreaterThan(0);
  const allowed = new Set([...lines.join(' ').matchAll(/--[a-z-]+/g)].map((m) => m[0]));
  const isOperator = !['client', 'serve', 'local', 'demo'].includes(positionals[0]);
  for (const flag of argv.filter((a) => a.startsWith('--'))) {
    expect(allowed.has(flag) || (isOperator && OPERATOR_FLAGS.includes(flag)), `${where}: ${flag} is not a flag of "tessera ${positionals.slice(0, 2).join(' ')}"`).toBe(true);
  }
}

/** Environment variables the code reads (process.env.X, env.X, env: 'X'), including the SDK ones our docs name. */
function envRead(): Set<string> {
  const names = new Set<string>();
  for (const file of ['cli/main.ts', 'cli/operator.ts', 'cli/client.ts', 'cli/stores.ts', 'aggregator/db/database.ts', 'storage/azure.ts', 'storage/signed-url.ts', 'storage/gcs.ts']) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:process\.env|\benv)\.([A-Z_][A-Z0-9_]*)|env: '([A-Z_][A-Z0-9_]*)'/g)) names.add(m[1] ?? m[2]);
  }
  return names;
}

describe('docker-compose.yml', () => {
  const services = compose.services;

  it('has postgres, the aggregator, Azurite, the GCS test server and members in three kinds of home store', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['postgres', 'aggregator', 'azurite', 'gcs', 'setup']));
    const homes = Object.values(services).map((s) => words(s.command?.join(' ') ?? '')).map((w) => w[w.indexOf('--home-store') + 1]).filter((h, i, all) => h && all.indexOf(h) === i && h !== undefined);
    expect(homes.some((h) => h.startsWith('gs://'))).toBe(true);
    expect(homes.some((h) => h.startsWith('az://'))).toBe(true);
    expect(homes.some((h) => h.startsWith('file://'))).toBe(true);
    expect(services.gcs.entrypoint).toEqual(['npx', 'tsx', 'storage/testing/gcs-server.ts']);
    expect(existsSync('storage/testing/gcs-server.ts')).toBe(true);
    for (const [name, s] of Object.entries(services)) {
      const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
      for (const d of deps) expect(Object.keys(services), `${name} depends on ${d}`).toContain(d);
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0];
        if (!source.startsWith('.') && !source.startsWith('/')) expect(Object.keys(compose.volumes), `${name}: volume ${source}`).toContain(source);
      }
    }
  });

  it('runs only commands and flags the CLI accepts, with environment variables the code reads', () => {
    const env = envRead();
    let checked = 0;
    for (const [name, s] of Object.entries(services)) {
      if (s.image !== 'tessera:local') continue;
      for (const key of Object.keys(s.environment ?? {})) expect(env.has(key), `${name}: ${key} is read nowhere in cli/ or storage/`).toBe(true);
      const entry = s.entrypoint ?? ['tessera'];
      let argvs: string[][];
      if (entry[0] === 'tessera') argvs = [s.command ?? []];
      else if (entry[0] === 'sh' && entry[1] === '-c') argvs = invocations(s.command!.join(' '));
      else if (entry[0] === 'sh') argvs = invocations(readFileSync(entry[1], 'utf8'));
      else continue; // the GCS test server
      expect(argvs.length, `${name}: no tessera command found`).toBeGreaterThan(0);
      for (const argv of argvs) {
        checkAgainstUsage(argv, name);
        checked++;
        const value = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
        const dataset = value('--dataset');
        if (dataset) expect(existsSync(dataset), `${name}: ${dataset}`).toBe(true);
        const stores = [value('--home-store'), ...(value('--replicas')?.split(',') ?? [])].filter((x): x is string => !!x);
        if (stores.length) expect(parseStores(stores)).toEqual(stores);
      }
    }
    expect(checked).toBeGreaterThanOrEqual(8);
  });

  it('publishes the federation to every member home store; the federation file is a valid config', () => {
    const script = readFileSync('deploy/compose-setup.sh', 'utf8');
    const file = invocations(script).find((a) => a[0] === 'federation')![2];
    const config = parseFederationConfig(JSON.parse(readFileSync(file, 'utf8')));
    const members = Object.values(services).filter((s) => s.command?.join(' ').includes('client run'));
    expect(members.length).toBe(config.minMembers);
    for (const m of members) {
      const w = words(m.command!.join(' '));
      const home = w.includes('--home-store') ? w[w.indexOf('--home-store') + 1] : null;
      if (home) expect(config.stores).toContain(home);
      if (w.includes('--delta-via-store')) expect(home).toMatch(/^(gs|az):\/\//);
      if (home?.startsWith('file://')) expect(services.aggregator.volumes!.some((v) => home.startsWith(`file://${v.split(':')[1]}`))).toBe(true);
    }
    // Loopback/private fetches are refused by default; the compose network is private, so the operator opts in.
    expect(services.aggregator.command).toContain('--allow-private-urls');
  });
});
