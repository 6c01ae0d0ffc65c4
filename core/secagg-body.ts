/**
 * @module How secure-aggregation messages travel over HTTP and are stored: JSON for every stage
 * but masked_input, whose body is a frame (u32 little-endian length of the JSON header, the JSON
 * header = the message without its vector, then the vector's raw bytes), so a masked vector is
 * never base64-inflated. Shapes are checked here; signatures and content in crypto/.
 */
import { TesseraError } from './errors.ts';
import type { MaskedInputMessage, SecAggMessage, SecAggStage } from './secagg-wire.ts';

const bad = (field: string, expected: string): never => {
  throw new TesseraError('BAD_REQUEST', `${field}: expected ${expected}`, { field });
};

/** The bytes of a message as it is sent and stored. */
export function encodeSecAggMessage(message: SecAggMessage): Uint8Array {
  if (message.stage !== 'masked_input') return new TextEncoder().encode(JSON.stringify(message));
  const header: Partial<MaskedInputMessage> = { ...message };
  delete header.vector;
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(4 + json.length + message.vector.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  out.set(message.vector, 4 + json.length);
  return out;
}

const isObjects = (v: unknown): v is Record<string, unknown>[] => Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x));

/** Parses a message body for `stage`; throws BAD_REQUEST naming the field on a malformed body. */
export function decodeSecAggMessage(bytes: Uint8Array, stage: SecAggStage): SecAggMessage {
  let value: unknown;
  let vector: Uint8Array | undefined;
  try {
    if (stage === 'masked_input') {
      if (bytes.length < 4) bad('body', 'a masked-input frame (u32 header length, JSON header, vector bytes)');
      const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
      if (n > bytes.length - 4) bad('body', 'a masked-input frame whose header length fits the body');
      value = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + n)));
      vector = bytes.slice(4 + n);
    } else {
      value = JSON.parse(new TextDecoder().decode(bytes));
    }
  } catch (e) {
    if (e instanceof TesseraError) throw e;
    bad('body', `a ${stage} message as JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad('body', `a ${stage} message object`);
  const m = value as Record<string, unknown>;
  for (const key of ['protocol', 'federationId', 'stage', 'memberId', 'signature']) if (typeof m[key] !== 'string') bad(key, 'a string');
  if (typeof m.round !== 'number') bad('round', 'a number');
  if (m.stage !== stage) {
    throw new TesseraError('STALE_STAGE', `message belongs to stage ${JSON.stringify(m.stage)}; it was sent to the ${stage} route`, { field: 'stage' });
  }
  switch (stage) {
    case 'advertise_keys':
      if (typeof m.encryptionKey !== 'string') bad('encryptionKey', 'a string');
      if (typeof m.maskKey !== 'string') bad('maskKey', 'a string');
      break;
    case 'share_keys':
      if (typeof m.selfMaskCommitment !== 'string') bad('selfMaskCommitment', 'a string');
      if (!isObjects(m.shares) || !m.shares.every((s) => typeof s.from === 'string' && typeof s.to === 'string' && typeof s.ciphertext === 'string')) bad('shares', 'a list of {from, to, ciphertext}');
      break;
    case 'masked_input':
      if (typeof m.length !== 'number') bad('length', 'a number');
      if (typeof m.vectorHash !== 'string') bad('vectorHash', 'a string');
      m.vector = vector;
      break;
    case 'consistency':
      if (typeof m.survivorsHash !== 'string' || !/^[0-9a-f]{64}$/.test(m.survivorsHash)) bad('survivorsHash', 'the BLAKE2b-256 of the survivor set, 64 lowercase hex characters');
      break;
    case 'unmask':
      if (!isObjects(m.shares) || !m.shares.every((s) => typeof s.of === 'string' && typeof s.kind === 'string' && typeof s.share === 'string')) bad('shares', 'a list of {of, kind, share}');
      break;
  }
  return m as unknown as SecAggMessage;
}
