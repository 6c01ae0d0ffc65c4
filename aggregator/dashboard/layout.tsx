/** @module The dashboard's page frame: inline CSS, the top bar with navigation and sign-out. */
import type { Child, FC } from 'hono/jsx';
import type { Context } from 'hono';
import type { DashboardEnv } from './session.ts';

const CSS = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;background:#f4f6f8}
a{color:#1d4ed8;text-decoration:none}a:hover{text-decoration:underline}
header.top{background:#0f172a;color:#e2e8f0;display:flex;align-items:center;gap:1.5rem;padding:.6rem 1.5rem}
header.top .brand{font-weight:650;font-size:1.05rem;color:#fff;letter-spacing:.02em}
header.top nav a{color:#cbd5e1;margin-right:1rem}header.top nav a.on{color:#fff;font-weight:600}
header.top .who{margin-left:auto;display:flex;align-items:center;gap:.75rem;font-size:13px;color:#94a3b8}
header.top .who form{margin:0}
main{max-width:76rem;margin:0 auto;padding:1.25rem 1.5rem 3rem}
h1{font-size:1.45rem;margin:.2rem 0 .2rem;font-weight:650}h2{font-size:1.1rem;margin:1.6rem 0 .6rem;font-weight:620}
.sub{color:#52606d;margin:0 0 1rem}
.crumbs{font-size:13px;color:#616e7c;margin-bottom:.3rem}
.card{background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:1rem 1.1rem;margin:.8rem 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(22rem,1fr));gap:1rem}
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.6rem 1.2rem;margin:0}
.facts dt{font-size:12px;color:#616e7c;text-transform:uppercase;letter-spacing:.04em}.facts dd{margin:0;font-weight:550}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13.5px}
th,td{padding:.45rem .6rem;text-align:left;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{background:#f0f3f6;font-weight:600;color:#3e4c59;font-size:12.5px;text-transform:uppercase;letter-spacing:.03em}
tr.bad td{background:#fdecea}tr:hover td{background:#f8fafc}tr.bad:hover td{background:#fbdcd8}
.table{border:1px solid #dde3ea;border-radius:8px;overflow:hidden;overflow-x:auto}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}.mono{white-space:nowrap}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:999px;font-size:12px;font-weight:600;background:#e4e7eb;color:#3e4c59}
.b-open,.b-running{background:#dbeafe;color:#1e40af}.b-committed,.b-evaluated,.b-completed,.b-active{background:#dcfce7;color:#166534}
.b-failed,.b-revoked{background:#fee2e2;color:#991b1b}.b-dropped{background:#fef3c7;color:#92400e}.b-submitted{background:#ccfbf1;color:#115e59}
.b-declined{background:#ede9fe;color:#5b21b6}
.notice{padding:.7rem .9rem;border-radius:8px;margin:.8rem 0;border:1px solid}
.ok{background:#ecfdf3;border-color:#86d3a0;color:#14532d}.err{background:#fef2f2;border-color:#f0a3a3;color:#7f1d1d}.info{background:#eff6ff;border-color:#a9c7f5;color:#1e3a8a}
button,.button{font:inherit;font-size:13.5px;border-radius:6px;padding:.4rem .9rem;border:1px solid #1d4ed8;background:#1d4ed8;color:#fff;cursor:pointer;display:inline-block}
button.quiet{background:transparent;border-color:#475569;color:#e2e8f0;padding:.2rem .7rem}
.button.light,button.light{background:#fff;color:#1d4ed8}
form.inline{display:inline-flex;gap:.5rem;align-items:center;margin:0}
input,select{font:inherit;padding:.38rem .5rem;border:1px solid #b8c2cc;border-radius:6px}
.muted{color:#7b8794}.small{font-size:12.5px}.right{float:right}
.live{display:inline-block;width:.55rem;height:.55rem;border-radius:50%;background:#2563eb;margin-right:.35rem;animation:p 1.6s infinite}
@keyframes p{50%{opacity:.3}}
.stages{display:flex;gap:0;margin:.4rem 0 1rem;flex-wrap:wrap}
.stage{flex:1;min-width:9rem;padding:.55rem .75rem;border:1px solid #cbd2d9;border-right:none;background:#fff;position:relative}
.stage:first-child{border-radius:8px 0 0 8px}.stage:last-child{border-right:1px solid #cbd2d9;border-radius:0 8px 8px 0}
.stage b{display:block;font-size:13px}.stage span{font-size:12px;color:#616e7c}
.stage.done{background:#f0fdf4;border-top:3px solid #16a34a}.stage.now{background:#eff6ff;border-top:3px solid #2563eb}
.stage.failed{background:#fef2f2;border-top:3px solid #dc2626}.stage.pending{border-top:3px solid #cbd2d9}
.tabs{display:flex;gap:.2rem;border-bottom:1px solid #cbd2d9;margin:.8rem 0 1rem}
.tabs a{padding:.45rem .9rem;color:#52606d;border-bottom:2px solid transparent}.tabs a.on{color:#1f2933;border-color:#1d4ed8;font-weight:600}
.pager{display:flex;gap:.75rem;align-items:center;margin:.6rem 0}
details summary{cursor:pointer;color:#52606d}
pre{white-space:pre-wrap;word-break:break-all;margin:.3rem 0 0;background:#f6f8fa;padding:.5rem;border-radius:6px}
.signin{max-width:26rem;margin:9vh auto}.signin label{display:block;font-weight:600;margin:.8rem 0 .3rem}.signin input{width:100%}
.signin button{margin-top:1rem;width:100%;padding:.55rem}
svg text{font-family:system-ui,sans-serif}
`;

export interface LayoutProps {
  c: Context<DashboardEnv>;
  title: string;
  /** Which top-level section is current. */
  section?: 'federations' | 'ledger';
  /** Re-load every 2 s (a round is running). */
  live?: boolean;
  children?: Child;
}

/** The page frame of every signed-in page. */
export const Layout: FC<LayoutProps> = ({ c, title, section, live, children }) => {
  const p = c.var.principal;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {live ? <meta http-equiv="refresh" content="2" /> : null}
        <title>{`${title} · Tessera`}</title>
        <style dangerouslySetInnerHTML={{ __html: CSS }} />
      </head>
      <body>
        <header class="top">
          <span class="brand">Tessera</span>
          <nav>
            <a href="/" class={section === 'federations' ? 'on' : ''}>Federations</a>
            <a href="/ledger" class={section === 'ledger' ? 'on' : ''}>Audit ledger</a>
          </nav>
          {p && p.role !== 'member' ? (
            <div class="who">
              <span>
                {p.label} · <b data-role={p.role}>{p.role === 'auditor' ? 'auditor (read-only)' : 'operator'}</b>
              </span>
              <form method="post" action="/sign-out">
                <input type="hidden" name="csrf" value={c.var.csrf} />
                <button class="quiet" type="submit">Sign out</button>
              </form>
            </div>
          ) : null}
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
};

/** A bare page (sign-in, errors before a session exists). */
export const BarePage: FC<{ title: string; children?: Child }> = ({ title, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{`${title} · Tessera`}</title>
      <style dangerouslySetInnerHTML={{ __html: CSS }} />
    </head>
    <body>
      <header class="top">
        <span class="brand">Tessera</span>
      </header>
      <main>{children}</main>
    </body>
  </html>
);
