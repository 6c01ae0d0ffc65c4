import { describe, expect, it } from 'vitest';
import type { AdvertiseKeysMessage } from '../core/secagg-wire.ts';
import { SECAGG_PROTOCOL } from '../core/secagg-wire.ts';
import { generateIdentity } from './identity.ts';
import { bytesToVector, canonicalJson, checkBinding, signMessage, vectorToBytes, verifyMessage } from './secagg-messages.ts';

describe('secure-aggregation messages', () => {
  const me = generateIdentity();
  const unsigned = { protocol: SECAGG_PROTOCOL as typeof SECAGG_PROTOCOL, federationId: 'f', round: 3, stage: 'advertise_keys' as const, memberId: 'a', encryptionKey: 'AA', maskKey: 'BB' };

  it('canonical JSON sorts keys at every level', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
  });

  it('signatures cover every bound field', () => {
    const signed = signMessage<AdvertiseKeysMessage>(unsigned, me.secretKey);
    expect(verifyMessage(signed, me.publicKey)).toBe(true);
    for (const change of [{ round: 4 }, { federationId: 'g' }, { memberId: 'b' }, { maskKey: 'CC' }]) {
      expect(verifyMessage({ ...signed, ...change }, me.publicKey)).toBe(false);
    }
    expect(verifyMessage(signed, generateIdentity().publicKey)).toBe(false);
    expect(verifyMessage({ ...signed, signature: 'garbage' }, me.publicKey)).toBe(false);
  });

  it('checks the binding to federation, round and stage', () => {
    const config = { federationId: 'f', round: 3 } as Parameters<typeof checkBinding>[1];
    expect(() => checkBinding(unsigned, config, 'advertise_keys')).not.toThrow();
    expect(() => checkBinding({ ...unsigned, round: 2 }, config, 'advertise_keys')).toThrow(/round 2/);
    expect(() => checkBinding(unsigned, config, 'share_keys')).toThrow(/current stage is "share_keys"/);
    expect(() => checkBinding({ ...unsigned, protocol: 'v0' as never }, config, 'advertise_keys')).toThrow(/protocol/);
  });

  it('round-trips vectors as little-endian words', () => {
    const v = Uint32Array.from([0, 1, 0xffffffff, 0x01020304]);
    const bytes = vectorToBytes(v);
    expect([...bytes.subarray(12)]).toEqual([4, 3, 2, 1]);
    expect(bytesToVector(bytes)).toEqual(v);
    expect(() => bytesToVector(new Uint8Array(5))).toThrow(/whole number/);
  });
});
