// The login step of the authorization flow. oidc-provider sends the browser to
// /interaction/<uid> when it needs the user; this renders a plain username/password form,
// checks the demo users, and hands the account back to the provider, which then continues to
// the client's redirect_uri with `code` and `state`. There is no consent screen: the grant is
// filled in automatically (provider.ts, loadExistingGrant), and an explicit prompt=consent is
// answered here without asking.
import type Provider from 'oidc-provider';

import { BodyError, readForm } from './http.js';
import { escapeHtml, page } from './html.js';
import type { Context, Middleware } from './middleware.js';
import type { UserStore } from './users.js';

export const LOGIN_ERROR = 'Invalid username or password';

const INTERACTION = /^\/interaction\/([\w-]+)$/;
const LOGIN = /^\/interaction\/([\w-]+)\/login$/;

export function interactionRoutes(provider: Provider, users: UserStore): Middleware {
  return async (ctx, next) => {
    const show = INTERACTION.exec(ctx.path);
    const login = LOGIN.exec(ctx.path);
    if (!(show && ctx.method === 'GET') && !(login && ctx.method === 'POST')) return next();

    ctx.set('Cache-Control', 'no-store');
    let details;
    try {
      // Checks the interaction cookie against the uid: only the browser that started the
      // flow can continue it.
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = page(
        'Sign-in request expired',
        '<p>This sign-in request is unknown or has expired. Start again from the application.</p>',
      );
      return;
    }
    const uid = details.uid;

    if (show) {
      if (details.prompt.name === 'login') {
        renderLoginForm(ctx, uid);
        return;
      }
      // Any other prompt is consent: granted as it stands (the grant already holds what
      // was requested).
      const returnTo = await provider.interactionResult(ctx.req, ctx.res, {
        consent: { grantId: details.grantId },
      });
      ctx.redirect(returnTo);
      ctx.status = 303;
      return;
    }

    let form: URLSearchParams;
    try {
      form = await readForm(ctx.req);
    } catch (err) {
      if (!(err instanceof BodyError)) throw err;
      ctx.status = 400;
      renderLoginForm(ctx, uid, { error: 'The form could not be read. Try again.' });
      return;
    }
    const username = form.get('username')?.trim() ?? '';
    const user = users.authenticate(username, form.get('password') ?? '');
    if (!user || details.prompt.name !== 'login') {
      ctx.status = 401;
      renderLoginForm(ctx, uid, { error: LOGIN_ERROR, username });
      return;
    }

    const returnTo = await provider.interactionResult(ctx.req, ctx.res, {
      login: { accountId: user.sub },
    });
    ctx.redirect(returnTo);
    ctx.status = 303;
  };
}

function renderLoginForm(
  ctx: Context,
  uid: string,
  { error, username = '' }: { error?: string; username?: string } = {},
): void {
  ctx.type = 'html';
  ctx.body = page(
    'Sign in',
    `${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" value="${escapeHtml(username)}" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`,
  );
}
