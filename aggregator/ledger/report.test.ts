import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from './entry.ts';
import { GENESIS_HASH, sealEntry } from './entry.ts';
import { generateLedgerKey, publicKeyText } from './key.ts';
import { buildEvidence, renderEvidenceHtml } from './report.ts';
import { verifyLedger } from './verify.ts';

const key = generateLedgerKey();
const H = (c: string) => c.repeat(64);
const T0 = Date.parse('2026-04-01T00:00:00Z');

function ledger(events: [string, Record<string, unknown>][]): LedgerEntry[] {
  let prev = GENESIS_HASH;
  return events.map(([kind, payload], i) => {
    const e = sealEntry(prev, { seq: i + 1, time: T0 + i * 1000, kind, actor: kind === 'federation.created' ? 'operator:op' : 'aggregator', federationId: 'f1', payload: payload as never }, key);
    prev = e.hash;
    return e;
  });
}

const entries = ledger([
  ['federation.created', { config: { name: 'Cardiology <b>study</b>', strategy: { name: 'fedavg' }, minMembers: 2, deadlines: { fit: 60, evaluate: 60 } }, initialModel: { version: 0, hash: H('a') } }],
  ['member.enrolled', { memberId: 'm1', name: 'hospital-a', publicKey: 'pkA', invitationId: 'i1' }],
  ['member.enrolled', { memberId: 'm2', name: 'hospital-b', publicKey: 'pkB', invitationId: 'i2' }],
  ['round.opened', { round: 1, baseVersion: 0, members: ['m1', 'm2'] }],
  ['contribution.accepted', { round: 1, memberId: 'm1', stage: 'fit', hash: H('c'), size: 120, weight: 30, privacy: { mechanism: 'dp-sgd', epsilon: 0.4, cumulativeEpsilon: 0.4, delta: 1e-5, noiseMultiplier: 1.1, clipNorm: 1, sampleRate: 0.1, steps: 10 } }],
  ['member.dropped', { round: 1, memberId: 'm2', stage: 'fit', reason: 'missed the fit deadline' }],
  ['model.committed', { round: 1, version: 1, hash: H('b'), parentHash: H('a'), strategy: { name: 'fedavg' }, updates: 1, totalWeight: 30 }],
  ['round.stage', { round: 1, from: 'fit', to: 'evaluate' }],
  ['evaluation.accepted', { round: 1, memberId: 'm1', examples: 50, correct: 40, lossSum: 20, memberPrivacy: { mechanism: 'discrete-gaussian', epsilon: 0.9, cumulativeEpsilon: 1.7, delta: 1e-5, variance: 1e6, members: 3, l2Sensitivity: 2000 } }],
  ['round.completed', { round: 1, metrics: { meanAccuracy: 0.8 } }],
  ['round.opened', { round: 2, baseVersion: 1, members: ['m1', 'm2'] }],
]);

describe('evidence pack', () => {
  const verification = verifyLedger(entries, key.publicKey);
  const head = { seq: 11, hash: entries[10].hash };
  const opts = { generatedAt: T0 + 60_000, publicKey: publicKeyText(key), head };

  it('collects a round: participants, dropouts, parameters, committed model and lineage, with the entries cited', () => {
    const pack = buildEvidence(entries, verification, { ...opts, round: 1 });
    expect(pack.verification).toMatchObject({ ok: true, head });
    expect(pack.rounds).toHaveLength(1);
    const [r] = pack.rounds;
    expect(r).toMatchObject({ round: 1, outcome: 'committed', baseVersion: 0, federationName: 'Cardiology <b>study</b>' });
    expect(r.selected.map((m) => m.name)).toEqual(['hospital-a', 'hospital-b']);
    expect(r.contributions).toEqual([{ memberId: 'm1', name: 'hospital-a', hash: H('c'), size: 120, weight: 30, time: T0 + 4000, seq: 5 }]);
    expect(r.dropouts).toEqual([{ memberId: 'm2', name: 'hospital-b', stage: 'fit', reason: 'missed the fit deadline', seq: 6 }]);
    expect(r.committedModel).toMatchObject({ version: 1, parentHash: H('a') });
    expect(r.parameters).toMatchObject({ strategy: { name: 'fedavg' }, minMembers: 2, secureAggregation: null, privacy: null });
    expect(r.seqs).toEqual([4, 5, 6, 7, 8, 9, 10]);
    expect(pack.federations[0].models.map((m) => m.version)).toEqual([0, 1]);
    expect(buildEvidence(entries, verification, { ...opts, since: T0 + 10_000 }).rounds.map((x) => x.round)).toEqual([2]);
  });

  it('lists each member\'s reported privacy spend per round, record- and member-level, cumulative at delta, with its entry', () => {
    const pack = buildEvidence(entries, verification, { ...opts, round: 1 });
    expect(pack.rounds[0].privacySpend).toEqual([
      { memberId: 'm1', name: 'hospital-a', unit: 'record', mechanism: 'dp-sgd', epsilon: 0.4, cumulativeEpsilon: 0.4, delta: 1e-5, seq: 5 },
      { memberId: 'm1', name: 'hospital-a', unit: 'member', mechanism: 'discrete-gaussian', epsilon: 0.9, cumulativeEpsilon: 1.7, delta: 1e-5, seq: 9 },
    ]);
    const html = renderEvidenceHtml(pack);
    expect(html).toContain('<h3>Privacy spend</h3>');
    expect(html).toContain('<td>hospital-a</td><td>member</td><td>discrete-gaussian</td><td>0.9000</td><td>1.7000</td><td>0.00001</td><td>9</td>');
    expect(html).toContain('Privacy spend per member (cumulative, as reported by each member)');
    expect(html).toContain('<td>hospital-a</td><td>record</td><td>dp-sgd</td><td>0.4000</td><td>0.00001</td><td>1</td><td>5</td>');
  });

  it('renders one self-contained, escaped HTML page with the verification result and how to re-verify', () => {
    const html = renderEvidenceHtml(buildEvidence(entries, verification, { ...opts, round: 1 }));
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<link|src=|href=|url\(/i);
    expect(html).toContain('Cardiology &lt;b&gt;study&lt;/b&gt;');
    expect(html).toContain('Ledger verified: 11 entries');
    expect(html).toContain(head.hash);
    expect(html).toContain(`tessera audit verify --file ledger.jsonl --public-key ${publicKeyText(key)}`);
    expect(html).toContain('missed the fit deadline');
  });

  it('uses only verified entries and says where verification failed', () => {
    const tampered = entries.map((e) => (e.seq === 6 ? { ...e, payload: { ...(e.payload as object), reason: 'left voluntarily' } } : e));
    const v = verifyLedger(tampered, key.publicKey);
    const pack = buildEvidence(tampered, v, { ...opts, round: 1 });
    expect(pack.verification).toMatchObject({ ok: false, problem: { kind: 'edited', seq: 6 } });
    expect(pack.rounds[0].dropouts).toEqual([]);
    expect(renderEvidenceHtml(pack)).toContain('Ledger verification FAILED at seq 6');
  });
});
