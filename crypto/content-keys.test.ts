/** @module Content keys: sealed to one member only, wrapped at rest under the signing key. */
import { describe, expect, it } from 'vitest';
import { generateIdentity } from './identity.ts';
import { openContentKey, sealContentKeyFor, unwrapContentKey, wrapContentKey } from './content-keys.ts';
import { generateContentKey } from './sealed-artifact.ts';

describe('content keys', () => {
  const key = generateContentKey();

  it('opens only for the member it was sealed to', () => {
    const alice = generateIdentity();
    const bob = generateIdentity();
    const sealed = sealContentKeyFor(alice.publicKey, 'k1', key);
    expect(Buffer.from(openContentKey(sealed, alice.secretKey)).equals(Buffer.from(key))).toBe(true);
    expect(() => openContentKey(sealed, bob.secretKey)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    expect(() => openContentKey({ keyId: 'k1', sealed: 'not*base64' }, alice.secretKey)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });

  it('wraps at rest and refuses another signing key', () => {
    const signer = generateIdentity();
    const wrapped = wrapContentKey(key, signer.secretKey);
    expect(wrapped).not.toContain(Buffer.from(key).toString('base64url'));
    expect(Buffer.from(unwrapContentKey(wrapped, signer.secretKey)).equals(Buffer.from(key))).toBe(true);
    expect(() => unwrapContentKey(wrapped, generateIdentity().secretKey)).toThrow(expect.objectContaining({ code: 'INTEGRITY' }));
  });
});
