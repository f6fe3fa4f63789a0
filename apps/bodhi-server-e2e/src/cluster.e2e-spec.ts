import { BodhiClient, DEMO_ADMIN, DEMO_USER, Stack, startStack } from '@bodhi/testing';

const ACCESS_TOKEN_TTL_SECONDS = 2;

describe('a cluster of two servers on one PostgreSQL', () => {
  let stack: Stack;
  let a: string;
  let b: string;

  beforeAll(async () => {
    stack = await startStack({
      backend: 'postgres',
      servers: 2,
      accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS,
    });
    [a, b] = stack.servers.map((s) => s.url);
  });
  afterAll(() => stack?.stop());

  it('a login on A is a login on B; a logout on B is a logout on A', async () => {
    const onA = new BodhiClient(a);
    await onA.login(DEMO_USER.username, DEMO_USER.password);
    const onB = onA.on(b);
    expect((await onB.user()).body).toMatchObject({
      auth_status: 'logged_in',
      username: DEMO_USER.username,
    });
    expect((await onB.logout()).status).toBe(200);
    expect((await onA.user()).body).toEqual({ auth_status: 'logged_out' });
  });

  it('a role change on A clears the session the user has on B', async () => {
    const admin = new BodhiClient(a);
    await admin.login(DEMO_ADMIN.username, DEMO_ADMIN.password);
    const user = new BodhiClient(b);
    await user.login(DEMO_USER.username, DEMO_USER.password);
    const userId = (await user.user()).body.user_id as string;
    const change = await admin.request('PUT', `/bodhi/v1/users/${userId}/role`, {
      role: 'resource_manager',
    });
    expect(change.body).toMatchObject({ sessions_cleared: 1 });
    expect((await user.user()).body).toEqual({ auth_status: 'logged_out' });
  });

  it('refreshes exactly once across both servers under concurrency', async () => {
    const onA = new BodhiClient(a);
    await onA.login(DEMO_USER.username, DEMO_USER.password);
    const onB = onA.on(b);
    const grantsBefore = await stack.refreshGrants();
    await stack.untilAccessTokenExpired(onA.sessionId());
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? onA : onB).user()),
    );
    for (const answer of answers) expect(answer.body).toMatchObject({ auth_status: 'logged_in' });
    expect((await stack.refreshGrants()) - grantsBefore).toBe(1);
  });
});
