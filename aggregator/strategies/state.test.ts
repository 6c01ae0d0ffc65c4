import { describe, expect, it } from 'vitest';
import { TesseraError } from '../../core/errors.ts';
import type { StrategyName } from '../../core/federation.ts';
import { parseStrategy, STRATEGY_NAMES } from '../../core/federation.ts';
import {
  applyStrategy,
  decodeStrategyState,
  encodeStrategyState,
  strategyStateFromJSON,
  strategyStateToJSON,
} from './index.ts';
import type { StrategyState } from './index.ts';

/** Deterministic non-round values, so any lost bit in a round trip would show in the weights. */
function vector(n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out[i] = (x / 2 ** 31 - 0.5) * scale;
  }
  return out;
}

const N = 257;
const start = vector(N, 1, 2);
const deltas = [vector(N, 2, 0.1), vector(N, 3, 0.1), vector(N, 4, 0.1), vector(N, 5, 0.1)];

function rounds(name: StrategyName, restore: (s: StrategyState) => StrategyState): { weights: Float32Array; state: StrategyState } {
  const config = parseStrategy(name);
  let weights = start;
  let state: StrategyState | null = null;
  for (const d of deltas) {
    ({ weights, state } = applyStrategy(config, weights, d, state));
    state = restore(state);
  }
  return { weights, state: state! };
}

function expectError(fn: () => unknown, code: string, message: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TesseraError);
    expect((e as TesseraError).code).toBe(code);
    expect((e as TesseraError).message).toMatch(message);
    return;
  }
  throw new Error('expected an error');
}

describe('strategy state persistence', () => {
  it.each(STRATEGY_NAMES)('%s: saving and restoring the state between rounds changes nothing, bit for bit', (name) => {
    const live = rounds(name, (s) => s);
    const viaJSON = rounds(name, (s) => strategyStateFromJSON(JSON.parse(JSON.stringify(strategyStateToJSON(s)))));
    const viaBytes = rounds(name, (s) => decodeStrategyState(encodeStrategyState(s)));
    expect(viaJSON.weights).toEqual(live.weights);
    expect(viaBytes.weights).toEqual(live.weights);
    expect(viaJSON.state).toEqual(live.state);
    expect(viaBytes.state).toEqual(live.state);
    expect(live.state.steps).toBe(deltas.length);
  });

  it('keeps float64 bits that float32 would lose', () => {
    const state: StrategyState = { strategy: 'fedadam', steps: 7, buffers: { m: Float64Array.of(0.1, -1e-300, Math.PI), v: Float64Array.of(1e-6, 2 ** -1074, 3) } };
    expect(decodeStrategyState(encodeStrategyState(state))).toEqual(state);
    expect(strategyStateFromJSON(strategyStateToJSON(state))).toEqual(state);
  });

  it('refuses malformed bytes and JSON with BAD_ENCODING', () => {
    const good = encodeStrategyState({ strategy: 'fedavgm', steps: 1, buffers: { velocity: Float64Array.of(1, 2) } });
    expectError(() => decodeStrategyState(good.subarray(0, good.length - 1)), 'BAD_ENCODING', /expected \d+ bytes/);
    expectError(() => decodeStrategyState(Uint8Array.of(...good, 0, 0, 0, 0, 0, 0, 0, 0)), 'BAD_ENCODING', /expected \d+ bytes/);
    expectError(() => decodeStrategyState(Uint8Array.of(1, 2, 3)), 'BAD_ENCODING', /truncated/);
    const badMagic = good.slice();
    badMagic[0] = 0;
    expectError(() => decodeStrategyState(badMagic), 'BAD_ENCODING', /bad magic/);
    expectError(() => strategyStateFromJSON({ strategy: 'fedsgd', steps: 1, buffers: {} }), 'BAD_ENCODING', /unknown strategy/);
    expectError(() => strategyStateFromJSON({ strategy: 'fedavg', steps: -1, buffers: {} }), 'BAD_ENCODING', /steps/);
    expectError(() => strategyStateFromJSON({ strategy: 'fedavgm', steps: 1, buffers: { velocity: 'not base64!' } }), 'BAD_ENCODING', /base64/);
    expectError(() => strategyStateFromJSON({ strategy: 'fedavgm', steps: 1, buffers: { velocity: 'AAAA' } }), 'BAD_ENCODING', /multiple of 8/);
    expectError(() => strategyStateFromJSON(null), 'BAD_ENCODING', /object/);
  });
});
