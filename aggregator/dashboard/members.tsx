/** @module A federation's members: identity, status, and how each fared across rounds. */
import type { Context } from 'hono';
import type { FC } from 'hono/jsx';
import { Badge, Hash, Table, When } from './components.tsx';
import type { FederationRow, MemberSummary } from './data.ts';
import { FederationHeader } from './federation.tsx';
import { Layout } from './layout.tsx';
import type { DashboardEnv } from './session.ts';

export const MembersPage: FC<{ c: Context<DashboardEnv>; f: FederationRow; list: MemberSummary[] }> = ({ c, f, list }) => (
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
  </Layout>
);
