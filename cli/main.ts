/** @module The `tessera` command: parses, calls the library, prints. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TesseraError } from '../core/errors.ts';
import { bool, parseArgs, int, str } from './args.ts';
import { auditExport, auditPublicKey, auditReport, auditVerify, auditorAdd, auditorRevoke, receiptsVerify } from './audit.ts';
import { clientBudget, clientEnroll, clientRun } from './client.ts';
import { runLocalFile } from './local.ts';
import { federationCreate, invite, listRounds, memberRevoke, roundStart, serve } from './operator.ts';
import { simulate } from './simulate.ts';

const USAGE = `tessera: federated learning with secure aggregation and an audit trail

  tessera serve [--port 8080] [--host 127.0.0.1] [--data-dir .tessera] [--database-url URL] [--allow-private-urls]
  tessera federation create <config.json> [--url URL] [--token-file FILE]
  tessera invite <federation-id> <member-name>
  tessera member revoke <federation-id> <member-id-or-name> --reason TEXT
  tessera client enroll --url URL --federation ID --invitation TOKEN [--out member.identity.json]
  tessera client run --dataset SPEC.json (--identity FILE | --url URL --federation ID --invitation TOKEN) [--seed N]
                    [--home-store URL] [--replicas URL,URL] [--delta-via-store] [--poll-ms N] [--events] [--policy POLICY.json]
  tessera client budget --identity FILE [--delta D] [--json]
  tessera round start <federation-id>
  tessera rounds <federation-id>
  tessera audit public-key [--data-dir DIR | --url URL]
  tessera audit verify [--file EXPORT.jsonl | --database-url URL | --data-dir DIR] [--public-key KEY]
  tessera audit export --out FILE [--url URL (operator or auditor credential) | --database-url URL | --data-dir DIR]
  tessera audit report (--round N | --since DATE) [--federation ID] [--format html|json] --out FILE [--file EXPORT.jsonl | --url URL | --data-dir DIR]
  tessera auditor add <label> | tessera auditor revoke <auditor-id>
  tessera client receipts verify --receipts FILE --export EXPORT.jsonl --public-key KEY
  tessera local <federation.json> [--seed N] [--split-seed N] [--report FILE] [--strategy NAME] [--rounds N] [--no-secure]
  tessera simulate [--scenario all|GROUP|NAME] [--members 6] [--params 64] [--rounds 2] [--seed 1] [--report FILE] [--workers N]
  tessera demo <heart-disease|credit-default> [--seed N] [--report FILE] [--strategy NAME] [--rounds N] [--no-secure]

Operator commands read the credential from --token-file (default .tessera/operator.token) or TESSERA_TOKEN.
Stores: TESSERA_GCS_ENDPOINT, TESSERA_GCS_PROJECT, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_CONNECTION_STRING
(docs/storage.md, docs/deploy.md).
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
    splitSeed: int(args, 'split-seed', undefined),
    report: str(args, 'report'),
    strategy: str(args, 'strategy'),
    rounds: int(args, 'rounds', undefined, 1, 100_000),
    secure: bool(args, 'secure', true),
    databaseUrl: str(args, 'database-url'),
  });
  switch (cmd) {
    case 'serve': return serve(args);
    case 'federation':
      if (sub === 'create') return federationCreate(args);
      break;
    case 'invite': return invite(args);
    case 'member':
      if (sub === 'revoke') return memberRevoke(args);
      break;
    case 'client':
      if (sub === 'enroll') return clientEnroll(args);
      if (sub === 'run') return clientRun(args);
      if (sub === 'budget') return clientBudget(args);
      if (sub === 'receipts' && args.positionals[2] === 'verify') return receiptsVerify(args);
      break;
    case 'round':
      if (sub === 'start') return roundStart(args);
      break;
    case 'rounds': return listRounds(args);
    case 'audit':
      if (sub === 'public-key') return auditPublicKey(args);
      if (sub === 'verify') return auditVerify(args);
      if (sub === 'export') return auditExport(args);
      if (sub === 'report') return auditReport(args);
      break;
    case 'auditor':
      if (sub === 'add') return auditorAdd(args);
      if (sub === 'revoke') return auditorRevoke(args);
      break;
    case 'simulate': return simulate(args);
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
