/** @module The federation config an operator submits: model, strategy, training, rounds, deadlines. */
import { TesseraError } from './errors.ts';
import type { ModelSpec } from './model.ts';
import { parseModelSpec } from './model.ts';
import type { RecordPrivacyConfig } from './privacy/config.ts';
import { parsePrivacyConfig } from './privacy/config.ts';

export const STRATEGY_NAMES = ['fedavg', 'fedavgm', 'fedprox', 'fedadam', 'fedyogi', 'fedadagrad'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** Server-side hyperparameters; each strategy reads the ones it needs (Reddi et al., 2021). */
export interface StrategyConfig {
  name: StrategyName;
  /** Server learning rate (eta); FedAvg uses 1. */
  serverLearningRate: number;
  /** FedAvgM momentum. */
  momentum: number;
  /** Adaptive strategies: first and second moment decay, and tau (adaptivity). */
  beta1: number;
  beta2: number;
  tau: number;
  /** FedProx proximal term, applied by the clients. */
  proximalMu: number;
}

/** What each member does locally in a round. */
export interface TrainingConfig {
  optimizer: 'sgd' | 'adam';
  learningRate: number;
  batchSize: number;
  /** Either a number of local epochs or of local steps (batches); steps win when both are set. */
  localEpochs: number;
  localSteps: number | null;
}

export interface FederationConfig {
  name: string;
  model: ModelSpec;
  strategy: StrategyConfig;
  training: TrainingConfig;
  rounds: number;
  minMembers: number;
  /** Seconds each stage stays open before late members are dropped. Secure rounds use `fit` for
   *  masked_input (training happens before it) and `keys` for each of the other protocol stages. */
  deadlines: { fit: number; evaluate: number; keys: number };
  /** Seed for the initial weights. */
  seed: number;
  /** Largest accepted update body, bytes. */
  maxUpdateBytes: number;
  /** Store URLs (`file:///...`, `gs://bucket/prefix`, `az://account/container/prefix`) where every
   *  model version is published sealed and signed; empty: members fetch over HTTP only. */
  stores: string[];
  /** Record-level DP-SGD every member applies to its own training (see docs/privacy.md); null: none.
   *  Absent in configs stored before it existed: read it as `config.privacy ?? null`. */
  privacy: RecordPrivacyConfig | null;
  /** Secure aggregation (docs/secure-aggregation.md), on by default. Absent in configs stored
   *  before it existed (those ran plaintext): read it as `secureOf(config)`. */
  secure: SecureConfig;
}

/** Secure-aggregation settings; the quantization headroom rule is checked when a round is configured. */
export interface SecureConfig {
  enabled: boolean;
  /** Each delta coordinate is clipped to [-clip, clip]; clipped coordinates are counted and reported. */
  clip: number;
  /** Bits per member value; null: the most the headroom rule allows for the cohort, capped at 24. */
  bits: number | null;
  /** Example counts above this are capped: a member's weight in the mean is min(examples, maxWeight). */
  maxWeight: number;
  /** Overrides of the neighbour count k and the threshold t (default rule in docs/secure-aggregation.md). */
  neighbours: number | null;
  threshold: number | null;
  /**
   * Members also keep a share of their own self-mask seed and mask key (k + 1 holders), so one more
   * member may drop; null: the default rule (on only when k = 2, i.e. 3 members). With it, the
   * default t is a majority of k + 1 and a lower one is refused. Absent in configs stored before it
   * existed: read it as null. Trade-offs: docs/secure-aggregation.md.
   */
  selfShares: boolean | null;
  /** Member-level distributed DP: integer noise each member adds after quantization (docs/privacy.md); null: none. */
  distributedNoise: DistributedNoiseConfig | null;
}

/**
 * Member-level distributed DP under secure aggregation. Each member's per-coordinate noise
 * variance is calibrated so that the secure sum over `minSurvivors` members' noise is
 * (epsilon, delta)-DP for adding or removing one whole member, per round.
 */
export interface DistributedNoiseConfig {
  mechanism: 'discrete-gaussian' | 'skellam';
  /** Per round, for the sum over `minSurvivors` members (more survivors: smaller epsilon). */
  epsilon: number;
  delta: number;
  /** L2 bound of each member's delta, applied before quantization; at most `secure.clip`, so no coordinate is clipped. */
  l2Clip: number;
  /** The fewest members whose noise a released sum contains; members refuse to sign a smaller survivor set. Default: `minMembers`. */
  minSurvivors: number;
}

export const DISTRIBUTED_NOISE_MECHANISMS = ['discrete-gaussian', 'skellam'] as const;

export const DEFAULT_SECURE: SecureConfig = { enabled: true, clip: 4, bits: null, maxWeight: 10_000, neighbours: null, threshold: null, selfShares: null, distributedNoise: null };

/** The federation's secure settings; configs stored before `secure` existed ran plaintext. */
export const secureOf = (config: FederationConfig): SecureConfig => config.secure ?? { ...DEFAULT_SECURE, enabled: false };

/** `secure`: an object (or `false`, short for `{ "enabled": false }`); names the first bad field. `minMembers` is distributedNoise.minSurvivors' default. */
export function parseSecure(input: unknown, path = 'secure', minMembers = 3): SecureConfig {
  if (input === false) return { ...DEFAULT_SECURE, enabled: false };
  const o = obj(input, path);
  const enabled = o.enabled ?? true;
  if (typeof enabled !== 'boolean') bad(`${path}.enabled`, 'true or false');
  const optionalInt = (key: string, min: number, max: number): number | null => (o[key] === undefined || o[key] === null ? null : int(o, key, path, 0, min, max));
  const clip = num(o, 'clip', path, DEFAULT_SECURE.clip, 1e-6, 1e6);
  const distributedNoise = parseDistributedNoise(o.distributedNoise, `${path}.distributedNoise`, clip, minMembers);
  if (distributedNoise && !enabled) bad(`${path}.distributedNoise`, 'null when secure.enabled is false (the noise is added under secure aggregation)');
  return {
    enabled,
    clip,
    bits: optionalInt('bits', 2, 31),
    maxWeight: int(o, 'maxWeight', path, DEFAULT_SECURE.maxWeight, 1, 2 ** 32 - 1),
    neighbours: optionalInt('neighbours', 2, 65_535),
    threshold: optionalInt('threshold', 2, 65_535),
    selfShares: optionalBoolean(o, 'selfShares', path),
    distributedNoise,
  };
}

/** An optional boolean setting: absent or null is null (the default rule applies). */
function optionalBoolean(o: Record<string, unknown>, key: string, path: string): boolean | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'boolean') bad(`${path}.${key}`, 'true, false or null (null: the default rule)');
  return v;
}

/** `secure.distributedNoise` (absent or null: none); `clip` is the secure clip it must not exceed. */
export function parseDistributedNoise(input: unknown, path: string, clip: number, minMembers: number): DistributedNoiseConfig | null {
  if (input === undefined || input === null) return null;
  const o = obj(input, path);
  const mechanism = o.mechanism ?? 'discrete-gaussian';
  if (!DISTRIBUTED_NOISE_MECHANISMS.includes(mechanism as DistributedNoiseConfig['mechanism'])) bad(`${path}.mechanism`, '"discrete-gaussian" or "skellam"');
  if (o.epsilon === undefined) bad(`${path}.epsilon`, 'the per-round epsilon of the secure sum, a number in [0.01, 100]');
  const epsilon = num(o, 'epsilon', path, 0, 0.01, 100);
  const delta = o.delta;
  if (typeof delta !== 'number' || !(delta > 0 && delta < 1)) bad(`${path}.delta`, 'a number in (0, 1), e.g. 1e-5 (below 1 / the number of members)');
  const l2Clip = num(o, 'l2Clip', path, clip, 1e-9, clip);
  const minSurvivors = int(o, 'minSurvivors', path, Math.max(minMembers, 1), 1, 65_536);
  return { mechanism: mechanism as DistributedNoiseConfig['mechanism'], epsilon, delta, l2Clip, minSurvivors };
}

const DEFAULT_STRATEGY: Record<StrategyName, Partial<StrategyConfig>> = {
  fedavg: { serverLearningRate: 1 },
  fedavgm: { serverLearningRate: 0.1, momentum: 0.9 },
  fedprox: { serverLearningRate: 1, proximalMu: 0.01 },
  fedadam: { serverLearningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 },
  fedyogi: { serverLearningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 },
  fedadagrad: { serverLearningRate: 0.1, beta1: 0, beta2: 0, tau: 1e-3 },
};

function bad(field: string, expected: string): never {
  throw new TesseraError('BAD_REQUEST', `${field}: expected ${expected}`, { field });
}

function num(o: Record<string, unknown>, key: string, path: string, fallback: number, min: number, max: number): number {
  const v = o[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) bad(`${path}.${key}`, `a number in [${min}, ${max}]`);
  return v;
}

function int(o: Record<string, unknown>, key: string, path: string, fallback: number, min: number, max: number): number {
  const v = o[key] ?? fallback;
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) bad(`${path}.${key}`, `an integer in [${min}, ${max}]`);
  return v as number;
}

function obj(v: unknown, path: string): Record<string, unknown> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(path, 'an object');
  return v as Record<string, unknown>;
}

export function parseStrategy(input: unknown, path = 'strategy'): StrategyConfig {
  const o = typeof input === 'string' ? { name: input } : obj(input, path);
  const name = o.name ?? 'fedavg';
  if (!STRATEGY_NAMES.includes(name as StrategyName)) bad(`${path}.name`, `one of ${STRATEGY_NAMES.join(', ')}`);
  const d = DEFAULT_STRATEGY[name as StrategyName];
  return {
    name: name as StrategyName,
    serverLearningRate: num(o, 'serverLearningRate', path, d.serverLearningRate ?? 1, 1e-9, 100),
    momentum: num(o, 'momentum', path, d.momentum ?? 0, 0, 0.999999),
    beta1: num(o, 'beta1', path, d.beta1 ?? 0.9, 0, 0.999999),
    beta2: num(o, 'beta2', path, d.beta2 ?? 0.99, 0, 0.999999),
    tau: num(o, 'tau', path, d.tau ?? 1e-3, 1e-12, 10),
    proximalMu: num(o, 'proximalMu', path, d.proximalMu ?? 0, 0, 100),
  };
}

export function parseTraining(input: unknown, path = 'training'): TrainingConfig {
  const o = obj(input, path);
  const optimizer = o.optimizer ?? 'sgd';
  if (optimizer !== 'sgd' && optimizer !== 'adam') bad(`${path}.optimizer`, '"sgd" or "adam"');
  const steps = o.localSteps ?? null;
  if (steps !== null && (!Number.isInteger(steps) || (steps as number) < 1 || (steps as number) > 1_000_000)) bad(`${path}.localSteps`, 'a positive integer or null');
  return {
    optimizer,
    learningRate: num(o, 'learningRate', path, 0.05, 1e-9, 100),
    batchSize: int(o, 'batchSize', path, 16, 1, 1_000_000),
    localEpochs: int(o, 'localEpochs', path, 1, 1, 10_000),
    localSteps: steps as number | null,
  };
}

/** Validates an untrusted federation config, filling documented defaults. */
export function parseFederationConfig(input: unknown): FederationConfig {
  const o = obj(input, 'federation');
  if (input === undefined) bad('federation', 'an object');
  const name = o.name;
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/.test(name)) bad('name', '1-100 letters, digits, spaces, dots, dashes or underscores');
  const deadlines = obj(o.deadlines, 'deadlines');
  return {
    name,
    model: parseModelSpec(o.model),
    strategy: parseStrategy(o.strategy),
    training: parseTraining(o.training),
    rounds: int(o, 'rounds', 'federation', 10, 1, 100_000),
    minMembers: int(o, 'minMembers', 'federation', 2, 1, 1_000_000),
    deadlines: {
      fit: int(deadlines, 'fit', 'deadlines', 600, 1, 7 * 86_400),
      evaluate: int(deadlines, 'evaluate', 'deadlines', 300, 1, 7 * 86_400),
      keys: int(deadlines, 'keys', 'deadlines', 120, 1, 7 * 86_400),
    },
    seed: int(o, 'seed', 'federation', 0, 0, 2 ** 31 - 1),
    maxUpdateBytes: int(o, 'maxUpdateBytes', 'federation', 64 * 1024 * 1024, 1024, 2 ** 31 - 1),
    stores: parseStores(o.stores),
    privacy: parsePrivacyConfig(o.privacy),
    secure: parseSecure(o.secure, 'secure', typeof o.minMembers === 'number' ? o.minMembers : 2),
  };
}

const STORE_URL = /^(file:\/\/\/[^\0]{1,500}|gs:\/\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](\/[A-Za-z0-9._=+@,/-]{0,500})?|az:\/\/[a-z0-9]{3,24}\/[a-z0-9][a-z0-9-]{1,61}[a-z0-9](\/[A-Za-z0-9._=+@,/-]{0,500})?)$/;
export const MAX_STORES = 8;

/** `stores`: up to 8 distinct store URLs. Credentials never go here: the aggregator's environment holds them. */
export function parseStores(input: unknown): string[] {
  if (input === undefined || input === null) return [];
  if (!Array.isArray(input) || input.length > MAX_STORES) bad('stores', `a list of at most ${MAX_STORES} store URLs`);
  const out: string[] = [];
  input.forEach((u: unknown, i) => {
    if (typeof u !== 'string' || !STORE_URL.test(u) || u.includes('/../') || u.endsWith('/..')) {
      bad(`stores[${i}]`, 'a store URL: file:///absolute/path, gs://bucket[/prefix] or az://account/container[/prefix] (no credentials in the URL)');
    }
    if (out.includes(u)) bad(`stores[${i}]`, `a URL not already listed (${u} appears twice)`);
    out.push(u);
  });
  return out;
}
