/** @module The sign-in page: an operator or auditor pastes its credential; members have no dashboard. */
import type { FC } from 'hono/jsx';
import { BarePage } from './layout.tsx';

export const SignInPage: FC<{ challenge: string; error?: string }> = ({ challenge, error }) => (
  <BarePage title="Sign in">
    <div class="signin card">
      <h1>Sign in</h1>
      <p class="sub">
        Use an operator or auditor credential (<code>tsr_op_…</code> or <code>tsr_au_…</code>). The operator's is in{' '}
        <code>&lt;data-dir&gt;/operator.token</code>; auditors get theirs from the operator (<code>tessera auditor add</code>).
      </p>
      {error ? (
        <div class="notice err" role="alert">
          {error}
        </div>
      ) : null}
      <form method="post" action="/sign-in" autocomplete="off">
        <input type="hidden" name="challenge" value={challenge} />
        <label for="token">Credential</label>
        <input id="token" name="token" type="password" required autocomplete="off" spellcheck={false} />
        <button type="submit">Sign in</button>
      </form>
      <p class="muted small">The session lasts 8 hours. Your credential is checked once here and never stored in the browser.</p>
    </div>
  </BarePage>
);

/** An error page shown before or after a session (401, 403, 404). */
export const ErrorPage: FC<{ status: number; message: string; signedIn: boolean }> = ({ status, message, signedIn }) => (
  <BarePage title={`Error ${status}`}>
    <div class="card" style="max-width:40rem;margin:8vh auto">
      <h1>{status === 404 ? 'Not found' : status === 403 ? 'Not allowed' : status === 401 ? 'Signed out' : 'Something went wrong'}</h1>
      <div class="notice err" role="alert">
        {message}
      </div>
      <p>{signedIn || status !== 401 ? <a href="/">Back to the dashboard</a> : <a href="/sign-in">Sign in</a>}</p>
    </div>
  </BarePage>
);
