/**
 * @module A round's page: its stages as a timeline (built from the round's ledger entries), every
 * selected member with its status and reason, the round's ledger events, and its evidence pack.
 */
import type { Context } from 'hono';
import type { FC } from 'hono/jsx';
import type { JsonValue } from '../../core/canonical-json.ts';
import type { LedgerEntry } from '../ledger/entry.ts';
import { Badge, Hash, Table, When, duration, fixed, isoTime, percent } from './components.tsx';
import type { FederationRow, RoundDetail } from './data.ts';
import { describePayload } from './data.ts';
import { privacySpends } from '../ledger/privacy.ts';
import { FederationHeader } from './federation.tsx';
import { Layout } from './layout.tsx';
import type { DashboardEnv } from './session.ts';

export interface StageSegment {
  stage: string;
  start: number;
  end: number | null;
  state: 'done' | 'now' | 'failed';
  /** Members that finished this stage (updates in fit, reports in evaluate) and that dropped in it. */
  done: number;
  dropped: number;
}

const field = (e: LedgerEntry, k: string): JsonValue | undefined => (e.payload as Record<string, JsonValue> | null)?.[k];

/** The stages a round went through, from its `round.opened`, `round.stage` and closing entries. */
export function stageSegments(d: RoundDetail): StageSegment[] {
  const { round, events } = d;
  const moves = events.filter((e) => e.kind === 'round.stage');
  const closing = events.find((e) => e.kind === 'round.completed' || e.kind === 'round.failed');
  const first = moves[0] ? String(field(moves[0], 'from')) : (round.stage ?? (closing ? String(field(closing, 'stage') ?? 'fit') : 'fit'));
  const segs: StageSegment[] = [];
  let current = { stage: first, start: events.find((e) => e.kind === 'round.opened')?.time ?? round.openedAt };
  const close = (end: number | null, state: StageSegment['state']) => {
    const inStage = (e: LedgerEntry) => e.time >= current.start && (end === null || e.time <= end);
    const finished = current.stage === 'evaluate' ? 'evaluation.accepted' : 'contribution.accepted';
    segs.push({ ...current, end, state, done: events.filter((e) => e.kind === finished && inStage(e)).length, dropped: events.filter((e) => e.kind === 'member.dropped' && field(e, 'stage') === current.stage).length });
  };
  for (const m of moves) {
    close(m.time, 'done');
    current = { stage: String(field(m, 'to')), start: m.time };
  }
  if (closing) close(closing.time, closing.kind === 'round.failed' ? 'failed' : 'done');
  else if (round.status === 'open') close(null, 'now');
  return segs;
}

const Timeline: FC<{ d: RoundDetail }> = ({ d }) => {
  const segs = stageSegments(d);
  const outcome = d.round.status;
  return (
    <div class="stages" id="timeline">
      <div class="stage done">
        <b>opened</b>
        <span>{isoTime(d.round.openedAt)}</span>
        <br />
        <span>{d.participants.length} members selected, from model v{d.round.baseVersion}</span>
      </div>
      {segs.map((s) => (
        <div class={`stage ${s.state}`} data-stage={s.stage}>
          <b>{s.stage}</b>
          <span>{s.end !== null ? duration(s.end - s.start) : `running for ${duration(Date.now() - s.start)}`}</span>
          <br />
          <span>
            {s.done} {s.stage === 'evaluate' ? 'reports' : 'updates'}
            {s.dropped ? `, ${s.dropped} dropped` : ''}
          </span>
          {s.state === 'now' && d.round.stageDeadline ? (
            <>
              <br />
              <span>closes {isoTime(d.round.stageDeadline)}</span>
            </>
          ) : null}
        </div>
      ))}
      <div class={`stage ${outcome === 'committed' ? 'done' : outcome === 'failed' ? 'failed' : 'pending'}`}>
        <b>{outcome === 'open' ? 'outcome pending' : outcome}</b>
        <span>{d.round.closedAt ? isoTime(d.round.closedAt) : 'not yet'}</span>
        <br />
        <span>{d.round.committedVersion !== null ? `model v${d.round.committedVersion}` : (d.round.failureReason ?? '')}</span>
      </div>
    </div>
  );
};

export const RoundPage: FC<{ c: Context<DashboardEnv>; f: FederationRow; d: RoundDetail }> = ({ c, f, d }) => {
  const r = d.round;
  const report = `/report?federation=${encodeURIComponent(f.id)}&round=${r.number}`;
  const dropped = d.participants.filter((p) => p.status === 'dropped' || p.status === 'declined');
  return (
    <Layout c={c} title={`${f.name} round ${r.number}`} section="federations" live={r.status === 'open'}>
      <FederationHeader f={f} tab="round" title={`Round ${r.number}`} />
      <div class="card">
        <span class="right">
          <a class="button light" href={`${report}&format=html`} id="download-report" download>
            Evidence pack (HTML)
          </a>{' '}
          <a class="button light" href={`${report}&format=json`} download>
            JSON
          </a>
        </span>
        <p style="margin:0">
          {r.status === 'open' ? <span class="live" /> : null}
          <Badge status={r.status} /> {r.status === 'open' ? `running, stage ${r.stage}; this page refreshes every 2 s` : r.status === 'failed' ? `failed: ${r.failureReason}` : `committed model v${r.committedVersion}`}
        </p>
        {r.metrics ? (
          <p class="small" style="margin:.4rem 0 0">
            Accuracy {percent(r.metrics.meanAccuracy)} (mean of members), {percent(r.metrics.pooledAccuracy)} pooled · loss {fixed(r.metrics.meanLoss)} · {r.metrics.examples} test examples
          </p>
        ) : null}
      </div>
      <h2>Stages</h2>
      <Timeline d={d} />
      <h2>Participants</h2>
      <p class="sub">
        {d.participants.length} selected · {d.participants.filter((p) => p.update).length} sent an update · {dropped.length} dropped or declined
      </p>
      <Table
        id="participants"
        head={['member', 'status', 'reason', 'update', ['weight', 'num'], ['bytes', 'num'], ['accuracy', 'num'], ['loss', 'num'], 'last change']}
        empty="No members were selected."
        rows={d.participants.map((p) => (
          <tr class={p.status === 'dropped' ? 'dropped' : ''} data-member={p.name} data-status={p.status}>
            <td>
              <b>{p.name}</b>
              <div class="muted small mono">{p.memberId.slice(0, 8)}</div>
            </td>
            <td>
              <Badge status={p.status} />
            </td>
            <td>{p.reason ?? <span class="muted">—</span>}</td>
            <td>
              <Hash value={p.update?.hash} />
            </td>
            <td class="num">{p.update?.weight ?? '—'}</td>
            <td class="num">{p.update?.size ?? '—'}</td>
            <td class="num">{p.evaluation && p.evaluation.examples ? percent(p.evaluation.correct / p.evaluation.examples) : '—'}</td>
            <td class="num">{p.evaluation && p.evaluation.examples ? fixed(p.evaluation.lossSum / p.evaluation.examples) : '—'}</td>
            <td>
              <When t={p.updatedAt} />
            </td>
          </tr>
        ))}
      />
      <h2>Privacy spend</h2>
      <Table
        id="privacy-spend"
        head={['member', 'unit', 'mechanism', ['epsilon this round', 'num'], ['cumulative epsilon', 'num'], ['delta', 'num'], ['seq', 'num']]}
        empty="No member reported privacy spend in this round."
        rows={privacySpends(d.events)
          .sort((a, b) => (d.names.get(a.memberId) ?? a.memberId).localeCompare(d.names.get(b.memberId) ?? b.memberId) || a.unit.localeCompare(b.unit))
          .map((x) => (
          <tr data-member={d.names.get(x.memberId) ?? x.memberId} data-unit={x.unit}>
            <td>
              <b>{d.names.get(x.memberId) ?? x.memberId}</b>
            </td>
            <td>{x.unit === 'record' ? 'record (DP-SGD)' : 'member (distributed DP)'}</td>
            <td>{x.mechanism}</td>
            <td class="num">{x.epsilon.toFixed(3)}</td>
            <td class="num" data-epsilon={x.cumulativeEpsilon}>{x.cumulativeEpsilon.toFixed(3)}</td>
            <td class="num">{x.delta}</td>
            <td class="num">
              <a href={`/ledger?from=${x.seq}#seq-${x.seq}`}>{x.seq}</a>
            </td>
          </tr>
        ))}
      />
      <h2>Ledger entries of this round</h2>
      <Table
        id="round-events"
        head={[['seq', 'num'], 'time', 'after opening', 'event', 'detail']}
        empty="No ledger entries for this round."
        rows={d.events.map((e) => (
          <tr>
            <td class="num">
              <a href={`/ledger?from=${e.seq}#seq-${e.seq}`}>{e.seq}</a>
            </td>
            <td>
              <When t={e.time} />
            </td>
            <td class="mono small">+{duration(e.time - r.openedAt)}</td>
            <td>
              <code>{e.kind}</code>
            </td>
            <td>{describePayload(e, d.names)}</td>
          </tr>
        ))}
      />
    </Layout>
  );
};
