/** @module The `tessera` command: parses, calls the library, prints. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TesseraError } from '../core/errors.ts';
import { parseArgs, int, str } from './args.ts';
import { clientEnroll, clientRun } from './client.ts';
import { runLocalFile } from './local.ts';
import { federationCreate, invite, listRounds, roundStart, serve } from './operator.ts';

const USAGE = `tessera: federated learning with secure aggregation and an audit trail

  tessera serve [--port 8080] [--data-dir .tessera] [--database-url URL]
  tessera federation create <config.json> [--url URL] [--token-file FILE]
  tessera invite <federation-id> <member-name>
  tessera client enroll --url URL --federation ID --invitation TOKEN [--out member.identity.json]
  tessera client run --dataset SPEC.json (--identity FILE | --url URL --federation ID --invitation TOKEN) [--seed N]
  tessera round start <federation-id>
  tessera rounds <federation-id>
  tessera local <federation.json> [--seed N] [--report FILE] [--strategy NAME] [--rounds N]
  tessera demo <heart-disease|credit-default> [--seed N] [--report FILE] [--strategy NAME] [--rounds N]

Operator commands read the credential from --token-file (default .tessera/operator.token) or TESSERA_TOKEN.
Docs: README.md and docs/.`;

const DEMOS: Record<string, string> = {
  'heart-disease': fileURLToPath(new URL('../examples/heart-disease/federation.json', import.meta.url)),
  'credit-default': fileURLToPath(new URL('../examples/credit-default/federation.json', import.meta.url)),
};

async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const [cmd, sub] = args.positionals;
  const localOpts = () => ({
    seed: int(args, 'seed', 42)!,
    report: str(args, 'report'),
    strategy: str(args, 'strategy'),
    rounds: int(args, 'rounds', undefined, 1, 100_000),
    databaseUrl: str(args, 'database-url'),
  });
  switch (cmd) {
    case 'serve': return serve(args);
    case 'federation':
      if (sub === 'create') return federationCreate(args);
      break;
    case 'invite': return invite(args);
    case 'client':
      if (sub === 'enroll') return clientEnroll(args);
      if (sub === 'run') return clientRun(args);
      break;
    case 'round':
      if (sub === 'start') return roundStart(args);
      break;
    case 'rounds': return listRounds(args);
    case 'local': {
      const file = args.positionals[1];
      if (!file || !existsSync(file)) throw new TesseraError('BAD_REQUEST', `local: expected the path of a federation file, got ${file ?? 'nothing'}`, { field: 'file' });
      await runLocalFile(file, localOpts());
      return;
    }
    case 'demo': {
      const name = sub ?? 'heart-disease';
      const file = DEMOS[name];
      if (!file) throw new TesseraError('BAD_REQUEST', `demo: expected one of ${Object.keys(DEMOS).join(', ')}, got "${name}"`, { field: 'demo' });
      await runLocalFile(file, localOpts());
      return;
    }
    case undefined:
    case 'help':
      console.log(USAGE);
      return;
  }
  throw new TesseraError('BAD_REQUEST', `unknown command "${args.positionals.join(' ')}"; run tessera help`, { field: 'command' });
}

main(process.argv.slice(2)).then(
  () => {
    if (!['serve'].includes(process.argv[2])) process.exit(0);
  },
  (e: unknown) => {
    if (e instanceof TesseraError) {
      const status = (e.details?.status as number | undefined) ?? e.status;
      console.error(`tessera: ${e.code}: ${e.message}`);
      // Bad input (ours or the server's 4xx) exits 2; anything else 1.
      process.exit(status >= 400 && status < 500 ? 2 : 1);
    }
    console.error(`tessera: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);
