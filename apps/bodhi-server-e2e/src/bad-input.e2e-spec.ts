import {
  BodhiClient,
  DEMO_ADMIN,
  DEMO_USER,
  SESSION_BACKENDS,
  Stack,
  startStack,
} from '@bodhi/testing';
import { loginThroughForm } from '@bodhi/dev-auth-server/testing';

describe.each(SESSION_BACKENDS)('bad input on %s', (backend) => {
  let stack: Stack;
  let url: string;
  /** A logged-in bystander whose session must survive everything below. */
  let bystander: BodhiClient;

  beforeAll(async () => {
    stack = await startStack({ backend });
    url = stack.servers[0].url;
    bystander = new BodhiClient(url);
    await bystander.login(DEMO_ADMIN.username, DEMO_ADMIN.password);
  });
  afterEach(async () => {
    expect((await bystander.user()).body).toMatchObject({
      auth_status: 'logged_in',
      username: DEMO_ADMIN.username,
    });
  });
  afterAll(() => stack?.stop());

  const withCookie = (cookie: string) => {
    const c = new BodhiClient(url);
    c.cookie = cookie;
    return c;
  };

  it.each([
    ['tampered signature', () => bystander.cookie?.replace(/.{6}$/, 'AAAAAA') ?? ''],
    ['unsigned id', () => `bodhiapp_session_id=${bystander.sessionId()}`],
    ['malformed value', () => 'bodhiapp_session_id=s%3A%%%'],
    ['empty value', () => 'bodhiapp_session_id='],
    ['8 KB value', () => `bodhiapp_session_id=s%3A${'x'.repeat(8000)}`],
  ])('a %s cookie gets an anonymous session, not an error', async (_name, cookie) => {
    const res = await withCookie(cookie()).user();
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ auth_status: 'logged_out' });
  });

  it('a callback without a login in progress is a clear 400', async () => {
    const res = await new BodhiClient(url).post('/bodhi/v1/auth/callback', {
      code: 'x',
      state: 'y',
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: {
        type: 'invalid_request_error',
        code: 'no_login_in_progress',
        message: expect.any(String),
      },
    });
  });

  it('a callback with the wrong state is refused and leaves the login in progress', async () => {
    const browser = new BodhiClient(url);
    const initiate = await browser.post<{ location: string }>('/bodhi/v1/auth/initiate');
    const redirect = await loginThroughForm({
      authorizationUrl: initiate.body.location,
      ...DEMO_USER,
    });
    const params = Object.fromEntries(redirect.searchParams);
    const wrong = await browser.post('/bodhi/v1/auth/callback', { ...params, state: 'forged' });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatchObject({ error: { code: 'state_mismatch' } });
    // An attacker's link with a state of its own cannot burn the login in progress.
    const retry = await browser.post('/bodhi/v1/auth/callback', params);
    expect(retry.status).toBe(200);
    expect((await browser.user()).body).toMatchObject({ auth_status: 'logged_in' });
  });

  it('a provider error in the callback is a clear 401', async () => {
    const browser = new BodhiClient(url);
    const initiate = await browser.post<{ location: string }>('/bodhi/v1/auth/initiate');
    const state = new URL(initiate.body.location).searchParams.get('state');
    const res = await browser.post('/bodhi/v1/auth/callback', {
      error: 'access_denied',
      error_description: 'no',
      state,
    });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({
      error: { code: 'oauth_error', type: 'authentication_error' },
    });
  });

  it('a replayed code does not log anyone in', async () => {
    const first = new BodhiClient(url);
    const initiate = await first.post<{ location: string }>('/bodhi/v1/auth/initiate');
    const redirect = await loginThroughForm({
      authorizationUrl: initiate.body.location,
      ...DEMO_USER,
    });
    const params = Object.fromEntries(redirect.searchParams);
    expect((await first.post('/bodhi/v1/auth/callback', params)).status).toBe(200);

    // An attacker replays the code (and state) within a login of their own.
    const attacker = new BodhiClient(url);
    const theirs = await attacker.post<{ location: string }>('/bodhi/v1/auth/initiate');
    expect(theirs.status).toBe(201);
    const replay = await attacker.post('/bodhi/v1/auth/callback', params);
    expect(replay.status).toBe(400);
    const replayWithTheirState = await attacker.post('/bodhi/v1/auth/callback', {
      ...params,
      state: new URL(theirs.body.location).searchParams.get('state'),
    });
    expect([400, 401]).toContain(replayWithTheirState.status);
    expect((await attacker.user()).body).toEqual({ auth_status: 'logged_out' });
    expect((await first.user()).body).toMatchObject({ auth_status: 'logged_in' });
  });

  it('refuses a cross-origin state-changing request that carries the session cookie', async () => {
    const res = await bystander.post('/bodhi/v1/logout', {}, { 'sec-fetch-site': 'cross-site' });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({
      error: { code: 'cross_origin_request', type: 'forbidden_error' },
    });
    const evil = await bystander.post('/bodhi/v1/logout', {}, { origin: 'http://evil.example' });
    expect(evil.status).toBe(403);
  });

  it.each([
    // What a cross-site page's auto-submitted <form enctype="text/plain"> sends: the browser
    // keeps the SameSite=Strict cookie back, and says the request is cross-site.
    ['a cross-site form', { 'sec-fetch-site': 'cross-site' }],
    // A browser without fetch metadata says it in Origin.
    ['a foreign Origin', { origin: 'http://evil.example' }],
  ])(
    'refuses %s with no cookie before any session is made: no login started, no store reset',
    async (_name, headers) => {
      const rowsBefore = await stack.rows();
      for (const path of ['/bodhi/v1/auth/initiate', '/bodhi/v1/dev/db-reset']) {
        const res = await fetch(`${url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'text/plain', ...headers },
          body: 'x=1',
        });
        expect({ path, status: res.status }).toEqual({ path, status: 403 });
        expect(res.headers.getSetCookie()).toEqual([]);
      }
      expect(await stack.rows()).toEqual(rowsBefore);
    },
  );

  it('a bearer token that is not ours is a 401 in the one error shape', async () => {
    const res = await new BodhiClient(url).get('/bodhi/v1/user', {
      authorization: 'Bearer not.a.jwt',
    });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({
      error: { code: 'invalid_token', type: 'authentication_error' },
    });
  });

  it('unknown routes answer 404 in the one error shape', async () => {
    const res = await new BodhiClient(url).get('/bodhi/v1/nope');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: { type: 'not_found_error' } });
  });

  it.each([
    [
      'a role change for a 5,000-character user id',
      'PUT',
      `/bodhi/v1/users/${'u'.repeat(5000)}/role`,
    ],
    ['a 404 for a 5,000-character path', 'POST', `/bodhi/v1/${'p'.repeat(5000)}`],
  ])('an error answer quotes bounded input only: %s', async (_name, method, path) => {
    // The bystander is the admin: the role change reaches the provider, which knows no such user.
    const res = await bystander.request<{ error: { message: string } }>(method, path, {
      role: 'resource_user',
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.body.error.message.length).toBeLessThanOrEqual(301);
    expect(JSON.stringify(res.body)).not.toContain('u'.repeat(400));
    expect(JSON.stringify(res.body)).not.toContain('p'.repeat(400));
  });
});
