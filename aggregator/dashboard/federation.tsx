/** @module A federation's page: its configuration, accuracy and loss per round, and its rounds. */
import type { Context } from 'hono';
import type { FC } from 'hono/jsx';
import type { FederationConfig } from '../../core/federation.ts';
import { secureOf } from '../../core/federation.ts';
import { LineChart } from './chart.tsx';
import { Badge, Table, When, duration, fixed, percent } from './components.tsx';
import type { FederationRow, RoundListItem } from './data.ts';
import { Layout } from './layout.tsx';
import type { DashboardEnv } from './session.ts';

/** Breadcrumbs, title and the Rounds / Members tabs shared by a federation's pages. */
export const FederationHeader: FC<{ f: FederationRow; tab: 'rounds' | 'members' | 'round'; title?: string }> = ({ f, tab, title }) => (
  <>
    <div class="crumbs">
      <a href="/">Federations</a> / <a href={`/federations/${f.id}`}>{f.name}</a>
      {title ? ` / ${title}` : ''}
    </div>
    <h1>
      {title ?? f.name} {title ? null : <Badge status={f.status} />}
    </h1>
    <div class="tabs">
      <a href={`/federations/${f.id}`} class={tab !== 'members' ? 'on' : ''}>
        Rounds
      </a>
      <a href={`/federations/${f.id}/members`} class={tab === 'members' ? 'on' : ''}>
        Members
      </a>
    </div>
  </>
);

const modelText = (cfg: FederationConfig): string =>
  cfg.model.kind === 'mlp' ? `MLP ${[cfg.model.inputs, ...cfg.model.hidden, cfg.model.outputs].join('-')}` : `logistic ${cfg.model.inputs}-${cfg.model.outputs}`;

const privacyText = (cfg: FederationConfig): string => {
  const p = cfg.privacy ?? null;
  const d = secureOf(cfg).distributedNoise ?? null;
  const record = p ? (p.targetEpsilon !== null ? `DP-SGD, ε ≤ ${p.targetEpsilon}, δ ${p.delta}` : `DP-SGD, noise ×${p.noiseMultiplier}, δ ${p.delta}`) : null;
  const member = d ? `distributed ${d.mechanism}, member-level ε ${d.epsilon} per round over ≥ ${d.minSurvivors} members, δ ${d.delta}` : null;
  return [record, member].filter(Boolean).join('; ') || 'none';
};

/** The operator's one write action: open the next round (CSRF-protected POST). Never shown to auditors. */
const StartRound: FC<{ c: Context<DashboardEnv>; f: FederationRow; rounds: RoundListItem[] }> = ({ c, f, rounds }) => {
  if (c.var.principal?.role !== 'operator') return null;
  const last = rounds[rounds.length - 1];
  if (last?.status === 'open' || rounds.length >= f.config.rounds || f.status !== 'active') return null;
  return (
    <form method="post" action={`/federations/${f.id}/rounds`} class="inline" data-write="start-round">
      <input type="hidden" name="csrf" value={c.var.csrf} />
      <button type="submit">Start round {rounds.length + 1}</button>
    </form>
  );
};

export const FederationPage: FC<{ c: Context<DashboardEnv>; f: FederationRow; rounds: RoundListItem[]; members: number }> = ({ c, f, rounds, members }) => {
  const cfg = f.config;
  const open = rounds.find((r) => r.status === 'open');
  const evaluated = rounds.filter((r) => r.metrics);
  return (
    <Layout c={c} title={f.name} section="federations" live={!!open}>
      <FederationHeader f={f} tab="rounds" />
      <div class="card">
        <span class="right">
          <StartRound c={c} f={f} rounds={rounds} />
        </span>
        <dl class="facts">
          <div><dt>strategy</dt><dd>{cfg.strategy?.name ?? '—'}</dd></div>
          <div><dt>model</dt><dd>{modelText(cfg)}</dd></div>
          <div><dt>rounds</dt><dd>{rounds.filter((r) => r.status === 'committed').length} of {cfg.rounds} committed</dd></div>
          <div><dt>members</dt><dd>{members} enrolled, {cfg.minMembers} needed</dd></div>
          <div><dt>secure aggregation</dt><dd>{secureOf(cfg).enabled ? `on (clip ±${secureOf(cfg).clip})` : 'off'}</dd></div>
          <div><dt>privacy</dt><dd>{privacyText(cfg)}</dd></div>
          <div><dt>deadlines</dt><dd>fit {cfg.deadlines?.fit} s · evaluate {cfg.deadlines?.evaluate} s</dd></div>
          <div><dt>created</dt><dd><When t={f.createdAt} /></dd></div>
        </dl>
      </div>
      {open ? (
        <div class="notice info">
          <span class="live" />
          Round {open.number} is running (stage <b>{open.stage}</b>, {open.contributed} of {open.selected} updates in
          {open.stageDeadline ? `, stage closes ${new Date(open.stageDeadline).toISOString().slice(11, 19)} UTC` : ''}). This page refreshes every 2 s.{' '}
          <a href={`/federations/${f.id}/rounds/${open.number}`}>Watch it</a>
        </div>
      ) : null}
      <div class="grid">
        <LineChart
          id="accuracy-chart"
          title="Accuracy per round"
          yRange={[0, 1]}
          format={(v) => `${Math.round(v * 100)}%`}
          series={[
            { label: 'mean of members', color: '#2563eb', points: evaluated.filter((r) => r.metrics!.meanAccuracy !== null).map((r) => [r.number, r.metrics!.meanAccuracy!]) },
            { label: 'pooled', color: '#16a34a', dashed: true, points: evaluated.filter((r) => r.metrics!.pooledAccuracy !== null).map((r) => [r.number, r.metrics!.pooledAccuracy!]) },
          ]}
        />
        <LineChart
          id="loss-chart"
          title="Loss per round (mean per test example)"
          format={(v) => v.toFixed(2)}
          series={[{ label: 'loss', color: '#dc2626', points: evaluated.filter((r) => r.metrics!.meanLoss !== null).map((r) => [r.number, r.metrics!.meanLoss!]) }]}
        />
      </div>
      <h2>Rounds</h2>
      <Table
        id="rounds"
        head={['round', 'status', 'stage', 'opened', 'duration', ['updates', 'num'], ['dropped', 'num'], ['accuracy', 'num'], ['loss', 'num'], 'model']}
        empty="No rounds yet."
        rows={[...rounds].reverse().map((r) => (
          <tr>
            <td>
              <a href={`/federations/${f.id}/rounds/${r.number}`}>
                <b>Round {r.number}</b>
              </a>
            </td>
            <td>
              {r.status === 'open' ? <span class="live" /> : null}
              <Badge status={r.status} />
              {r.failureReason ? <div class="small muted">{r.failureReason}</div> : null}
            </td>
            <td>{r.stage ?? <span class="muted">—</span>}</td>
            <td>
              <When t={r.openedAt} />
            </td>
            <td>{r.closedAt ? duration(r.closedAt - r.openedAt) : <span class="muted">running</span>}</td>
            <td class="num">
              {r.contributed} / {r.selected}
            </td>
            <td class="num">{r.dropped}</td>
            <td class="num">{percent(r.metrics?.meanAccuracy)}</td>
            <td class="num">{fixed(r.metrics?.meanLoss)}</td>
            <td>{r.committedVersion !== null ? `v${r.baseVersion} → v${r.committedVersion}` : `v${r.baseVersion}`}</td>
          </tr>
        ))}
      />
    </Layout>
  );
};
