/** @module A federation's members: identity, status, and how each fared across rounds. */
import type { Context } from 'hono';
import type { FC } from 'hono/jsx';
import { Badge, Hash, Table, When } from './components.tsx';
import type { PrivacySpendRow } from '../ledger/privacy.ts';
import type { FederationRow, MemberSummary } from './data.ts';
import { FederationHeader } from './federation.tsx';
import { Layout } from './layout.tsx';
import type { DashboardEnv } from './session.ts';

/** Per member and unit of privacy: the cumulative epsilon after each round it reported, from the ledger. */
const PrivacyByMember: FC<{ list: MemberSummary[]; spend: PrivacySpendRow[] }> = ({ list, spend }) => {
  const groups = new Map<string, PrivacySpendRow[]>();
  for (const r of spend) groups.set(`${r.memberId}\n${r.unit}`, [...(groups.get(`${r.memberId}\n${r.unit}`) ?? []), r]);
  const name = (id: string) => list.find((m) => m.member.id === id)?.member.name ?? id;
  const rows = [...groups.values()].map((g) => g.sort((a, b) => a.round - b.round)).sort((a, b) => name(a[0].memberId).localeCompare(name(b[0].memberId)) || a[0].unit.localeCompare(b[0].unit));
  return (
    <Table
      id="privacy-by-member"
      head={['member', 'unit', 'mechanism', ['cumulative epsilon', 'num'], ['delta', 'num'], 'cumulative epsilon after each round']}
      empty="No member has reported privacy spend in this federation (no DP-SGD, no distributed noise)."
      rows={rows.map((g) => {
        const last = g[g.length - 1];
        return (
          <tr data-member={name(last.memberId)} data-unit={last.unit}>
            <td>
              <b>{name(last.memberId)}</b>
            </td>
            <td>{last.unit === 'record' ? 'record (DP-SGD)' : 'member (distributed DP)'}</td>
            <td>{last.mechanism}</td>
            <td class="num" data-epsilon={last.cumulativeEpsilon}>{last.cumulativeEpsilon.toFixed(3)}</td>
            <td class="num">{last.delta}</td>
            <td class="small mono">
              {g.map((r, i) => (
                <>
                  {i > 0 ? ' · ' : ''}
                  <a href={`/ledger?from=${r.seq}#seq-${r.seq}`} title={`round ${r.round}: ε ${r.epsilon.toFixed(4)} this round`}>
                    r{r.round} {r.cumulativeEpsilon.toFixed(3)}
                  </a>
                </>
              ))}
            </td>
          </tr>
        );
      })}
    />
  );
};

export const MembersPage: FC<{ c: Context<DashboardEnv>; f: FederationRow; list: MemberSummary[]; spend: PrivacySpendRow[] }> = ({ c, f, list, spend }) => (
  <Layout c={c} title={`${f.name} members`} section="federations">
    <FederationHeader f={f} tab="members" />
    <p class="sub">
      {list.length} enrolled member{list.length === 1 ? '' : 's'}. Each holds its own Ed25519 identity key; its data never leaves its premises.
    </p>
    <Table
      id="members"
      head={['member', 'status', 'public key', 'enrolled', ['selected', 'num'], ['contributed', 'num'], ['evaluated', 'num'], ['dropped', 'num'], ['declined', 'num'], 'last dropout']}
      empty="No members enrolled yet. The operator invites them with `tessera invite`."
      rows={list.map(({ member: m, rounds, lastReason }) => {
        const n = (s: string) => rounds[s] ?? 0;
        const selected = Object.values(rounds).reduce((a, b) => a + b, 0);
        return (
          <tr data-member={m.name}>
            <td>
              <b>{m.name}</b>
              <div class="muted small mono" title={m.id}>
                {m.id.slice(0, 8)}
              </div>
            </td>
            <td>
              <Badge status={m.status} />
            </td>
            <td>
              <Hash value={m.publicKey} n={12} />
            </td>
            <td>
              <When t={m.enrolledAt} />
            </td>
            <td class="num">{selected}</td>
            <td class="num">{n('submitted') + n('evaluated')}</td>
            <td class="num">{n('evaluated')}</td>
            <td class="num">{n('dropped')}</td>
            <td class="num">{n('declined')}</td>
            <td>{lastReason ?? <span class="muted">—</span>}</td>
          </tr>
        );
      })}
    />
    <h2>Privacy spend</h2>
    <p class="sub">
      What each member reported it spent, as recorded in the ledger: record-level ε protects one patient or customer (DP-SGD), member-level ε the member's whole data (distributed noise under
      secure aggregation). Members keep and enforce their own budgets; these are their reports.
    </p>
    <PrivacyByMember list={list} spend={spend} />
  </Layout>
);
