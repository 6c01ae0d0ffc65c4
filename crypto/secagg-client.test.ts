import { describe, expect, it } from 'vitest';
import { codeOf } from '../core/testing/errors.ts';
import { createRng } from '../core/random.ts';
import type { ConsistencyMessage, SecAggMessage, SecAggStage, UnmaskRequest } from '../core/secagg-wire.ts';
import { SECAGG_STAGES } from '../core/secagg-wire.ts';
import { quantize } from './quantization.ts';
import { SecAggClient } from './secagg-client.ts';
import type { LocalCohort } from './secagg-local.ts';
import { createLocalCohort, runLocalRound } from './secagg-local.ts';
import { bytesToVector, decodeBase64, signMessage, survivorSetHash } from './secagg-messages.ts';
import { SecAggServer } from './secagg-server.ts';
import { decodeShare, reconstruct } from './shamir.ts';

/** Runs every stage before `open` for all members; leaves `open` waiting for answers. */
function driveTo(cohort: LocalCohort, open: SecAggStage): { server: SecAggServer; clients: Map<string, SecAggClient> } {
  const ids = cohort.config.members.map((m) => m.id);
  const clients = new Map(ids.map((id) => [id, new SecAggClient({ config: cohort.config, memberId: id, identity: cohort.identities.get(id)! })]));
  const server = new SecAggServer(cohort.config);
  for (const stage of SECAGG_STAGES) {
    if (stage === open) break;
    for (const [id, c] of clients) server.receive(answer(c, server, id, cohort));
    server.close();
  }
  return { server, clients };
}

function answer(c: SecAggClient, server: SecAggServer, id: string, cohort: LocalCohort): SecAggMessage {
  const r = server.requestFor(id);
  if (!r) return c.advertiseKeys();
  switch (r.stage) {
    case 'share_keys': return c.shareKeys(r);
    case 'masked_input': return c.maskedInput(r, cohort.updates.get(id)!);
    case 'consistency': return c.consistency(r);
    case 'unmask': return c.unmask(r);
  }
}

describe('secure aggregation client', () => {
  const cohort = createLocalCohort({ members: 8, params: 300, seed: 9 });

  it('answers a retried request with the same message and refuses a different request for an answered stage', () => {
    const { server, clients } = driveTo(cohort, 'share_keys');
    const c = clients.get('m1')!;
    const request = server.requestFor('m1')!;
    if (request.stage !== 'share_keys') throw new Error('expected share_keys');
    const first = c.shareKeys(request);
    expect(c.shareKeys(structuredClone(request))).toEqual(first);
    expect(codeOf(() => c.shareKeys({ ...request, advertisements: request.advertisements.slice(1) }))).toMatch(/^CONFLICT/);
    const restored = SecAggClient.restore(JSON.parse(JSON.stringify(c.snapshot())), cohort.identities.get('m1')!);
    expect(restored.shareKeys(request)).toEqual(first);
  });

  it('refuses requests of another round or stage (replays)', () => {
    const { server, clients } = driveTo(cohort, 'share_keys');
    const c = clients.get('m2')!;
    const request = server.requestFor('m2')!;
    if (request.stage !== 'share_keys') throw new Error('expected share_keys');
    expect(codeOf(() => c.shareKeys({ ...request, round: 0 }))).toMatch(/^STALE_STAGE.*round 0/);
    expect(codeOf(() => c.shareKeys({ ...request, federationId: 'other' }))).toMatch(/^STALE_STAGE/);
    expect(codeOf(() => c.consistency({ ...request, stage: 'consistency', survivors: [] }))).toMatch(/^ROUND_STATE/);
    expect(codeOf(() => c.shareKeys({ ...request, stage: 'unmask' } as never))).toMatch(/^STALE_STAGE/);
  });

  it('excludes a neighbour whose advertised keys carry a bad signature (an active server swapping keys)', () => {
    const { server, clients } = driveTo(cohort, 'share_keys');
    const request = server.requestFor('m0')!;
    if (request.stage !== 'share_keys') throw new Error('expected share_keys');
    const ads = request.advertisements.map((ad) => (ad.memberId === 'm4' ? { ...ad, maskKey: request.advertisements[0].maskKey } : ad));
    const message = clients.get('m0')!.shareKeys({ ...request, advertisements: ads });
    expect(message.shares.map((s) => s.to)).not.toContain('m4');
    expect(message.shares).toHaveLength(request.advertisements.length - 1);
  });

  it('refuses to share with fewer than t verified neighbours', () => {
    const { server, clients } = driveTo(cohort, 'share_keys');
    const request = server.requestFor('m0')!;
    if (request.stage !== 'share_keys') throw new Error('expected share_keys');
    const fewer = { ...request, advertisements: request.advertisements.slice(0, cohort.config.threshold - 1) };
    expect(codeOf(() => clients.get('m0')!.shareKeys(fewer))).toMatch(new RegExp(`^ROUND_STATE.*only ${cohort.config.threshold - 1} neighbours.*${cohort.config.threshold} needed`));
  });

  it('refuses an unmask request that asks for both shares of one member, a changed survivor set, or missing signatures', () => {
    const { server, clients } = driveTo(cohort, 'unmask');
    const request = server.requestFor('m0') as UnmaskRequest;
    const c = clients.get('m0')!;
    expect(codeOf(() => c.unmask({ ...request, dropped: ['m5'] }))).toMatch(/^FORBIDDEN.*both shares of member m5/);
    expect(codeOf(() => c.unmask({ ...request, survivors: request.survivors.filter((id) => id !== 'm5'), dropped: ['m5'] }))).toMatch(/^FORBIDDEN.*differs from the one this member signed/);
    expect(codeOf(() => c.unmask({ ...request, signatures: request.signatures.slice(0, cohort.config.threshold - 1) }))).toMatch(new RegExp(`^FORBIDDEN.*${cohort.config.threshold - 1} valid signatures`));
    // Signatures over another survivor set (each signer's real signature on a list without m5), and
    // valid signatures presented under other signers' names: none counts.
    const otherSet = request.survivors.filter((id) => id !== 'm5');
    const overOther = request.signatures.map((s) => ({ memberId: s.memberId, signature: signMessage<ConsistencyMessage>({ protocol: cohort.config.protocol, federationId: cohort.config.federationId, round: cohort.config.round, stage: 'consistency', memberId: s.memberId, survivorsHash: survivorSetHash(otherSet) }, cohort.identities.get(s.memberId)!.secretKey).signature }));
    expect(codeOf(() => c.unmask({ ...request, signatures: overOther }))).toMatch(/^FORBIDDEN.*0 valid signatures/);
    const swapped = request.signatures.map((s, i, all) => ({ memberId: s.memberId, signature: all[(i + 1) % all.length].signature }));
    expect(codeOf(() => c.unmask({ ...request, signatures: swapped }))).toMatch(/^FORBIDDEN.*0 valid signatures/);
    // One signer listed t times counts once.
    const repeated = Array.from({ length: cohort.config.threshold }, () => request.signatures[0]);
    expect(codeOf(() => c.unmask({ ...request, signatures: repeated }))).toMatch(/^FORBIDDEN.*1 valid signatures/);
    const ok = c.unmask(request);
    expect(ok.shares.every((s) => s.kind === 'self_mask')).toBe(true);
    // Having answered, it will not answer a second, different unmask request (e.g. for mask keys).
    expect(codeOf(() => c.unmask({ ...request, signatures: request.signatures.slice(1) }))).toMatch(/^CONFLICT/);
  });

  it('signs the survivor set by its hash; the server refuses a signature on another set, and the unmask request carries signatures only', () => {
    const { server, clients } = driveTo(cohort, 'consistency');
    const request = server.requestFor('m0');
    if (request?.stage !== 'consistency') throw new Error('expected consistency');
    const signed = clients.get('m0')!.consistency(request);
    expect(signed.survivorsHash).toBe(survivorSetHash(request.survivors));
    expect(JSON.stringify(signed)).not.toContain(request.survivors[1]);
    const other = signMessage<ConsistencyMessage>({ ...signed, memberId: 'm1', survivorsHash: survivorSetHash(request.survivors.slice(1)) }, cohort.identities.get('m1')!.secretKey);
    expect(codeOf(() => server.receive(other))).toMatch(/^BAD_REQUEST.*survivorsHash/);
    expect(server.receive(signed)).toBe('accepted');
  });

  it('refuses to mask with fewer than t neighbours that exchanged shares', () => {
    const { server, clients } = driveTo(cohort, 'masked_input');
    const request = server.requestFor('m0')!;
    if (request.stage !== 'masked_input') throw new Error('expected masked_input');
    const fewer = { ...request, shares: request.shares.slice(0, cohort.config.threshold - 1) };
    expect(codeOf(() => clients.get('m0')!.maskedInput(fewer, cohort.updates.get('m0')!))).toMatch(/^ROUND_STATE.*to hide its input/);
  });

  it('a restored client recomputes the identical masked input on a retry', () => {
    const { server, clients } = driveTo(cohort, 'masked_input');
    const request = server.requestFor('m3')!;
    if (request.stage !== 'masked_input') throw new Error('expected masked_input');
    const c = clients.get('m3')!;
    const first = c.maskedInput(request, cohort.updates.get('m3')!);
    const restored = SecAggClient.restore(JSON.parse(JSON.stringify(c.snapshot())), cohort.identities.get('m3')!);
    const again = restored.maskedInput(request, cohort.updates.get('m3')!);
    expect(again.vectorHash).toBe(first.vectorHash);
    expect(again.signature).toBe(first.signature);
  });
});

describe('what the aggregator sees', () => {
  const cohort = createLocalCohort({ members: 10, params: 2000, seed: 21 });
  const seeded = (id: string): (() => number) => {
    const rng = createRng(`q-${id}`);
    return () => rng.next();
  };
  const view: SecAggMessage[] = [];
  const dropped = ['m4'];
  const outcome = runLocalRound({ ...cohort, random: seeded, dropAfter: { share_keys: dropped }, onMessage: (m) => view.push(m) });

  it('the round completes', () => {
    expect(outcome.result.status).toBe('completed');
  });

  it("each member's masked vector differs from its quantized delta in nearly every coordinate", () => {
    const masked = view.filter((m) => m.stage === 'masked_input');
    expect(masked).toHaveLength(9);
    for (const m of masked) {
      const { quantized } = quantize(cohort.updates.get(m.memberId)!.delta, cohort.config.quantization, {
        scale: Math.min(cohort.updates.get(m.memberId)!.weight, cohort.config.maxWeight) / cohort.config.maxWeight,
        random: seeded(m.memberId),
      });
      const vector = bytesToVector(m.vector);
      let equal = 0;
      for (let i = 0; i < quantized.length; i++) if (vector[i] === quantized[i]) equal++;
      expect(equal / quantized.length).toBeLessThan(0.01);
    }
  });

  it('never holds both kinds of share of one member, and t - 1 shares reconstruct nothing', () => {
    const t = cohort.config.threshold;
    const kinds = new Map<string, Set<string>>();
    const selfShares = new Map<string, string[]>();
    for (const m of view) {
      if (m.stage !== 'unmask') continue;
      for (const s of m.shares) {
        kinds.set(s.of, (kinds.get(s.of) ?? new Set()).add(s.kind));
        if (s.kind === 'self_mask') selfShares.set(s.of, [...(selfShares.get(s.of) ?? []), s.share]);
      }
    }
    for (const [id, k] of kinds) expect([id, k.size]).toEqual([id, 1]);
    expect([...kinds.get('m4')!]).toEqual(['mask_key']);
    // With t - 1 shares of a survivor's self-mask seed, reconstruction refuses or yields another value.
    const shares = selfShares.get('m0')!.map((s) => decodeShare(decodeBase64(s, 'share')));
    expect(() => reconstruct(shares.slice(0, t - 1), t)).toThrow(/needed shares/);
    const guess = Buffer.from(reconstruct(shares.slice(0, t - 1), t - 1)).toString('hex');
    expect(guess).not.toBe(Buffer.from(reconstruct(shares.slice(0, t), t)).toString('hex'));
  });
});
