import { BodhiClient } from './support/bodhi-client.js';
import { DEMO_ADMIN, DEMO_USER, SESSION_BACKENDS, Stack, startStack } from './support/stack.js';

describe.each(SESSION_BACKENDS)('a crash under load on %s', (backend) => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ backend });
  });
  afterAll(() => stack?.stop());

  it('keeps every acknowledged login across SIGKILL and restart', async () => {
    const url = stack.servers[0].url;
    const browsers: BodhiClient[] = [];
    for (let i = 0; i < 8; i++) {
      const browser = new BodhiClient(url);
      const user = i % 2 ? DEMO_ADMIN : DEMO_USER;
      await browser.login(user.username, user.password); // resolved = acknowledged by the server
      browsers.push(browser);
    }
    // Load in flight when the process dies: its requests may fail, acknowledged logins may not.
    let loading = true;
    const load = Promise.all(
      browsers.map(async (b) => {
        while (loading) await b.user().catch(() => undefined);
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await stack.servers[0].restart('SIGKILL');
    loading = false;
    await load;

    for (const browser of browsers) {
      expect((await browser.user()).body).toMatchObject({ auth_status: 'logged_in' });
    }
  });
});
