/**
 * "Your sessions" through every layer: the real server, the real provider, both backends,
 * then a cluster of two instances on one PostgreSQL.
 */
import { sessionKey } from '@bodhi/services';
import {
  BodhiClient,
  DEMO_ADMIN,
  DEMO_USER,
  SESSION_BACKENDS,
  Stack,
  startStack,
  tokenRequest,
  untilRefreshTokenInactive,
} from '@bodhi/testing';

/** The handle the session list names an agent's session by. */
function handleOf(agent: BodhiClient): string {
  const sid = agent.sessionId();
  if (!sid) throw new Error('the agent holds no session');
  return sessionKey(sid);
}

async function loggedIn(url: string, who: { username: string; password: string }) {
  const agent = new BodhiClient(url);
  await agent.login(who.username, who.password);
  return agent;
}

const endSession = (agent: BodhiClient, handle: string, headers?: Record<string, string>) =>
  agent.request('DELETE', `/bodhi/v1/user/sessions/${handle}`, undefined, headers);

describe.each(SESSION_BACKENDS)('your sessions on %s', (backend) => {
  let stack: Stack;
  let url: string;

  beforeAll(async () => {
    stack = await startStack({ backend });
    url = stack.servers[0].url;
  });
  afterAll(() => stack?.stop());

  it('a cross-site DELETE carrying the cookie is 403 and ends nothing', async () => {
    const laptop = await loggedIn(url, DEMO_USER);
    const phone = await loggedIn(url, DEMO_USER);
    const crossSite: Record<string, string>[] = [
      { origin: 'http://evil.example' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ];
    for (const headers of crossSite) {
      for (const path of [
        `/bodhi/v1/user/sessions/${handleOf(phone)}`,
        '/bodhi/v1/user/sessions?current=false',
      ]) {
        const res = await laptop.request('DELETE', path, undefined, headers);
        expect({ headers, path, status: res.status }).toEqual({ headers, path, status: 403 });
        expect(res.body).toMatchObject({ error: { code: 'cross_origin_request' } });
      }
    }
    expect((await phone.user()).body).toMatchObject({ auth_status: 'logged_in' });
    // From the server's own origin the same request is served.
    const own = await endSession(laptop, handleOf(phone), { origin: url });
    expect(own).toMatchObject({ status: 200, body: { ended: 1 } });
  });

  it('anonymous callers get 401 on every session route', async () => {
    const anonymous = new BodhiClient(url);
    for (const [method, path] of [
      ['GET', '/bodhi/v1/user/sessions'],
      ['DELETE', '/bodhi/v1/user/sessions?current=false'],
      ['DELETE', `/bodhi/v1/user/sessions/${'a'.repeat(64)}`],
      ['GET', '/bodhi/v1/users/someone/sessions'],
      ['DELETE', '/bodhi/v1/users/someone/sessions'],
    ]) {
      const res = await anonymous.request(method, path);
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 401 });
    }
  });

  it('another user’s handle is 404, and that session goes on', async () => {
    const user = await loggedIn(url, DEMO_USER);
    const admin = await loggedIn(url, DEMO_ADMIN);
    const res = await endSession(user, handleOf(admin));
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({
      error: { code: 'session_not_found', type: 'not_found_error' },
    });
    expect((await admin.user()).body).toMatchObject({ auth_status: 'logged_in' });
    const listed = await admin.get<{ id: string; current: boolean }[]>('/bodhi/v1/user/sessions');
    expect(listed.body).toContainEqual(
      expect.objectContaining({ id: handleOf(admin), current: true }),
    );
  });

  it('serves /ui/sessions under its own hash CSP', async () => {
    const res = await fetch(`${url}/ui/sessions`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Your sessions');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/]+=*'/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('cache-control')).toBe('no-store');
  });
});

describe('ending a session in a cluster of two servers on one PostgreSQL', () => {
  let stack: Stack;
  let a: string;
  let b: string;

  beforeAll(async () => {
    stack = await startStack({ backend: 'postgres', servers: 2 });
    [a, b] = stack.servers.map((s) => s.url);
  });
  afterAll(() => stack?.stop());

  it('a session ended through A is refused by B on its very next request, and its refresh token at the provider', async () => {
    const laptopOnA = await loggedIn(a, DEMO_USER);
    const phoneOnB = await loggedIn(b, DEMO_USER);
    expect((await phoneOnB.user()).body).toMatchObject({ auth_status: 'logged_in' });
    const refreshToken = (await stack.session(phoneOnB.sessionId()))?.refresh_token;
    expect(refreshToken).toEqual(expect.any(String));

    const listed =
      await laptopOnA.get<{ id: string; current: boolean }[]>('/bodhi/v1/user/sessions');
    expect(listed.body.map((s) => [s.id, s.current])).toEqual([
      [handleOf(phoneOnB), false],
      [handleOf(laptopOnA), true],
    ]);
    expect((await endSession(laptopOnA, handleOf(phoneOnB))).body).toEqual({ ended: 1 });

    expect((await phoneOnB.user()).body).toEqual({ auth_status: 'logged_out' });
    expect((await phoneOnB.on(a).user()).body).toEqual({ auth_status: 'logged_out' });
    expect((await laptopOnA.on(b).user()).body).toMatchObject({ auth_status: 'logged_in' });
    // Revoked at the provider in the background: the ending waited for no provider.
    await untilRefreshTokenInactive(stack.client, String(refreshToken));
    const refresh = await tokenRequest(stack.client, {
      grant_type: 'refresh_token',
      refresh_token: String(refreshToken),
    });
    expect(refresh.status).toBe(400);
    expect(refresh.body).toMatchObject({ error: 'invalid_grant' });
  });

  it('"sign out all other sessions" on B ends the ones made on A', async () => {
    const onA = await loggedIn(a, DEMO_ADMIN);
    const alsoOnA = await loggedIn(a, DEMO_ADMIN);
    const onB = await loggedIn(b, DEMO_ADMIN);
    const ended = await onB.request('DELETE', '/bodhi/v1/user/sessions?current=false');
    expect(ended.body).toEqual({ ended: 2 });
    for (const agent of [onA, alsoOnA]) {
      expect((await agent.user()).body).toEqual({ auth_status: 'logged_out' });
    }
    expect((await onB.on(a).user()).body).toMatchObject({ auth_status: 'logged_in' });
  });
});
