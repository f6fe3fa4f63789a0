import { sessionKey } from '@bodhi/services';
import {
  BodhiClient,
  DEMO_ADMIN,
  DEMO_USER,
  SESSION_BACKENDS,
  Stack,
  startStack,
} from '@bodhi/testing';

describe.each(SESSION_BACKENDS)('role change by an admin on %s', (backend) => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ backend });
  });
  afterAll(() => stack?.stop());

  it('changes the role at the provider and logs the user out everywhere', async () => {
    const url = stack.servers[0].url;
    const admin = new BodhiClient(url);
    await admin.login(DEMO_ADMIN.username, DEMO_ADMIN.password);
    expect((await admin.user()).body).toMatchObject({ role: 'resource_admin' });

    const laptop = new BodhiClient(url);
    const phone = new BodhiClient(url);
    await laptop.login(DEMO_USER.username, DEMO_USER.password);
    await phone.login(DEMO_USER.username, DEMO_USER.password);
    const userId = (await laptop.user()).body.user_id as string;

    // Only admins may change roles; bad input is a clear 400.
    expect(
      (await laptop.request('PUT', `/bodhi/v1/users/${userId}/role`, { role: 'resource_admin' }))
        .status,
    ).toBe(403);
    expect(
      (
        await new BodhiClient(url).request('PUT', `/bodhi/v1/users/${userId}/role`, {
          role: 'resource_admin',
        })
      ).status,
    ).toBe(401);
    const bad = await admin.request('PUT', `/bodhi/v1/users/${userId}/role`, { role: 'emperor' });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({
      error: { type: 'invalid_request_error', code: 'invalid_role' },
    });

    const change = await admin.request('PUT', `/bodhi/v1/users/${userId}/role`, {
      role: 'resource_power_user',
    });
    expect(change.status).toBe(200);
    expect(change.body).toEqual({
      user_id: userId,
      role: 'resource_power_user',
      sessions_cleared: 2,
    });

    expect((await laptop.user()).body).toEqual({ auth_status: 'logged_out' });
    expect((await phone.user()).body).toEqual({ auth_status: 'logged_out' });
    expect((await admin.user()).body).toMatchObject({
      auth_status: 'logged_in',
      role: 'resource_admin',
    });

    await laptop.login(DEMO_USER.username, DEMO_USER.password);
    expect((await laptop.user()).body).toMatchObject({
      auth_status: 'logged_in',
      role: 'resource_power_user',
    });
  });

  it('dev routes dump and reset the store in development, for admins only', async () => {
    const url = stack.servers[0].url;
    // The attack: anyone, logged in or not, could list and reset every session.
    const user = new BodhiClient(url);
    await user.login(DEMO_USER.username, DEMO_USER.password);
    for (const caller of [new BodhiClient(url), user]) {
      const expected = caller === user ? 403 : 401;
      expect((await caller.get('/bodhi/v1/dev/sessions')).status).toBe(expected);
      expect((await caller.post('/bodhi/v1/dev/db-reset')).status).toBe(expected);
    }
    expect((await user.user()).body).toMatchObject({ auth_status: 'logged_in' });

    const browser = new BodhiClient(url);
    await browser.login(DEMO_ADMIN.username, DEMO_ADMIN.password);
    const dump = await browser.get<{ sessions: { id: string; user_id: string | null }[] }>(
      '/bodhi/v1/dev/sessions',
    );
    // Keys, never ids: the dump hands out nothing a cookie could carry.
    expect(dump.body.sessions).toContainEqual({
      id: sessionKey(browser.sessionId() as string),
      user_id: expect.any(String),
    });
    expect(JSON.stringify(dump.body)).not.toContain(browser.sessionId());
    const reset = await browser.post('/bodhi/v1/dev/db-reset');
    expect(reset.status).toBe(200);
    expect(await stack.rows()).toEqual([]);
    expect((await browser.user()).body).toEqual({ auth_status: 'logged_out' });
    expect((await user.user()).body).toEqual({ auth_status: 'logged_out' });
  });
});
