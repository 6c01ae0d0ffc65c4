/** @module Small dashboard pieces: status badges, hashes, times, and the HTML response with its headers. */
import type { Context } from 'hono';
import type { Child, FC } from 'hono/jsx';

/** Headers on every dashboard response: no scripts at all, no framing, no caching of pages. */
export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** Renders a page (JSX) as a complete HTML document. */
export async function page(c: Context, node: Child, status = 200): Promise<Response> {
  const html = '<!doctype html>' + (await Promise.resolve(node as unknown as string | Promise<string>)).toString();
  return c.html(html, status as 200, SECURITY_HEADERS);
}

export const Badge: FC<{ status: string | null | undefined }> = ({ status }) => <span class={`badge b-${status ?? 'none'}`}>{status ?? '—'}</span>;

/** A hash shortened to 12 hex digits, the whole of it on hover. */
export const Hash: FC<{ value: string | null | undefined; n?: number }> = ({ value, n }) =>
  value ? (
    <code title={value}>
      {value.slice(0, n ?? 12)}…
    </code>
  ) : (
    <span class="muted">—</span>
  );

/** UTC date and time to the second (servers and auditors in different zones read the same). */
export function isoTime(t: number | null | undefined): string {
  return t === null || t === undefined ? '—' : new Date(t).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');
}

export const When: FC<{ t: number | null | undefined }> = ({ t }) => <span class="mono small">{isoTime(t)}</span>;

/** "1.2 s", "3 min 4 s", "2 h 5 min". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 100) / 10);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export const fixed = (v: number | null | undefined, digits = 3): string => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));

export const percent = (v: number | null | undefined): string => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);

/** A table in a bordered box, or a muted line when there are no rows. */
export const Table: FC<{ head: (string | [string, 'num'])[]; empty: string; rows: Child[]; id?: string }> = ({ head, empty, rows, id }) =>
  rows.length === 0 ? (
    <p class="muted">{empty}</p>
  ) : (
    <div class="table">
      <table id={id}>
        <thead>
          <tr>{head.map((h) => (Array.isArray(h) ? <th class="num">{h[0]}</th> : <th>{h}</th>))}</tr>
        </thead>
        <tbody>{rows}</tbody>
      </table>
    </div>
  );
