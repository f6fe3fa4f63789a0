/**
 * The server as an attacker meets it, on both backends: a DNS-rebinding page (a request
 * naming the attacker's host) is refused before any session is made or read, and every
 * answer carries the security headers.
 */
import { BodhiClient, DEMO_ADMIN, SESSION_BACKENDS, Stack, startStack } from '@bodhi/testing';
import * as http from 'node:http';

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A GET with the Host header given: fetch cannot set one, a rebinding browser does. */
function get(url: string, headers: Record<string, string>): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

describe.each(SESSION_BACKENDS)('hardening on %s', (backend) => {
  let stack: Stack;
  let url: string;
  /** An admin, logged in: the dev routes would answer them. */
  let admin: BodhiClient;

  beforeAll(async () => {
    stack = await startStack({ backend });
    url = stack.servers[0].url;
    admin = new BodhiClient(url);
    await admin.login(DEMO_ADMIN.username, DEMO_ADMIN.password);
  });
  afterAll(() => stack?.stop());

  it.each(['/bodhi/v1/dev/sessions', '/ui/home', '/bodhi/v1/user'])(
    'a DNS-rebinding page gets 421 for GET %s, and no session is made',
    async (path) => {
      const rowsBefore = await stack.rows();
      const attempts: Record<string, string>[] = [
        { host: 'attacker.example' },
        { host: `attacker.example:${new URL(url).port}` },
        // Even with the admin's cookie (which a rebinding page never has), nothing is read.
        { host: 'attacker.example', cookie: admin.cookie ?? '' },
      ];
      for (const headers of attempts) {
        const res = await get(`${url}${path}`, headers);
        expect({ headers, status: res.status }).toEqual({ headers, status: 421 });
        expect(JSON.parse(res.body)).toMatchObject({
          error: { code: 'host_not_allowed', type: 'invalid_request_error' },
        });
        expect(res.headers['set-cookie']).toBeUndefined();
      }
      expect(await stack.rows()).toEqual(rowsBefore);
      // The same request by the server's own name is served.
      const own = await get(`${url}${path}`, { cookie: admin.cookie ?? '' });
      expect(own.status).toBe(200);
    },
  );

  it('a cookie spelled to slip past a substring search (`name =value`) is parsed, and a cross-site logout with it is refused', async () => {
    const spaced = (admin.cookie ?? '').replace('=', ' =');
    const sneaky = new BodhiClient(url);
    sneaky.cookie = spaced;
    // The server finds the cookie by parsing (express-session, the cookie package): it loads.
    expect((await sneaky.user()).body).toMatchObject({ auth_status: 'logged_in' });
    const crossSite: Record<string, string>[] = [
      { origin: 'http://evil.example' },
      { 'sec-fetch-site': 'cross-site' },
    ];
    for (const headers of crossSite) {
      const res = await sneaky.post('/bodhi/v1/logout', {}, headers);
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ error: { code: 'cross_origin_request' } });
    }
    expect((await admin.user()).body).toMatchObject({ auth_status: 'logged_in' });
  });

  it('the UI pages carry their CSP and the security headers', async () => {
    for (const path of ['/ui/login', '/ui/auth/callback', '/ui/home']) {
      const res = await fetch(`${url}${path}`);
      expect(res.status).toBe(200);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toMatch(/^default-src 'none';script-src 'sha256-[^']+';style-src 'sha256-/);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('x-powered-by')).toBeNull();
      expect(res.headers.get('strict-transport-security')).toBeNull();
    }
  });

  it('logged-in API answers are no-store, with a CSP that loads nothing', async () => {
    const me = await admin.user();
    expect(me.body).toMatchObject({ auth_status: 'logged_in', username: DEMO_ADMIN.username });
    const missing = await admin.get('/bodhi/v1/nowhere');
    expect(missing.status).toBe(404);
    for (const res of [me, missing]) {
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('content-security-policy')).toBe(
        "default-src 'none';frame-ancestors 'none'",
      );
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-powered-by')).toBeNull();
    }
  });
});
