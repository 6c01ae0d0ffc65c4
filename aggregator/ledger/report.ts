/**
 * @module The evidence pack: what a compliance officer archives for a round or a period. Built only
 * from verified ledger entries (pure, so the same pack can be rebuilt from an export), as JSON and
 * as one self-contained HTML page (inline CSS, no scripts, no external assets).
 */
import type { JsonValue } from '../../core/canonical-json.ts';
import type { LedgerEntry } from './entry.ts';
import type { PrivacySpendRow } from './privacy.ts';
import { latestSpend, privacySpendOf } from './privacy.ts';
import type { LedgerProblem, ModelVersionRecord, VerifyResult } from './verify.ts';

type Obj = Record<string, JsonValue>;
const obj = (v: JsonValue | undefined): Obj => (v !== null && v !== undefined && typeof v === 'object' && !Array.isArray(v) ? v : {});

export interface RoundEvidence {
  federationId: string;
  federationName: string;
  round: number;
  openedAt: number;
  openedBy: string;
  baseVersion: number | null;
  selected: { memberId: string; name: string }[];
  contributions: { memberId: string; name: string; hash: string; size: number; weight: number; time: number; seq: number }[];
  dropouts: { memberId: string; name: string; stage: string; reason: string; seq: number }[];
  refusals: { memberId: string; name: string; reason: string; seq: number }[];
  evaluations: { memberId: string; name: string; examples: number; correct: number; lossSum: number; auc: number | null }[];
  /** Privacy each member reported spending in this round (record-level DP-SGD, member-level distributed DP), cumulative at delta. */
  privacySpend: (Omit<PrivacySpendRow, 'federationId' | 'round'> & { name: string })[];
  committedModel: { version: number; hash: string; parentHash: string | null; updates: number; totalWeight: number; seq: number } | null;
  outcome: 'open' | 'committed' | 'failed';
  failureReason: string | null;
  metrics: JsonValue;
  parameters: { strategy: JsonValue; training: JsonValue; minMembers: JsonValue; deadlines: JsonValue; secureAggregation: JsonValue; privacy: JsonValue; distributedNoise: JsonValue; clipping: JsonValue };
  /** The seqs of every entry this round's evidence comes from. */
  seqs: number[];
}

export interface EvidencePack {
  type: 'tessera.evidence-pack/1';
  generatedAt: number;
  selection: { round?: number; since?: number; federationId?: string };
  verification: { ok: boolean; entries: number; verifiedThrough: { seq: number; hash: string }; head: { seq: number; hash: string } | null; problem: LedgerProblem | null; publicKey: string };
  federations: { id: string; name: string; createdAt: number; seq: number; config: JsonValue; members: { memberId: string; name: string; publicKey: string; enrolledAt: number; seq: number }[]; models: ModelVersionRecord[] }[];
  rounds: RoundEvidence[];
}

export interface EvidenceOptions {
  round?: number;
  since?: number;
  federationId?: string;
  generatedAt: number;
  publicKey: string;
  head: { seq: number; hash: string } | null;
}

/** Builds the pack from the entries that verified (nothing past the first bad entry is used). */
export function buildEvidence(entries: readonly LedgerEntry[], verification: VerifyResult, opts: EvidenceOptions): EvidencePack {
  const trusted = entries.filter((e) => e.seq <= verification.verifiedThrough.seq);
  const feds = new Map<string, EvidencePack['federations'][number]>();
  const names = new Map<string, string>();
  const rounds = new Map<string, RoundEvidence>();
  const key = (fid: string, r: JsonValue | undefined) => `${fid}#${Number(r)}`;
  for (const e of trusted) {
    const p = obj(e.payload);
    const fid = e.federationId ?? '';
    const f = feds.get(fid);
    const roundOf = () => rounds.get(key(fid, p.round));
    const member = (id: JsonValue | undefined) => ({ memberId: String(id), name: names.get(String(id)) ?? String(id) });
    switch (e.kind) {
      case 'federation.created': {
        const config = obj(p.config);
        feds.set(fid, { id: fid, name: String(config.name ?? fid), createdAt: e.time, seq: e.seq, config: p.config ?? null, members: [], models: verification.models.filter((m) => m.federationId === fid) });
        break;
      }
      case 'member.enrolled':
        names.set(String(p.memberId), String(p.name));
        f?.members.push({ memberId: String(p.memberId), name: String(p.name), publicKey: String(p.publicKey), enrolledAt: e.time, seq: e.seq });
        break;
      case 'round.opened': {
        const config = obj(f?.config ?? null);
        const privacy = config.privacy ?? null;
        rounds.set(key(fid, p.round), {
          federationId: fid,
          federationName: f?.name ?? fid,
          round: Number(p.round),
          openedAt: e.time,
          openedBy: e.actor,
          baseVersion: typeof p.baseVersion === 'number' ? p.baseVersion : null,
          selected: (Array.isArray(p.members) ? p.members : []).map(member),
          contributions: [],
          dropouts: [],
          refusals: [],
          evaluations: [],
          privacySpend: [],
          committedModel: null,
          outcome: 'open',
          failureReason: null,
          metrics: null,
          parameters: {
            strategy: config.strategy ?? null,
            training: config.training ?? null,
            minMembers: config.minMembers ?? null,
            deadlines: config.deadlines ?? null,
            secureAggregation: config.secureAggregation ?? config.secure ?? null,
            privacy,
            distributedNoise: obj(config.secure).distributedNoise ?? null,
            clipping: config.clipping ?? obj(privacy).clipNorm ?? null,
          },
          seqs: [e.seq],
        });
        break;
      }
      default: {
        const r = roundOf();
        if (!r) break;
        r.seqs.push(e.seq);
        for (const x of privacySpendOf(e)) r.privacySpend.push({ ...member(x.memberId), unit: x.unit, mechanism: x.mechanism, epsilon: x.epsilon, cumulativeEpsilon: x.cumulativeEpsilon, delta: x.delta, seq: x.seq });
        if (e.kind === 'contribution.accepted') r.contributions.push({ ...member(p.memberId), hash: String(p.hash), size: Number(p.size), weight: Number(p.weight), time: e.time, seq: e.seq });
        else if (e.kind === 'member.dropped') r.dropouts.push({ ...member(p.memberId), stage: String(p.stage), reason: String(p.reason), seq: e.seq });
        else if (e.kind === 'contribution.refused') r.refusals.push({ ...member(p.memberId), reason: String(p.reason ?? ''), seq: e.seq });
        else if (e.kind === 'evaluation.accepted') r.evaluations.push({ ...member(p.memberId), examples: Number(p.examples), correct: Number(p.correct), lossSum: Number(p.lossSum), auc: typeof p.auc === 'number' ? p.auc : null });
        else if (e.kind === 'model.committed') r.committedModel = { version: Number(p.version), hash: String(p.hash), parentHash: p.parentHash === null ? null : String(p.parentHash), updates: Number(p.updates), totalWeight: Number(p.totalWeight), seq: e.seq };
        else if (e.kind === 'round.completed') Object.assign(r, { outcome: 'committed', metrics: p.metrics ?? null });
        else if (e.kind === 'round.failed') Object.assign(r, { outcome: 'failed', failureReason: String(p.reason) });
      }
    }
  }
  const selected = [...rounds.values()].filter(
    (r) => (opts.federationId === undefined || r.federationId === opts.federationId) && (opts.round === undefined || r.round === opts.round) && (opts.since === undefined || r.openedAt >= opts.since),
  );
  const fedIds = new Set(selected.map((r) => r.federationId));
  if (opts.federationId) fedIds.add(opts.federationId);
  return {
    type: 'tessera.evidence-pack/1',
    generatedAt: opts.generatedAt,
    selection: { round: opts.round, since: opts.since, federationId: opts.federationId },
    verification: { ok: verification.ok, entries: verification.entries, verifiedThrough: verification.verifiedThrough, head: opts.head, problem: verification.problem, publicKey: opts.publicKey },
    federations: [...feds.values()].filter((f) => fedIds.has(f.id)),
    rounds: selected,
  };
}

const esc = (v: unknown): string => String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const iso = (t: number) => new Date(t).toISOString();
const short = (h: string | null) => (h ? `<code title="${esc(h)}">${esc(h.slice(0, 16))}…</code>` : '—');
const table = (head: string[], rows: string[][]) => rows.length === 0 ? '<p class="none">none</p>' : `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
const json = (v: JsonValue) => (v === null ? '<span class="none">not configured</span>' : `<code>${esc(JSON.stringify(v))}</code>`);

/** One self-contained HTML page: inline CSS only, every value escaped. */
export function renderEvidenceHtml(pack: EvidencePack): string {
  const v = pack.verification;
  const what = pack.selection.round !== undefined ? `round ${pack.selection.round}` : pack.selection.since !== undefined ? `rounds since ${iso(pack.selection.since)}` : 'all rounds';
  const verdict = v.ok
    ? `<div class="ok">Ledger verified: ${v.entries} entries, hash chain intact, every entry signed by the ledger key. Head: seq ${esc(v.verifiedThrough.seq)}, hash <code>${esc(v.verifiedThrough.hash)}</code>.</div>`
    : `<div class="bad">Ledger verification FAILED at seq ${esc(v.problem!.seq)}: <b>${esc(v.problem!.kind)}</b>: ${esc(v.problem!.message)}. This report uses only entries 1..${esc(v.verifiedThrough.seq)}.</div>`;
  const spentSoFar = (fid: string) =>
    latestSpend(pack.rounds.filter((r) => r.federationId === fid).flatMap((r) => r.privacySpend.map((x) => ({ ...x, federationId: fid, round: r.round }))))
      .sort((a, b) => a.name.localeCompare(b.name) || a.unit.localeCompare(b.unit))
      .map((x) => [esc(x.name), esc(x.unit), esc(x.mechanism), esc(x.cumulativeEpsilon.toFixed(4)), esc(x.delta), esc(x.round), esc(x.seq)]);
  const feds = pack.federations.map((f) => `
<section><h2>Federation ${esc(f.name)}</h2>
<p>id <code>${esc(f.id)}</code>, created ${esc(iso(f.createdAt))} (ledger seq ${esc(f.seq)}).</p>
<h3>Configuration</h3><pre>${esc(JSON.stringify(f.config, null, 2))}</pre>
<h3>Members</h3>${table(['name', 'member id', 'public key (Ed25519)', 'enrolled', 'seq'], f.members.map((m) => [esc(m.name), `<code>${esc(m.memberId)}</code>`, `<code>${esc(m.publicKey)}</code>`, esc(iso(m.enrolledAt)), esc(m.seq)]))}
<h3>Privacy spend per member (cumulative, as reported by each member)</h3>${table(['member', 'unit', 'mechanism', 'cumulative epsilon', 'delta', 'through round', 'seq'], spentSoFar(f.id))}
<h3>Model lineage</h3>${table(['version', 'made by round', 'hash', 'parent hash', 'seq'], f.models.map((m) => [esc(m.version), m.round === null ? 'initial' : esc(m.round), short(m.hash), short(m.parentHash), esc(m.seq)]))}
</section>`).join('');
  const rounds = pack.rounds.map((r) => `
<section><h2>${esc(r.federationName)} · round ${esc(r.round)} · ${esc(r.outcome)}</h2>
<p>Opened ${esc(iso(r.openedAt))} by <code>${esc(r.openedBy)}</code> from model version ${esc(r.baseVersion ?? '?')}; ${r.selected.length} members selected, ${r.contributions.length} contributed, ${r.dropouts.length} dropped, ${r.refusals.length} refused.${r.failureReason ? ` Failure: ${esc(r.failureReason)}.` : ''}</p>
<h3>Parameters</h3>${table(['parameter', 'value'], Object.entries(r.parameters).map(([k, val]) => [esc(k), json(val)]))}
<h3>Participants</h3>${table(['member', 'contribution hash', 'bytes', 'weight (examples)', 'accepted', 'seq'], r.contributions.map((c) => [esc(c.name), short(c.hash), esc(c.size), esc(c.weight), esc(iso(c.time)), esc(c.seq)]))}
<h3>Dropouts, refusals and declines</h3>${table(['member', 'what', 'reason', 'seq'], [...r.dropouts.map((d) => [esc(d.name), `dropped in ${esc(d.stage)}`, esc(d.reason), esc(d.seq)]), ...r.refusals.map((d) => [esc(d.name), 'refused', esc(d.reason), esc(d.seq)])])}
<h3>Privacy spend</h3>${table(['member', 'unit', 'mechanism', 'epsilon this round', 'cumulative epsilon', 'delta', 'seq'], r.privacySpend.map((x) => [esc(x.name), esc(x.unit), esc(x.mechanism), esc(x.epsilon.toFixed(4)), esc(x.cumulativeEpsilon.toFixed(4)), esc(x.delta), esc(x.seq)]))}
<h3>Committed model</h3>${r.committedModel ? table(['version', 'hash', 'parent hash', 'updates', 'total weight', 'seq'], [[esc(r.committedModel.version), short(r.committedModel.hash), short(r.committedModel.parentHash), esc(r.committedModel.updates), esc(r.committedModel.totalWeight), esc(r.committedModel.seq)]]) : '<p class="none">none</p>'}
<h3>Evaluation</h3>${table(['member', 'test examples', 'accuracy', 'mean loss', 'AUC'], r.evaluations.map((x) => [esc(x.name), esc(x.examples), esc(x.examples ? (x.correct / x.examples).toFixed(4) : '—'), esc(x.examples ? (x.lossSum / x.examples).toFixed(4) : '—'), esc(x.auc ?? '—')]))}
<p class="small">Evidence from ledger entries ${esc(r.seqs.join(', '))}.</p>
</section>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tessera evidence pack: ${esc(what)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#1b1f24;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;border-bottom:1px solid #ccd;padding-bottom:.2rem;margin-top:2rem}h3{font-size:1rem;margin-bottom:.3rem}
table{border-collapse:collapse;width:100%;margin:.3rem 0}th,td{border:1px solid #d5d8de;padding:.25rem .45rem;text-align:left;vertical-align:top}th{background:#f1f3f6}
code,pre{font:12px ui-monospace,monospace;word-break:break-all}pre{background:#f6f8fa;padding:.6rem;overflow:auto}
.ok{background:#e7f6ea;border:1px solid #7cc48a;padding:.6rem}.bad{background:#fdecea;border:1px solid #e08b84;padding:.6rem}.none{color:#778}.small{font-size:12px;color:#556}
</style></head><body>
<h1>Tessera evidence pack: ${esc(what)}</h1>
<p>Generated ${esc(iso(pack.generatedAt))} from the audit ledger. Ledger public key (Ed25519): <code>${esc(v.publicKey)}</code>${v.head ? `; chain head seq ${esc(v.head.seq)}, hash <code>${esc(v.head.hash)}</code>` : ''}.</p>
${verdict}
${feds}
${rounds || '<p class="none">No rounds match this selection.</p>'}
<section><h2>How to re-verify this independently</h2>
<ol>
<li>Obtain the ledger export (<code>tessera audit export --out ledger.jsonl</code>, or GET /v1/ledger/export with an auditor credential) and the ledger public key above from a channel you trust (not only from this file).</li>
<li>Run <code>tessera audit verify --file ledger.jsonl --public-key ${esc(v.publicKey)}</code>. It recomputes every hash, checks every signature and seq, the signed head and the model lineage, and names the first bad entry.</li>
<li>Or by hand: for each line in seq order, hash = BLAKE2b-256(prev_hash as 32 bytes || canonical JSON of {actor, federationId, kind, payload, seq, time}) with keys sorted and no whitespace; prev_hash of seq 1 is 64 zeros; check the Ed25519 signature of the 32 hash bytes with the public key; the last line is the signed head.</li>
<li>Check that the entries cited in each round section (by seq) say what this page says.</li>
</ol></section>
</body></html>
`;
}
