/**
 * @module The ledger browser: entries a page at a time, the verify button (a POST form; verifying
 * changes nothing) with its result and the first bad entry, and the evidence pack download form.
 */
import type { Context } from 'hono';
import type { FC } from 'hono/jsx';
import type { LedgerEntry } from '../ledger/entry.ts';
import type { VerifyResult } from '../ledger/verify.ts';
import { Hash, Table, When } from './components.tsx';
import { describePayload } from './data.ts';
import { Layout } from './layout.tsx';
import type { DashboardEnv } from './session.ts';

export const PAGE_SIZE = 50;

export interface LedgerView {
  entries: LedgerEntry[];
  from: number;
  head: { seq: number; hash: string };
  publicKey: string;
  federations: { id: string; name: string }[];
  /** Member names by id, to describe entries. */
  names: Map<string, string>;
  verification?: VerifyResult & { head: { seq: number; hash: string } };
}

const Verdict: FC<{ v: NonNullable<LedgerView['verification']>; publicKey: string }> = ({ v, publicKey }) =>
  v.ok ? (
    <div class="notice ok" id="verify-result" data-ok="true" role="status">
      <b>Ledger verified.</b> {v.entries} entries: every hash recomputed, every signature checked against the ledger key, no gap, insertion or reordering, model
      lineage intact. Head: seq {v.head.seq}, hash <code>{v.head.hash}</code>.
      <div class="small">Public key (Ed25519): <code>{publicKey}</code></div>
    </div>
  ) : (
    <div class="notice err" id="verify-result" data-ok="false" role="alert">
      <b>Verification FAILED at entry {v.problem!.seq}</b> ({v.problem!.kind}): {v.problem!.message}.
      <div>
        Entries 1..{v.verifiedThrough.seq} verified; the first bad entry is <a href={`/ledger?from=${Math.max(1, v.problem!.seq - 5)}#seq-${v.problem!.seq}`}>seq {v.problem!.seq}</a> (highlighted below
        when present). Nothing after it can be trusted: export the ledger and ask the operator to explain.
      </div>
    </div>
  );

export const LedgerPage: FC<{ c: Context<DashboardEnv>; view: LedgerView }> = ({ c, view }) => {
  const { entries, from, head, verification: v } = view;
  const bad = v && !v.ok ? v.problem!.seq : null;
  const last = entries[entries.length - 1]?.seq ?? from - 1;
  const latest = Math.max(1, head.seq - PAGE_SIZE + 1);
  return (
    <Layout c={c} title="Audit ledger" section="ledger">
      <h1>Audit ledger</h1>
      <p class="sub">
        Append-only, hash-chained and signed: {head.seq} entries, head <Hash value={head.hash} n={16} />. Each entry's hash covers the one before it, so any edit,
        deletion, insertion or reordering breaks the chain at that entry.
      </p>
      <div class="card" style="display:flex;gap:2rem;flex-wrap:wrap;align-items:flex-end">
        <form method="post" action={`/ledger/verify?from=${from}`} class="inline" id="verify-form">
          <input type="hidden" name="csrf" value={c.var.csrf} />
          <button type="submit">Verify the chain</button>
          <span class="small muted">recomputes every hash and signature (changes nothing)</span>
        </form>
        <form method="get" action="/report" class="inline" id="report-form">
          <select name="federation" aria-label="federation">
            {view.federations.map((f) => (
              <option value={f.id}>{f.name}</option>
            ))}
          </select>
          <input name="round" type="number" min="1" placeholder="round" style="width:6rem" aria-label="round" />
          <span class="small muted">or since</span>
          <input name="since" type="date" aria-label="since" />
          <select name="format" aria-label="format">
            <option value="html">HTML</option>
            <option value="json">JSON</option>
          </select>
          <button type="submit" class="light">Download evidence pack</button>
        </form>
      </div>
      {v ? <Verdict v={v} publicKey={view.publicKey} /> : null}
      <div class="pager">
        <a href="/ledger?from=1">« first</a>
        {from > 1 ? <a href={`/ledger?from=${Math.max(1, from - PAGE_SIZE)}`}>‹ previous</a> : <span class="muted">‹ previous</span>}
        <span>
          entries {entries.length ? `${from}–${last}` : 'none'} of {head.seq}
        </span>
        {last < head.seq ? <a href={`/ledger?from=${last + 1}`}>next ›</a> : <span class="muted">next ›</span>}
        <a href={`/ledger?from=${latest}`}>latest »</a>
      </div>
      <Table
        id="ledger"
        head={[['seq', 'num'], 'time', 'kind', 'actor', 'what', 'hash', 'payload']}
        empty="No entries on this page."
        rows={entries.map((e) => (
          <tr id={`seq-${e.seq}`} class={e.seq === bad ? 'bad' : ''} data-seq={e.seq}>
            <td class="num">{e.seq}</td>
            <td>
              <When t={e.time} />
            </td>
            <td>
              <code>{e.kind}</code>
            </td>
            <td class="mono small">{e.actor.length > 24 ? `${e.actor.slice(0, 22)}…` : e.actor}</td>
            <td>{describePayload(e, view.names)}</td>
            <td>
              <Hash value={e.hash} />
            </td>
            <td>
              <details>
                <summary>JSON</summary>
                <pre>{JSON.stringify(e.payload, null, 1)}</pre>
              </details>
            </td>
          </tr>
        ))}
      />
    </Layout>
  );
};
