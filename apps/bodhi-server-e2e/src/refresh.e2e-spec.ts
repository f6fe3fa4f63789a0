import { sessionKey } from '@bodhi/services';
import { BodhiClient, DEMO_USER, SESSION_BACKENDS, Stack, startStack } from '@bodhi/testing';

const ACCESS_TOKEN_TTL_SECONDS = 2;

describe.each(SESSION_BACKENDS)('token refresh on %s', (backend) => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ backend, accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS });
  });
  afterAll(() => stack?.stop());

  const tokensOf = async (sid: string | undefined) => {
    const data = (await stack.session(sid)) ?? {};
    return { access: data.access_token as string, refresh: data.refresh_token as string };
  };

  it('refreshes an expired access token once for 20 concurrent requests and rotates the tokens', async () => {
    const browser = new BodhiClient(stack.servers[0].url);
    await browser.login(DEMO_USER.username, DEMO_USER.password);
    const before = await tokensOf(browser.sessionId());
    const grantsBefore = await stack.refreshGrants();
    await stack.untilAccessTokenExpired(browser.sessionId());

    const answers = await Promise.all(Array.from({ length: 20 }, () => browser.user()));
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ auth_status: 'logged_in', username: DEMO_USER.username });
    }
    expect((await stack.refreshGrants()) - grantsBefore).toBe(1);
    const after = await tokensOf(browser.sessionId());
    expect(after.access).not.toBe(before.access);
    expect(after.refresh).not.toBe(before.refresh);

    // The new token serves the next requests without another refresh.
    expect((await browser.user()).body).toMatchObject({ auth_status: 'logged_in' });
    expect((await stack.refreshGrants()) - grantsBefore).toBe(1);
  });

  it('a failed refresh ends the login with a 401 and removes the auth keys', async () => {
    const browser = new BodhiClient(stack.servers[0].url);
    await browser.login(DEMO_USER.username, DEMO_USER.password);
    const sid = browser.sessionId();
    // Break the refresh token behind the server's back, as a revoked grant would (a plain
    // row, as an earlier release wrote them, still loads).
    const data = { ...(await stack.session(sid)), refresh_token: 'revoked' };
    await stack.db.query(`UPDATE ${stack.db.qualifiedTable} SET data = $1 WHERE id = $2`, [
      JSON.stringify(data),
      sessionKey(sid as string),
    ]);
    await stack.untilAccessTokenExpired(sid);

    const res = await browser.user();
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({
      error: { code: 'token_refresh_failed', type: 'authentication_error' },
    });
    const left = await stack.session(sid);
    expect(left).not.toHaveProperty('access_token');
    expect(left).not.toHaveProperty('refresh_token');
    expect(left).not.toHaveProperty('user_id');
    expect((await browser.user()).body).toEqual({ auth_status: 'logged_out' });
  });
});
