/** @module The home page: every federation with its status, members and round counts. */
import type { Context } from 'hono';
import type { FC } from 'hono/jsx';
import { secureOf } from '../../core/federation.ts';
import { Badge, Table, When } from './components.tsx';
import type { FederationSummary } from './data.ts';
import { Layout } from './layout.tsx';
import type { DashboardEnv } from './session.ts';

export const FederationsPage: FC<{ c: Context<DashboardEnv>; list: FederationSummary[] }> = ({ c, list }) => (
  <Layout c={c} title="Federations" section="federations" live={list.some((s) => s.open > 0)}>
    <h1>Federations</h1>
    <p class="sub">
      {list.length} federation{list.length === 1 ? '' : 's'} on this aggregator.
      {c.var.principal?.role === 'auditor' ? ' You are signed in as an auditor: everything here is read-only.' : ''}
    </p>
    <Table
      id="federations"
      head={['federation', 'status', 'strategy', 'secure aggregation', ['members', 'num'], ['rounds done', 'num'], ['failed', 'num'], 'last round', 'created']}
      empty="No federations yet. An operator creates one with `tessera federation create`."
      rows={list.map(({ federation: f, members, committed, failed, open, lastRound }) => (
        <tr>
          <td>
            <a href={`/federations/${f.id}`}>
              <b>{f.name}</b>
            </a>
            <div class="muted small mono">{f.id}</div>
          </td>
          <td>
            <Badge status={f.status} />
          </td>
          <td>{f.config.strategy?.name ?? '—'}</td>
          <td>{secureOf(f.config).enabled ? 'on' : 'off'}</td>
          <td class="num">{members}</td>
          <td class="num">
            {committed} / {f.config.rounds}
          </td>
          <td class="num">{failed}</td>
          <td>
            {lastRound === null ? (
              <span class="muted">none yet</span>
            ) : (
              <a href={`/federations/${f.id}/rounds/${lastRound}`}>
                {open > 0 ? <span class="live" /> : null}round {lastRound}
              </a>
            )}
          </td>
          <td>
            <When t={f.createdAt} />
          </td>
        </tr>
      ))}
    />
  </Layout>
);
