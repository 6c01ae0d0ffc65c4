/** @module A strategy's state between rounds, and its lossless encodings for the database. */
import { TesseraError } from '../../core/errors.ts';
import type { StrategyConfig, StrategyName } from '../../core/federation.ts';
import { STRATEGY_NAMES } from '../../core/federation.ts';

/**
 * What a strategy carries from one round to the next. Buffers are float64, one value per model
 * parameter: FedAvgM keeps `velocity`; FedAdam, FedYogi and FedAdagrad keep `m` and `v`.
 * Strategies never mutate a state they are given; each step returns a fresh one.
 */
export interface StrategyState {
  readonly strategy: StrategyName;
  /** Server steps applied so far (rounds that changed the model). */
  readonly steps: number;
  readonly buffers: Readonly<Record<string, Float64Array>>;
}

/** A strategy step's output: the next global weights and the state to persist beside them. */
export interface StrategyResult {
  readonly weights: Float32Array;
  readonly state: StrategyState;
}

/**
 * One server-side update rule: the next global weights from the current ones and the weighted
 * mean of the members' deltas (delta = w_local - w_global). Pure: inputs are never modified.
 */
export type StrategyStep = (
  config: StrategyConfig,
  global: Float32Array,
  meanDelta: Float32Array,
  state: StrategyState | null,
) => StrategyResult;

/** The JSON form of a state: buffers as base64 of little-endian float64. */
export interface StrategyStateJSON {
  strategy: StrategyName;
  steps: number;
  buffers: Record<string, string>;
}

function corrupt(message: string): never {
  throw new TesseraError('BAD_ENCODING', `strategy state: ${message}`, { field: 'strategyState' });
}

function toLittleEndian(values: Float64Array): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat64(i * 8, values[i], true);
  return out;
}

function fromLittleEndian(bytes: Uint8Array, name: string): Float64Array {
  if (bytes.length % 8 !== 0) corrupt(`buffer "${name}" has ${bytes.length} bytes, not a multiple of 8`);
  const out = new Float64Array(bytes.length / 8);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(i * 8, true);
  return out;
}

function checkHeader(strategy: unknown, steps: unknown): void {
  if (!STRATEGY_NAMES.includes(strategy as StrategyName)) corrupt(`unknown strategy ${JSON.stringify(strategy)}`);
  if (!Number.isSafeInteger(steps) || (steps as number) < 0) corrupt('steps must be a non-negative integer');
}

/** A state as plain JSON (for a jsonb column); exact: float64 bits are kept. */
export function strategyStateToJSON(state: StrategyState): StrategyStateJSON {
  const buffers: Record<string, string> = {};
  for (const [name, values] of Object.entries(state.buffers)) {
    buffers[name] = Buffer.from(toLittleEndian(values)).toString('base64');
  }
  return { strategy: state.strategy, steps: state.steps, buffers };
}

/** Reads the JSON form back; throws BAD_ENCODING on anything malformed. */
export function strategyStateFromJSON(input: unknown): StrategyState {
  if (typeof input !== 'object' || input === null) corrupt('expected an object');
  const { strategy, steps, buffers } = input as Record<string, unknown>;
  checkHeader(strategy, steps);
  if (typeof buffers !== 'object' || buffers === null || Array.isArray(buffers)) corrupt('buffers must be an object');
  const out: Record<string, Float64Array> = {};
  for (const [name, b64] of Object.entries(buffers)) {
    if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) corrupt(`buffer "${name}" is not base64`);
    out[name] = fromLittleEndian(new Uint8Array(Buffer.from(b64, 'base64')), name);
  }
  return { strategy: strategy as StrategyName, steps: steps as number, buffers: out };
}

const MAGIC = 0x54535354; // "TSST"
const VERSION = 1;

/**
 * A state as bytes (for a bytea column or the artifact store), a third the size of the JSON:
 * u32 magic "TSST" | u16 version | u16 reserved | u32 header length H | H bytes of UTF-8 JSON
 * {strategy, steps, buffers: [[name, length]...]} | zero padding to 8 | float64 LE data in order.
 */
export function encodeStrategyState(state: StrategyState): Uint8Array {
  const entries = Object.entries(state.buffers);
  const header = new TextEncoder().encode(
    JSON.stringify({ strategy: state.strategy, steps: state.steps, buffers: entries.map(([n, v]) => [n, v.length]) }),
  );
  const dataStart = Math.ceil((12 + header.length) / 8) * 8;
  const total = entries.reduce((n, [, v]) => n + v.length * 8, dataStart);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, false);
  view.setUint16(4, VERSION, true);
  view.setUint32(8, header.length, true);
  out.set(header, 12);
  let off = dataStart;
  for (const [, values] of entries) {
    out.set(toLittleEndian(values), off);
    off += values.length * 8;
  }
  return out;
}

/** Reads bytes from encodeStrategyState; throws BAD_ENCODING on a wrong magic, version or length. */
export function decodeStrategyState(bytes: Uint8Array): StrategyState {
  if (bytes.length < 12) corrupt('truncated');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, false) !== MAGIC) corrupt('not a Tessera strategy state (bad magic)');
  if (view.getUint16(4, true) !== VERSION) corrupt(`unsupported version ${view.getUint16(4, true)}`);
  const headerLength = view.getUint32(8, true);
  if (12 + headerLength > bytes.length) corrupt('truncated header');
  let header: { strategy?: unknown; steps?: unknown; buffers?: unknown };
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(12, 12 + headerLength)));
  } catch {
    corrupt('header is not valid JSON');
  }
  checkHeader(header.strategy, header.steps);
  const list = header.buffers;
  if (!Array.isArray(list) || !list.every((e) => Array.isArray(e) && typeof e[0] === 'string' && Number.isSafeInteger(e[1]) && e[1] >= 0)) {
    corrupt('header.buffers must be [name, length] pairs');
  }
  let off = Math.ceil((12 + headerLength) / 8) * 8;
  const expected = (list as [string, number][]).reduce((n, [, len]) => n + len * 8, off);
  if (expected !== bytes.length) corrupt(`expected ${expected} bytes, got ${bytes.length}`);
  const buffers: Record<string, Float64Array> = {};
  for (const [name, len] of list as [string, number][]) {
    buffers[name] = fromLittleEndian(bytes.subarray(off, off + len * 8), name);
    off += len * 8;
  }
  return { strategy: header.strategy as StrategyName, steps: header.steps as number, buffers };
}
