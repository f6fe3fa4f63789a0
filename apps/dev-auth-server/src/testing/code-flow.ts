// Browserless login for tests: drives an authorization request through the provider's login
// form with plain fetch and a cookie jar, the way a browser would, and stops at the client's
// redirect_uri without calling it - the test then hands `code` and `state` to whatever client
// it is testing (the BodhiApp server's callback, or a token request of its own).
//
// Only the provider's pages are fetched; the final redirect URL is returned, not followed.
import { createHash, randomBytes } from 'node:crypto';

/**
 * A minimal cookie jar for one user agent: remembers Set-Cookie per host and path, forgets
 * cookies that are expired or cleared, and sends the matching ones back. Enough for the
 * provider's session and interaction cookies; not a general-purpose implementation.
 */
export class CookieJar {
  readonly #cookies = new Map<
    string,
    { host: string; path: string; name: string; value: string }
  >();

  /** Records the Set-Cookie headers of `response`, received for `url`. */
  store(url: URL, response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = '/';
      let expired = value === '';
      for (const attribute of attributes) {
        const [key, val = ''] = attribute.split('=').map((s) => s.trim());
        const lower = key.toLowerCase();
        if (lower === 'path' && val.startsWith('/')) path = val;
        if (lower === 'max-age' && Number(val) <= 0) expired = true;
        if (lower === 'expires' && Date.parse(val) <= Date.now()) expired = true;
      }
      const key = `${url.host} ${path} ${name}`;
      if (expired) this.#cookies.delete(key);
      else this.#cookies.set(key, { host: url.host, path, name, value });
    }
  }

  /** The Cookie header value for a request to `url`, or undefined when nothing matches. */
  headerFor(url: URL): string | undefined {
    const matching = [...this.#cookies.values()].filter(
      (c) =>
        c.host === url.host &&
        (url.pathname === c.path ||
          url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)),
    );
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }
}

/** A PKCE S256 pair: send `codeChallenge` in the authorization request, `codeVerifier` with
 * the code at the token endpoint. */
export function createPkcePair(): { codeVerifier: string; codeChallenge: string } {
  const codeVerifier = randomBytes(32).toString('base64url');
  const codeChallenge = createHash('sha256').update(codeVerifier).digest('base64url');
  return { codeVerifier, codeChallenge };
}

/** An authorization-code request URL for the provider at `issuer` (its /auth endpoint). */
export function buildAuthorizationUrl(options: {
  issuer: string;
  clientId: string;
  redirectUri: string;
  state: string;
  /** Omit to send no PKCE parameters (the provider rejects such requests). */
  codeChallenge?: string;
  scope?: string;
  extraParams?: Record<string, string>;
}): URL {
  const url = new URL('/auth', options.issuer);
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: options.clientId,
    redirect_uri: options.redirectUri,
    scope: options.scope ?? 'openid profile email',
    state: options.state,
    ...(options.codeChallenge
      ? { code_challenge: options.codeChallenge, code_challenge_method: 'S256' }
      : {}),
    ...options.extraParams,
  };
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url;
}

export class LoginFailedError extends Error {
  override readonly name = 'LoginFailedError';
}

export interface LoginThroughFormOptions {
  /** The authorization request URL, as a client built it (e.g. the BodhiApp server's
   * login redirect). */
  authorizationUrl: string | URL;
  username: string;
  password: string;
  /** Where the flow ends; defaults to the `redirect_uri` parameter of authorizationUrl. */
  redirectUri?: string;
  /** Reuse a jar to keep the provider session between calls (a second login then skips the
   * form, as single sign-on does). A fresh jar by default. */
  jar?: CookieJar;
}

/**
 * Follows the authorization request through the provider, submits the login form with the
 * given credentials, and returns the URL the provider finally redirects to - the client's
 * redirect_uri with `code` and `state` (or with `error` if the provider refused the request).
 * Throws LoginFailedError when the credentials are rejected, and a plain Error for any other
 * unexpected page.
 */
export async function loginThroughForm(options: LoginThroughFormOptions): Promise<URL> {
  const jar = options.jar ?? new CookieJar();
  let url = new URL(options.authorizationUrl);
  const redirectUri = options.redirectUri ?? url.searchParams.get('redirect_uri');
  if (!redirectUri) throw new Error('loginThroughForm: no redirect_uri to stop at');
  const target = new URL(redirectUri);
  const isTarget = (u: URL) => u.origin === target.origin && u.pathname === target.pathname;

  let init: RequestInit = { method: 'GET' };
  let submitted = false;
  for (let step = 0; step < 20; step += 1) {
    const cookie = jar.headerFor(url);
    const response = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) },
    });
    jar.store(url, response);

    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      const next = new URL(location, url);
      if (isTarget(next)) return next;
      url = next;
      init = { method: 'GET' };
      continue;
    }

    const html = await response.text();
    const action = /<form[^>]*\saction="([^"]*\/login)"/i.exec(html)?.[1];
    if (!action) {
      throw new Error(
        `loginThroughForm: unexpected ${response.status} response at ${url.pathname}: ${strip(html)}`,
      );
    }
    if (submitted) {
      const message = /role="alert">([^<]*)</.exec(html)?.[1] ?? `status ${response.status}`;
      throw new LoginFailedError(`login as ${options.username} failed: ${unescape(message)}`);
    }
    submitted = true;
    url = new URL(unescape(action), url);
    init = {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        username: options.username,
        password: options.password,
      }).toString(),
    };
  }
  throw new Error('loginThroughForm: too many redirects');
}

function unescape(text: string): string {
  return text.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
}

function strip(html: string): string {
  return unescape(html.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/<[^>]+>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}
