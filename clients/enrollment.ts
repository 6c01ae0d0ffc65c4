/**
 * @module Member identity: the key pair is generated here, on the member's side, at enrollment;
 * only the public key goes to the aggregator. The identity file is written with mode 0600.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { TesseraError } from '../core/errors.ts';
import { enrollmentMessage } from '../core/request-signing.ts';
import { fromBase64, generateIdentity, sign, toBase64 } from '../crypto/identity.ts';
import { Transport } from './transport.ts';

export interface MemberIdentity {
  aggregatorUrl: string;
  federationId: string;
  memberId: string;
  name: string;
  publicKey: string;
  secretKey: string;
}

/** Generates a key pair and enrolls with a one-time invitation token. */
export async function enroll(opts: { aggregatorUrl: string; federationId: string; token: string; fetch?: typeof fetch }): Promise<MemberIdentity> {
  const keys = generateIdentity();
  const publicKey = toBase64(keys.publicKey);
  const proof = toBase64(sign(enrollmentMessage(opts.federationId, opts.token, publicKey), keys.secretKey));
  const transport = new Transport({ baseUrl: opts.aggregatorUrl, fetch: opts.fetch });
  const { member } = await transport.json<{ member: { id: string; name: string } }>('POST', `/v1/federations/${opts.federationId}/enroll`, {
    body: { token: opts.token, publicKey, proof },
  });
  return { aggregatorUrl: opts.aggregatorUrl, federationId: opts.federationId, memberId: member.id, name: member.name, publicKey, secretKey: toBase64(keys.secretKey) };
}

export function saveIdentity(path: string, id: MemberIdentity): void {
  writeFileSync(path, JSON.stringify(id, null, 2) + '\n', { mode: 0o600 });
}

export function loadIdentity(path: string): MemberIdentity {
  let parsed: Partial<MemberIdentity>;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<MemberIdentity>;
  } catch (e) {
    throw new TesseraError('BAD_REQUEST', `identity file ${path}: ${(e as Error).message}`, { field: 'identity' });
  }
  for (const k of ['aggregatorUrl', 'federationId', 'memberId', 'name', 'publicKey', 'secretKey'] as const) {
    if (typeof parsed[k] !== 'string') throw new TesseraError('BAD_REQUEST', `identity file ${path}: ${k}: expected a string`, { field: k });
  }
  return parsed as MemberIdentity;
}

/** A signed transport for this member. */
export function memberTransport(id: MemberIdentity, extra: { fetch?: typeof fetch; now?: () => number } = {}): Transport {
  const secretKey = fromBase64(id.secretKey);
  if (!secretKey) throw new TesseraError('BAD_REQUEST', 'identity: secretKey is not valid base64', { field: 'secretKey' });
  return new Transport({ baseUrl: id.aggregatorUrl, member: { memberId: id.memberId, secretKey }, ...extra });
}
