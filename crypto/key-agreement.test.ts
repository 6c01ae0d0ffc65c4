import { describe, expect, it } from 'vitest';
import { sodium } from '../core/sodium.ts';
import { agreementPublicKey, deriveSharedKey, generateAgreementKeyPair } from './key-agreement.ts';

describe('key agreement', () => {
  const a = generateAgreementKeyPair();
  const b = generateAgreementKeyPair();
  const c = generateAgreementKeyPair();

  it('both sides derive the same key', () => {
    const ab = deriveSharedKey(a, b.publicKey, 'pairwiseMask', 'fed/1');
    const ba = deriveSharedKey(b, a.publicKey, 'pairwiseMask', 'fed/1');
    expect(ab).toEqual(ba);
    expect(ab.length).toBe(32);
  });

  it('the native X25519 equals libsodium crypto_scalarmult, also for unclamped libsodium keys', () => {
    for (let i = 0; i < 20; i++) {
      const x = sodium.crypto_box_keypair();
      const y = sodium.crypto_box_keypair();
      expect(agreementPublicKey(x.privateKey)).toEqual(x.publicKey);
      const viaNode = deriveSharedKey({ publicKey: x.publicKey, secretKey: x.privateKey }, y.publicKey, 'pairwiseMask', 'b');
      // Recompute the KDF over libsodium's DH output to check the DH step alone.
      const dh = sodium.crypto_scalarmult(x.privateKey, y.publicKey);
      const [lo, hi] = Buffer.compare(Buffer.from(x.publicKey), Buffer.from(y.publicKey)) <= 0 ? [x.publicKey, y.publicKey] : [y.publicKey, x.publicKey];
      const msg = new Uint8Array([...new TextEncoder().encode('tessera/secagg/pairwise-mask/v1'), 0, ...new TextEncoder().encode('b'), 0, ...lo, ...hi]);
      expect(viaNode).toEqual(sodium.crypto_generichash(32, msg, dh));
    }
  });

  it('separates contexts, bindings and pairs', () => {
    const mask = deriveSharedKey(a, b.publicKey, 'pairwiseMask', 'fed/1');
    expect(deriveSharedKey(a, b.publicKey, 'shareEncryption', 'fed/1')).not.toEqual(mask);
    expect(deriveSharedKey(a, b.publicKey, 'pairwiseMask', 'fed/2')).not.toEqual(mask);
    expect(deriveSharedKey(a, c.publicKey, 'pairwiseMask', 'fed/1')).not.toEqual(mask);
  });

  it('recomputes a public key from its secret key', () => {
    expect(agreementPublicKey(a.secretKey)).toEqual(a.publicKey);
    expect(agreementPublicKey(b.secretKey)).not.toEqual(a.publicKey);
  });

  it('refuses low-order points and wrong lengths', () => {
    expect(() => deriveSharedKey(a, new Uint8Array(32), 'pairwiseMask', 'x')).toThrow(/low-order/);
    const one = new Uint8Array(32);
    one[0] = 1;
    expect(() => deriveSharedKey(a, one, 'pairwiseMask', 'x')).toThrow(/low-order/);
    expect(() => deriveSharedKey(a, new Uint8Array(31), 'pairwiseMask', 'x')).toThrow(/32-byte/);
  });
});
