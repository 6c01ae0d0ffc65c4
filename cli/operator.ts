/** @module Operator commands: serve, federation create, invite, round start, rounds. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TesseraError } from '../core/errors.ts';
import { startAggregator } from '../aggregator/server.ts';
import { OPERATOR_TOKEN_FILE } from '../aggregator/credentials.ts';
import { Transport } from '../clients/transport.ts';
import type { Args } from './args.ts';
import { bool, int, positional, str } from './args.ts';
import { storeOptionsFromEnv } from './stores.ts';

export async function serve(args: Args): Promise<void> {
  const running = await startAggregator({
    dataDir: str(args, 'data-dir', { env: 'TESSERA_DATA_DIR', fallback: '.tessera' }),
    databaseUrl: str(args, 'database-url', { env: 'DATABASE_URL' }),
    host: str(args, 'host', { env: 'TESSERA_HOST', fallback: '127.0.0.1' }),
    port: int(args, 'port', Number(process.env.TESSERA_PORT ?? 8080), 0, 65535),
    storeOptions: storeOptionsFromEnv(),
    // Member-given update URLs may point at private addresses only when the operator says so (a compose network).
    urlFetch: { allowPrivate: bool(args, 'allow-private-urls', process.env.TESSERA_ALLOW_PRIVATE_URLS === '1') },
  });
  console.log(`operator credential: ${running.operatorTokenFile}`);
  const stop = async () => {
    await running.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** The operator's transport: --url / TESSERA_URL, and --token-file / TESSERA_TOKEN. */
export function operatorTransport(args: Args): Transport {
  const baseUrl = str(args, 'url', { env: 'TESSERA_URL', fallback: 'http://127.0.0.1:8080' })!;
  let token = process.env.TESSERA_TOKEN;
  const file = str(args, 'token-file', { fallback: join(str(args, 'data-dir', { env: 'TESSERA_DATA_DIR', fallback: '.tessera' })!, OPERATOR_TOKEN_FILE) })!;
  if (!token) {
    if (!existsSync(file)) throw new TesseraError('BAD_REQUEST', `--token-file: no operator credential at ${file} (set TESSERA_TOKEN or pass --token-file)`, { field: 'token-file' });
    token = readFileSync(file, 'utf8').trim();
  }
  return new Transport({ baseUrl, bearer: token, retries: 2 });
}

export async function federationCreate(args: Args): Promise<void> {
  const path = positional(args, 2, 'federation config file');
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new TesseraError('BAD_REQUEST', `${path}: ${(e as Error).message}`, { field: 'file' });
  }
  delete body.members;
  delete body.reference;
  const { federation } = await operatorTransport(args).json<{ federation: { id: string; name: string; initialModel: { hash: string } } }>('POST', '/v1/federations', { body });
  console.log(`federation ${federation.id} ("${federation.name}") created; initial model ${federation.initialModel.hash}`);
}

export async function invite(args: Args): Promise<void> {
  const fid = positional(args, 1, 'federation id');
  const memberName = positional(args, 2, 'member name');
  const { invitation } = await operatorTransport(args).json<{ invitation: { token: string; expiresAt: number } }>('POST', `/v1/federations/${fid}/invitations`, { body: { memberName } });
  // The one place a secret is printed: the operator hands this token to the member out of band.
  console.log(`invitation for "${memberName}" (one use, expires ${new Date(invitation.expiresAt).toISOString()}):`);
  console.log(invitation.token);
}

export async function roundStart(args: Args): Promise<void> {
  const fid = positional(args, 2, 'federation id');
  const { round } = await operatorTransport(args).json<{ round: { number: number; stageDeadline: number } }>('POST', `/v1/federations/${fid}/rounds`);
  console.log(`round ${round.number} opened (fit stage closes ${new Date(round.stageDeadline).toISOString()})`);
}

export async function listRounds(args: Args): Promise<void> {
  const fid = positional(args, 1, 'federation id');
  const { rounds } = await operatorTransport(args).json<{ rounds: { number: number; status: string; stage: string | null; committedVersion: number | null; failureReason: string | null; metrics: { meanAccuracy: number | null } | null }[] }>('GET', `/v1/federations/${fid}/rounds`);
  if (rounds.length === 0) return console.log('no rounds yet');
  console.log('round  status     stage      model  mean accuracy');
  for (const r of rounds) {
    const acc = r.metrics?.meanAccuracy;
    console.log(`${String(r.number).padStart(5)}  ${r.status.padEnd(9)}  ${(r.stage ?? '-').padEnd(9)}  ${String(r.committedVersion ?? '-').padStart(5)}  ${acc === null || acc === undefined ? '-' : acc.toFixed(3)}${r.failureReason ? `  (${r.failureReason})` : ''}`);
  }
}

/** `tessera member revoke <federation-id> <member> --reason TEXT`: the member may be named by id or by name. */
export async function memberRevoke(args: Args): Promise<void> {
  const fid = positional(args, 2, 'federation id');
  const who = positional(args, 3, 'member id or name');
  const reason = str(args, 'reason', { required: true })!;
  const t = operatorTransport(args);
  const { members } = await t.json<{ members: { id: string; name: string; status: string }[] }>('GET', `/v1/federations/${fid}/members`);
  const member = members.find((m) => m.id === who) ?? members.find((m) => m.name === who);
  if (!member) throw new TesseraError('NOT_FOUND', `member: no member "${who}" (by id or name) in federation ${fid}`, { field: 'member' });
  const res = await t.json<{ alreadyRevoked?: boolean; keyId?: string; resealed?: { version: number } | null; droppedFromRound?: number | null }>('POST', `/v1/federations/${fid}/members/${member.id}/revoke`, { body: { reason } });
  if (res.alreadyRevoked) return console.log(`member "${member.name}" (${member.id}) was already revoked; nothing changed`);
  console.log(`member "${member.name}" (${member.id}) revoked; content key rotated to ${res.keyId}${res.resealed ? `, model version ${res.resealed.version} resealed and queued for every store` : ''}${res.droppedFromRound ? `; dropped from open round ${res.droppedFromRound}` : ''}`);
}
