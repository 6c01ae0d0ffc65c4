/**
 * @module Where a member gets a model: its home store first (the sealed, signed artifact the
 * round announcement names), with retries and backoff; then any other replica it can read; then
 * the aggregator over HTTP. Whatever the source, the bytes are used only if the seal, the
 * aggregator's signature, the sealed hash and the plaintext hash all match the announcement.
 * Everything it saw goes into a FetchReport that the runtime sends to the aggregator's ledger.
 */
import type { ArtifactStore } from '../core/artifact-store.ts';
import { concatBytes, contentKey } from '../core/artifact-store.ts';
import { decodeWeights } from '../core/codec.ts';
import { TesseraError } from '../core/errors.ts';
import type { FetchAttempt, FetchOutcome, FetchReport } from '../core/fetch-report.ts';
import { contentHash } from '../core/hash.ts';
import type { SealedModelRef } from '../core/rounds.ts';
import type { Tensor } from '../core/tensors.ts';
import { openContentKey } from '../crypto/content-keys.ts';
import type { SealedContentKey } from '../crypto/content-keys.ts';
import { fromBase64 } from '../crypto/identity.ts';
import { openSealed } from '../crypto/sealed-artifact.ts';
import type { Transport } from './transport.ts';

export interface ModelSourceOptions {
  transport: Transport;
  federationId: string;
  memberId: string;
  /** The member's Ed25519 secret key: opens the content keys sealed to it. */
  secretKey?: Uint8Array;
  /** The member's home store (in its own cloud); without it models come over HTTP. */
  home?: ArtifactStore;
  /** Other replicas to try, once each, before the aggregator. */
  replicas?: ArtifactStore[];
  /** Attempts on the home store before falling back (default 4), first wait (default 250 ms, doubling). */
  attempts?: number;
  backoffMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface FetchedModel {
  weights: Tensor[];
  report: FetchReport;
}

/** What the member holds to open sealed artifacts. */
interface Keys {
  signer: Uint8Array;
  content: Map<string, Uint8Array>;
}

export interface ModelSource {
  /** The model `version` whose plaintext hashes to `hash`, from the best source that has it intact. */
  fetch(version: number, hash: string, artifact?: SealedModelRef): Promise<FetchedModel>;
}

const AGGREGATOR = 'aggregator';

export function createModelSource(opts: ModelSourceOptions): ModelSource {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = () => performance.now();
  let keys: Keys | null = null;

  async function loadKeys(): Promise<Keys> {
    if (!opts.secretKey) throw new TesseraError('FORBIDDEN', 'no member secret key to open sealed models with');
    const { keys: k } = await opts.transport.json<{ keys: { signerPublicKey: string; contentKeys: SealedContentKey[] } }>('GET', `/v1/federations/${opts.federationId}/members/${opts.memberId}/keys`);
    const signer = fromBase64(k.signerPublicKey);
    if (!signer || signer.length !== 32) throw new TesseraError('INTEGRITY', 'the aggregator sent a malformed signer public key');
    keys = { signer, content: new Map(k.contentKeys.map((s) => [s.keyId, openContentKey(s, opts.secretKey!)])) };
    return keys;
  }

  /** Reads and checks one store's copy; classifies what is wrong with it. */
  async function fromStore(store: ArtifactStore, hash: string, ref: SealedModelRef): Promise<Uint8Array> {
    const object = await store.get(contentKey(ref.sealedHash));
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of object.body) {
      size += chunk.length;
      if (size > ref.sealedSize) break; // longer than announced: no need to read on
      chunks.push(chunk);
    }
    const bytes = concatBytes(chunks);
    let k = keys ?? (await loadKeys());
    if (!k.content.has(ref.keyId)) k = await loadKeys(); // rotated since we last asked
    const open = () => openSealed(bytes, { contentKeys: (id) => k.content.get(id), signerPublicKey: k.signer });
    if (size === ref.sealedSize && contentHash(bytes) === ref.sealedHash) {
      const { plaintext } = await open();
      if (contentHash(plaintext) !== hash) throw classified('stale', `the artifact ${ref.sealedHash.slice(0, 12)}… opens to a model other than the announced ${hash.slice(0, 12)}…`);
      return plaintext;
    }
    // Not the announced bytes. An authentic artifact of another version is stale; anything else torn or altered.
    try {
      await open();
    } catch (e) {
      if (e instanceof TesseraError && e.code === 'FORBIDDEN') throw e;
      throw classified(size < ref.sealedSize ? 'torn' : 'altered', `${size} bytes${size > ref.sealedSize ? ' or more' : ''} where ${ref.sealedSize} were announced; ${(e as Error).message}`);
    }
    throw classified('stale', `a validly signed artifact of another model version sits where ${ref.sealedHash.slice(0, 12)}… should be`);
  }

  async function fromAggregator(version: number, hash: string): Promise<Uint8Array> {
    const { bytes } = await opts.transport.bytes('GET', `/v1/federations/${opts.federationId}/models/${version}`);
    const got = contentHash(bytes);
    if (got !== hash) throw classified('altered', `model version ${version}: received bytes hash to ${got}, the announcement names ${hash}; refusing to use it`);
    return bytes;
  }

  return {
    async fetch(version, hash, ref) {
      const attempts: FetchAttempt[] = [];
      const tryOnce = async (source: string, read: () => Promise<Uint8Array>): Promise<Uint8Array | null> => {
        const t0 = now();
        try {
          const bytes = await read();
          attempts.push({ source, outcome: 'ok', ms: now() - t0 });
          return bytes;
        } catch (e) {
          const outcome = outcomeOf(e);
          const err = e as TesseraError;
          attempts.push({ source, outcome, code: err.code ?? 'INTERNAL', message: String(err.message ?? e).slice(0, 500), ms: now() - t0 });
          return null;
        }
      };
      let bytes: Uint8Array | null = null;
      let used: string | null = null;
      if (ref && opts.home && opts.secretKey) {
        const tries = opts.attempts ?? 4;
        for (let i = 0; i < tries && !bytes; i++) {
          if (i > 0) await sleep((opts.backoffMs ?? 250) * 2 ** (i - 1));
          bytes = await tryOnce(opts.home.url, () => fromStore(opts.home!, hash, ref));
        }
        if (bytes) used = opts.home.url;
        for (const replica of opts.replicas ?? []) {
          if (bytes) break;
          bytes = await tryOnce(replica.url, () => fromStore(replica, hash, ref));
          if (bytes) used = replica.url;
        }
      }
      if (!bytes) {
        bytes = await tryOnce(AGGREGATOR, () => fromAggregator(version, hash));
        if (bytes) used = AGGREGATOR;
      }
      const report: FetchReport = { modelVersion: version, modelHash: hash, usedSource: used, attempts: attempts.map((a) => ({ ...a, ms: Math.round(a.ms) })) };
      if (!bytes) {
        const last = attempts[attempts.length - 1];
        throw new TesseraError(last.outcome === 'unavailable' ? 'STORE_UNAVAILABLE' : 'INTEGRITY', `model version ${version}: no intact copy from ${attempts.map((a) => `${a.source} (${a.outcome})`).join(', ')}`, { details: { report } });
      }
      return { weights: decodeWeights(bytes), report };
    },
  };
}

/** True when the fetch went other than "first try at the first source": worth telling the aggregator. */
export const worthReporting = (r: FetchReport): boolean => r.attempts.length > 1 || r.attempts[0]?.outcome !== 'ok';

const OUTCOME = Symbol('outcome');
function classified(outcome: FetchOutcome, message: string): TesseraError {
  return Object.assign(new TesseraError('INTEGRITY', message), { [OUTCOME]: outcome });
}

function outcomeOf(e: unknown): FetchOutcome {
  const tagged = (e as { [OUTCOME]?: FetchOutcome })[OUTCOME];
  if (tagged) return tagged;
  if (!(e instanceof TesseraError)) return 'unavailable';
  switch (e.code) {
    case 'NOT_FOUND': return 'missing';
    case 'FORBIDDEN': return 'forbidden';
    case 'INTEGRITY': return /truncated/.test(e.message) ? 'torn' : 'altered';
    default: return 'unavailable';
  }
}
