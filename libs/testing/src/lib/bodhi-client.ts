import { SECURE_SESSION_COOKIE_NAME, SESSION_COOKIE_NAME } from '@bodhi/services';

/** The session cookie's names: over http, and over https (`__Host-` prefixed). */
const SESSION_COOKIE_NAMES = [SESSION_COOKIE_NAME, SECURE_SESSION_COOKIE_NAME];

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** A server a client talks to: its URL, or the server itself, whose URL a restart may change. */
export type ServerTarget = string | { readonly url: string };

/**
 * One browser-like user agent of the Bodhi server: keeps the session cookie between
 * requests (as a browser does for the server's origin) and can point at another server of
 * a cluster while keeping it. Given a server rather than a URL, it follows the server to
 * wherever it listens after a restart (servers bind a port the kernel picks each time).
 */
export class BodhiClient {
  /**
   * The server's session cookie (`<name>=<signed id>`, either name), or undefined when the
   * agent holds no session.
   */
  cookie?: string;

  constructor(public target: ServerTarget) {}

  /** Where the next request goes. */
  get baseUrl(): string {
    return typeof this.target === 'string' ? this.target : this.target.url;
  }

  set baseUrl(url: string) {
    this.target = url;
  }

  /** The same agent (same cookie) talking to another server, e.g. cluster node B. */
  on(baseUrl: ServerTarget): BodhiClient {
    const other = new BodhiClient(baseUrl);
    other.cookie = this.cookie;
    return other;
  }

  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(this.cookie ? { cookie: this.cookie } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: 'manual',
    });
    for (const header of res.headers.getSetCookie()) {
      const value = header.split(';')[0];
      const [name, signed] = [
        value.slice(0, value.indexOf('=')),
        value.slice(value.indexOf('=') + 1),
      ];
      if (!SESSION_COOKIE_NAMES.includes(name)) continue;
      const cleared = signed === '' || /expires=Thu, 01 Jan 1970/i.test(header);
      this.cookie = cleared ? undefined : value;
    }
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T, headers: res.headers };
  }

  get<T = Record<string, unknown>>(path: string, headers?: Record<string, string>) {
    return this.request<T>('GET', path, undefined, headers);
  }

  post<T = Record<string, unknown>>(
    path: string,
    body: unknown = {},
    headers?: Record<string, string>,
  ) {
    return this.request<T>('POST', path, body, headers);
  }

  /** The session id inside the signed cookie (`s:<id>.<signature>`). */
  sessionId(): string | undefined {
    const raw = this.cookie && decodeURIComponent(this.cookie.slice(this.cookie.indexOf('=') + 1));
    return raw?.startsWith('s:') ? raw.slice(2, raw.lastIndexOf('.')) : undefined;
  }

  /**
   * Logs in for real: initiate at the server, the provider's login form filled with the
   * credentials, then the callback to the server with what the provider redirected with.
   * Returns the session id the agent had before logging in (to test fixation).
   */
  async login(username: string, password: string): Promise<{ preLoginSessionId?: string }> {
    const initiate = await this.post<{ location: string }>('/bodhi/v1/auth/initiate');
    if (initiate.status !== 201)
      throw new Error(`initiate answered ${initiate.status}: ${JSON.stringify(initiate.body)}`);
    const preLoginSessionId = this.sessionId();
    // Loaded on the first login: the provider's kit also carries the provider itself
    // (oidc-provider), which the many specs that import this kit but never log in should not load.
    const { loginThroughForm } = await import('@bodhi/dev-auth-server/testing');
    const redirect = await loginThroughForm({
      authorizationUrl: initiate.body.location,
      username,
      password,
    });
    const callback = await this.post(
      '/bodhi/v1/auth/callback',
      Object.fromEntries(redirect.searchParams),
    );
    if (callback.status !== 200)
      throw new Error(`callback answered ${callback.status}: ${JSON.stringify(callback.body)}`);
    return { preLoginSessionId };
  }

  logout(): Promise<ApiResponse<{ location: string }>> {
    return this.post('/bodhi/v1/logout');
  }

  user(): Promise<ApiResponse> {
    return this.get('/bodhi/v1/user');
  }
}
