import { describe, expect, it } from 'vitest';
import { sodium } from '../core/sodium.ts';
import type { EnvelopeBinding } from './envelope.ts';
import { ENVELOPE_OVERHEAD, open, seal } from './envelope.ts';

const binding: EnvelopeBinding = { federationId: 'fed-a', round: 3, stage: 'share_keys', sender: 'alice', recipient: 'bob' };

describe('envelope', () => {
  const key = sodium.randombytes_buf(32);
  const msg = new TextEncoder().encode('a share');

  it('round-trips and adds a fixed overhead', () => {
    const env = seal(msg, key, binding);
    expect(env.length).toBe(msg.length + ENVELOPE_OVERHEAD);
    expect(open(env, key, binding)).toEqual(msg);
  });

  it('uses a fresh nonce each time', () => {
    expect(seal(msg, key, binding)).not.toEqual(seal(msg, key, binding));
  });

  it('fails when any bound field, the key or a byte differs', () => {
    const env = seal(msg, key, binding);
    for (const change of [{ federationId: 'fed-b' }, { round: 4 }, { stage: 'unmask' }, { sender: 'carol' }, { recipient: 'carol' }]) {
      expect(() => open(env, key, { ...binding, ...change })).toThrow(/failed authentication/);
    }
    expect(() => open(env, sodium.randombytes_buf(32), binding)).toThrow(/failed authentication/);
    const tampered = env.slice();
    tampered[30] ^= 1;
    expect(() => open(tampered, key, binding)).toThrow(/failed authentication/);
    expect(() => open(env.subarray(0, 10), key, binding)).toThrow(/failed authentication/);
  });

  it('refuses ids that could forge the associated-data layout', () => {
    expect(() => seal(msg, key, { ...binding, sender: 'a\nb' })).toThrow(/newline/);
  });
});
